"""An ASGI middleware that refuses HTTP request bodies over a byte limit, before they are buffered.

Gradio limits multipart uploads (`max_file_size`) but not JSON bodies, where an API client can send an image as a
base64 `data:` URL of any size. `BodySizeLimit` answers 413 to a request whose Content-Length is over the limit, and
stops reading a body sent without one (chunked) once it passes the limit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pix2nerf.limits import Limits
from pix2nerf.limits import current as current_limits

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]
BODY_OVERHEAD = 2**20  # bytes of a request besides the image: JSON fields, multipart headers


def max_request_bytes(limits: Limits | None = None) -> int:
    """The largest request body that can carry an image of the image_bytes limit (as base64 in JSON, or multipart)."""
    return -(-(limits or current_limits()).image_bytes * 4 // 3) + BODY_OVERHEAD


class RequestTooLarge(Exception):
    """Raised inside `receive` when a body without Content-Length passes the limit."""


class BodySizeLimit:
    """ASGI middleware: HTTP request bodies of at most `max_bytes` (default: `max_request_bytes()`)."""

    def __init__(self, app: ASGIApp, max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_request_bytes() if max_bytes is None else max_bytes

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except RequestTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Callable) -> None:
        body = json.dumps(
            {"error": f"the request is larger than {self.max_bytes / 2**20:.1f} MiB (raise PIX2NERF_LIMIT_IMAGE_BYTES)"}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
