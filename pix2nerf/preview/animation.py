"""Turntables: frames around one latent (baked, or rendered by the model at full quality) and animated files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pix2nerf.extras import require
from pix2nerf.images import tensor_to_pil
from pix2nerf.limits import check_degrees, check_float, check_int, shorten
from pix2nerf.limits import current as current_limits
from pix2nerf.model import Pix2NeRF
from pix2nerf.outputs import Latent
from pix2nerf.preview.baked_field import BakedField, bake

DEFAULT_ORBIT_PITCH = 20.0  # degrees, when neither the caller nor the latent gives one

# progress(done, total) is called as frames finish (batched full-quality renders report their share of the work)
ProgressFn = Callable[[int, int], None]


def orbit_poses(
    num_frames: int = 36, pitch: float = DEFAULT_ORBIT_PITCH, start_yaw: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Yaws (num_frames,) evenly around 360 degrees from `start_yaw`, and the constant pitch, in degrees."""
    num_frames = check_int("num_frames", num_frames, 1, current_limits().frames)
    pitch, start_yaw = check_degrees("pitch", pitch), check_degrees("start_yaw", start_yaw)
    yaws = start_yaw + torch.arange(int(num_frames), dtype=torch.float32) * (360.0 / int(num_frames))
    return yaws, torch.full_like(yaws, float(pitch))


def render_orbit(
    source: BakedField | Pix2NeRF,
    latent: Latent | torch.Tensor | None = None,
    *,
    num_frames: int = 36,
    pitch: float | None = None,
    start_yaw: float = 0.0,
    resolution: int = 128,
    full_quality: bool = False,
    progress: ProgressFn | None = None,
    zoom: float = 1.0,
) -> list:
    """Turntable frames (PIL images) of a baked field, or of a model and a latent (baked first, or rendered by
    the model itself when `full_quality`, all frames in one batched call). pitch None: the latent's estimated pitch,
    else DEFAULT_ORBIT_PITCH. zoom: magnification, as in `Pix2NeRF.render`."""
    limits = current_limits()
    check_int("num_frames", num_frames, 1, limits.frames)
    check_int("resolution", resolution, 2, limits.resolution)
    if isinstance(source, Pix2NeRF):
        if latent is None:
            raise ValueError("render_orbit needs a latent (or z) to go with a model")
        renderer = source if full_quality else bake(source, latent)
    elif isinstance(source, BakedField):
        renderer, latent = source, source.latent if latent is None else latent
    else:
        raise ValueError(f"render_orbit takes a BakedField or a Pix2NeRF model, got {type(source).__name__}")
    if pitch is None:
        pitch = float(latent.pitch.reshape(-1)[0]) if isinstance(latent, Latent) else DEFAULT_ORBIT_PITCH
    yaws, pitches = orbit_poses(num_frames, pitch, start_yaw)
    if isinstance(renderer, Pix2NeRF):
        views = latent.first(len(yaws)) if isinstance(latent, Latent) else latent[:1].expand(len(yaws), -1)
        report = None if progress is None else (lambda fraction: progress(int(fraction * len(yaws)), len(yaws)))
        out = renderer.render(
            views, yaws, pitches, resolution=resolution, return_depth=False, zoom=zoom, progress=report
        )
        return [tensor_to_pil(rgb) for rgb in out.rgb]
    frames = []
    for done, (yaw, frame_pitch) in enumerate(zip(yaws.tolist(), pitches.tolist()), 1):
        frames.append(tensor_to_pil(renderer.render(yaw, frame_pitch, resolution=resolution, zoom=zoom).rgb[0]))
        if progress is not None:
            progress(done, len(yaws))
    return frames


ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP", ".mp4": "MP4"}
MP4_QUALITY = 18  # x264's constant rate factor: 0 lossless, 51 worst; 18 looks lossless on these renders


def animation_format(path: str | Path) -> str:
    """The format ("GIF", "WEBP" or "MP4") of an animation file by its suffix; ValueError for others."""
    name = Path(path).name
    image_format = ANIMATION_FORMATS.get(Path(path).suffix.lower())
    if image_format is None:
        raise ValueError(
            f"cannot write an animation to {shorten(name, from_end=True)}: use one of {', '.join(ANIMATION_FORMATS)}"
        )
    return image_format


def save_animation(frames: Sequence[Any], path: str | Path, fps: float = 12.0) -> Path:
    """Write PIL frames as a looping animated GIF or WebP (lossless), or an H.264 MP4 (yuv420p; odd sizes padded
    to even by repeating the last row or column), by the path's suffix. The same frames give the same bytes."""
    path = Path(path)
    image_format = animation_format(path)
    if not frames:
        raise ValueError("save_animation needs at least one frame")
    check_float("fps", fps, 0.0, current_limits().fps, open_low=True)
    check_int("the number of frames", len(frames), 1, current_limits().frames)
    rgb = [frame.convert("RGB") for frame in frames]
    if image_format == "MP4":
        return _save_mp4(rgb, path, fps)
    first, *rest = rgb
    options: dict[str, Any] = {"lossless": True, "method": 4} if image_format == "WEBP" else {"optimize": False}
    first.save(
        path, format=image_format, save_all=True, append_images=rest, duration=round(1000 / fps), loop=0, **options
    )
    return path


def _save_mp4(frames: list[Image.Image], path: Path, fps: float) -> Path:
    """H.264 in MP4 through PyAV (its wheels bundle FFmpeg with libx264), one thread for identical bytes."""
    av = require("av", "MP4 video")
    width, height = frames[0].size
    if any(frame.size != (width, height) for frame in frames):
        raise ValueError(f"every frame of a video must be {width}x{height} px like the first")
    even = np.zeros((height + height % 2, width + width % 2, 3), np.uint8)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001) or Fraction(1, 1001))
        stream.width, stream.height, stream.pix_fmt = even.shape[1], even.shape[0], "yuv420p"
        stream.options = {"crf": str(MP4_QUALITY)}
        stream.codec_context.thread_count = 1
        for frame in frames:
            even[:height, :width] = np.asarray(frame)
            even[height:, :width] = even[height - 1 : height, :width]  # an odd size's extra row and column
            even[:, width:] = even[:, width - 1 : width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(even, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
