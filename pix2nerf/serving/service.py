"""Serving a model to many clients (the Gradio app and its API), without Gradio.

Data flow: upload (path, bytes, PIL or array) -> content key (sha256 of the file bytes or pixels, plus the
preprocessing and refinement settings) -> bounded LRU cache of `CachedImage` (validated image -> encoder input ->
Latent, refined by `Pix2NeRF.invert` when asked -> `preview.BakedField`, and its mesh once asked for) -> novel views
(PIL, interactive from the baked grid or full quality with the model's own sampler) with a colour-mapped depth map,
orbit animations (WebP, GIF or MP4 files) and meshes (GLB, OBJ or PLY files).

Angles are degrees (yaw 0 / pitch 0 = front view, positive pitch looks from above).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import os
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pix2nerf import images as image_utils
from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.foreground import prepare_image
from pix2nerf.images import check_image_bytes
from pix2nerf.inversion import InversionSettings, best_yaw, refine
from pix2nerf.limits import (
    PITCH_BOUND,
    Limits,
    check_angle,
    check_choice,
    check_float,
    check_int,
    shorten,
)
from pix2nerf.limits import current as current_limits
from pix2nerf.model import DEFAULT_MODEL, DEFAULT_MODEL_DIR, Pix2NeRF
from pix2nerf.outputs import Latent, RenderOutput
from pix2nerf.preview.animation import ANIMATION_FORMATS, ProgressFn, render_orbit, save_animation
from pix2nerf.preview.baked_field import bake
from pix2nerf.preview.mesh import Mesh, mesh_from_baked
from pix2nerf.preview.mesh_formats import MESH_FORMATS
from pix2nerf.rendering.cameras import prior_ranges, wrap_degrees

QUALITIES = ("interactive", "full")  # the baked grid; the model's own hierarchical sampler
DEFAULT_CACHE_ENTRIES = 4  # images kept encoded and baked
DEFAULT_CACHE_BYTES = 1 << 30  # and at most this many bytes of them
VIEW_RESOLUTION = 128  # px, novel views and depth maps
ORBIT_FRAMES = 36
ORBIT_FPS = 12.0
ORBIT_FORMATS = tuple(suffix.lstrip(".") for suffix in ANIMATION_FORMATS)  # gif, webp, mp4
MESH_FILE_FORMATS = tuple(suffix.lstrip(".") for suffix in MESH_FORMATS)  # glb, obj, ply
MAX_OUTPUT_FILES = 64  # orbit and mesh files kept on disk (oldest deleted)
FOREGROUND_OPACITY = 0.5  # depth-map pixels at least this opaque set the colour range
MAX_REFINE_STEPS = 100  # refinement steps a request may ask for
TIMING_STEPS = 3  # refinement steps timed on a blank image when no refinement has run yet (after a warm-up step)

# turbo colour map, polynomial fit (Mikhailov 2019, Apache-2.0 approximation by R. Du): x in [0, 1] -> rgb
_TURBO_COEFFICIENTS = np.array(
    [
        [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
        [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
        [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
    ]
)


# ---------------------------------------------------------------------------------------------------------------
# models
def load_model(source: str | os.PathLike | None = None, device: str = "cpu") -> Pix2NeRF:
    """Load a local model folder or hub repo id; None takes $PIX2NERF_MODEL, else the embedded default model.
    Raises FileNotFoundError (unknown folder or id, offline hub) or ValueError (not a model that reads images)."""
    source = source or os.environ.get("PIX2NERF_MODEL") or DEFAULT_MODEL
    if str(source) == DEFAULT_MODEL and not DEFAULT_MODEL_DIR.is_dir():
        raise FileNotFoundError(
            f"the default model is missing at {DEFAULT_MODEL_DIR} (this installation of pix2nerf lacks its package "
            f"data): pass --model or set PIX2NERF_MODEL to a model folder or hub id"
        )
    model = Pix2NeRF.from_pretrained(source, map_location=device)
    if model.encoder is None:
        raise ValueError(f"model {str(source)!r} has no encoder (a converted pi-GAN generator): it cannot read images")
    return model


@dataclass(frozen=True)
class PoseRange:
    """The camera poses a model was trained on, as slider ranges in whole degrees, and named preset views."""

    yaw_min: float
    yaw_max: float
    pitch_min: float
    pitch_max: float

    @classmethod
    def from_config(cls, config: Pix2NeRFConfig) -> PoseRange:
        """The prior's ranges (pix2nerf.rendering.cameras.prior_ranges) rounded inwards to whole degrees."""
        (yaw_min, yaw_max), (pitch_min, pitch_max) = prior_ranges(config)
        return cls(
            float(math.ceil(yaw_min)),
            float(math.floor(yaw_max)),
            float(math.ceil(pitch_min)),
            float(math.floor(pitch_max)),
        )

    def clamp(self, yaw: float, pitch: float) -> tuple[float, float]:
        """The nearest pose in range (yaw wrapped into [-180, 180) first when the range covers the circle)."""
        if self.yaw_max - self.yaw_min >= 359.0:
            yaw = wrap_degrees(yaw)
        return min(max(yaw, self.yaw_min), self.yaw_max), min(max(pitch, self.pitch_min), self.pitch_max)

    @property
    def presets(self) -> dict[str, tuple[float, float]]:
        """front, side, back and top views (yaw, pitch), at the lowest pitch in range nearest the horizon."""
        eye_level = min(max(0.0, self.pitch_min), self.pitch_max)
        return {
            name: self.clamp(yaw, pitch)
            for name, (yaw, pitch) in {
                "front": (0.0, eye_level),
                "side": (90.0, eye_level),
                "back": (180.0, eye_level),
                "top": (0.0, self.pitch_max),
            }.items()
        }


# ---------------------------------------------------------------------------------------------------------------
# uploads and the per-image cache
def decode_data_url(url: Any, limits: Limits | None = None) -> bytes:
    """The bytes of a base64 `data:` URL; its decoded size is checked against the image_bytes limit first."""
    if not isinstance(url, str) or not url.startswith("data:") or "," not in url[:256]:
        raise ValueError(f"expected a base64 data: URL of an image, got {shorten(url)}")
    header, encoded = url.split(",", 1)
    if not header.endswith(";base64"):
        raise ValueError(f"the data: URL must be base64-encoded, got the header {shorten(header)}")
    check_image_bytes(len(encoded) * 3 // 4, limits)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the data: URL holds invalid base64") from None


def read_upload(source: Any, limits: Limits | None = None) -> tuple[str, Any]:
    """(content key, decodable source): the sha256 of a file's or bytes' content, or of a PIL image's or array's
    pixels, and what `images.load_image` then decodes. Files over the image_bytes limit are refused before
    reading; a `data:` URL string is decoded by `decode_data_url`."""
    limits = limits or current_limits()
    if isinstance(source, str) and source.startswith("data:"):
        source = decode_data_url(source, limits)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = shorten(str(path), image_utils.PATH_CHARS, from_end=True)
        try:
            size = path.stat().st_size if path.is_file() else None
        except OSError as error:  # a name too long, no permission
            raise ValueError(f"cannot read image {name} ({error.strerror or type(error).__name__})") from None
        if size is None:
            raise FileNotFoundError(f"no image file at {name}")
        check_image_bytes(size, limits)
        source = path.read_bytes()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        check_image_bytes(len(data), limits)
        return hashlib.sha256(data).hexdigest(), data
    if isinstance(source, Image.Image):
        digest = hashlib.sha256(f"{source.mode} {source.size}".encode())
        digest.update(source.tobytes())
        return digest.hexdigest(), source
    if isinstance(source, np.ndarray):
        digest = hashlib.sha256(f"{source.dtype} {source.shape}".encode())
        digest.update(np.ascontiguousarray(source).tobytes())
        return digest.hexdigest(), source
    raise ValueError(
        f"cannot read an image from {type(source).__name__}; accepted: a path, bytes, a data: URL, a PIL image or a "
        f"numpy array"
    )


@dataclass(frozen=True)
class Preprocessing:
    """How an upload becomes the encoder's input: remove_background (else only crop and resize: "none") and
    foreground_size, the object's extent in the frame after re-framing (0: the model's training range,
    config.foreground_fraction)."""

    remove_background: bool = True
    foreground_size: float = 0.0

    def __post_init__(self) -> None:
        size = self.foreground_size
        if isinstance(size, bool) or not isinstance(size, Real) or not 0 <= size <= 1:
            raise ValueError(f"foreground_size must be in [0, 1] (0: automatic), got {shorten(size)}")
        if not self.remove_background:  # without re-framing the size has no effect: one cache entry for all
            object.__setattr__(self, "foreground_size", 0.0)

    def apply(self, image: Image.Image, model: Pix2NeRF) -> Image.Image:
        """The loaded image as the encoder's crop and resize take it."""
        size = self.foreground_size
        extent = tuple(model.config.foreground_fraction) if size == 0 else (size, size)
        return prepare_image(image, "auto" if self.remove_background else "none", extent, model.background_color)


@dataclass
class CachedImage:
    """The work done once per image and preprocessing: its encoder input (an R x R RGB image), latent (pose in
    degrees), the fit score in words, the baked field, and its mesh once a mesh was asked for."""

    key: str
    encoder_input: Image.Image
    latent: Latent
    baked: Any  # preview.BakedField
    fit: str = ""
    mesh: Mesh | None = None

    @property
    def yaw(self) -> float:
        return float(self.latent.yaw[0])

    @property
    def pitch(self) -> float:
        return float(self.latent.pitch[0])

    @property
    def nbytes(self) -> int:
        """Memory held, in bytes (grid tensors, latent, encoder input, mesh)."""
        tensors = (self.latent.z, self.latent.yaw, self.latent.pitch, *(self.latent.codes or ()))
        latent = sum(t.numel() * t.element_size() for t in tensors)
        image = self.encoder_input.width * self.encoder_input.height * len(self.encoder_input.getbands())
        return int(self.baked.nbytes) + latent + image + (self.mesh.nbytes if self.mesh is not None else 0)


class LRUCache:
    """A thread-safe least-recently-used cache bounded in entries and in bytes (`value.nbytes`).

    `get_or_create` computes a missing value once even when several threads ask for it at the same time.
    """

    def __init__(self, max_entries: int = DEFAULT_CACHE_ENTRIES, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(value.nbytes for value in self._entries.values())

    def get_or_create(self, key: str, create: Callable[[], Any]) -> Any:
        """The value for `key`, from the cache or from `create()` (which then enters the cache)."""
        with self._lock:
            if key in self._entries:
                self.hits += 1
                self._entries.move_to_end(key)
                return self._entries[key]
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            with self._lock:
                if key in self._entries:
                    self.hits += 1
                    self._entries.move_to_end(key)
                    return self._entries[key]
                self.misses += 1
            try:
                value = create()
                self.put(key, value)
            finally:
                with self._lock:
                    self._pending.pop(key, None)
        return value

    def put(self, key: str, value: Any) -> None:
        """Insert or refresh `key`, then drop least recently used entries beyond the bounds (never `key` itself)."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            total = sum(v.nbytes for v in self._entries.values())
            while len(self._entries) > 1 and (len(self._entries) > self.max_entries or total > self.max_bytes):
                _, evicted = self._entries.popitem(last=False)
                total -= evicted.nbytes


# ---------------------------------------------------------------------------------------------------------------
# outputs
@dataclass
class View:
    """One rendered view: the image (RGB PIL), its depth map (RGBA PIL, alpha = opacity) and the render time."""

    image: Image.Image
    depth: Image.Image
    seconds: float


def depth_image(output: RenderOutput, index: int = 0) -> Image.Image:
    """A render's depth as an RGBA turbo colour map (near red, far blue), alpha = the rays' opacity.

    The surface depth depth / opacity is normalised over the pixels at least FOREGROUND_OPACITY opaque."""
    opacity = output.opacity[index].float().clamp(0, 1)
    surface = (output.depth[index].float() / opacity.clamp_min(1e-6)).cpu().numpy()
    alpha = opacity.cpu().numpy()
    foreground = surface[alpha >= FOREGROUND_OPACITY]
    if foreground.size:
        near, far = float(foreground.min()), float(foreground.max())
    else:
        near, far = 0.0, 1.0
    x = 1.0 - np.clip((surface - near) / max(far - near, 1e-6), 0.0, 1.0)
    powers = np.stack([x**k for k in range(_TURBO_COEFFICIENTS.shape[1])], axis=-1)
    rgb = np.clip(powers @ _TURBO_COEFFICIENTS.T, 0.0, 1.0)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    return Image.fromarray(np.rint(rgba * 255).astype(np.uint8), mode="RGBA")


class OutputFolder:
    """A folder of served files (orbits, meshes) that keeps only the newest `max_files`."""

    def __init__(self, folder: str | Path | None = None, max_files: int = MAX_OUTPUT_FILES) -> None:
        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="pix2nerf-app-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_files = max_files
        self._lock = threading.Lock()

    def new_path(self, stem: str, suffix: str) -> Path:
        """A fresh file path; the oldest files beyond `max_files` are deleted first."""
        with self._lock:
            files = sorted(self.folder.iterdir(), key=lambda p: p.stat().st_mtime)
            for old in files[: max(0, len(files) - self.max_files + 1)]:
                old.unlink(missing_ok=True)
        return self.folder / f"{stem}-{uuid.uuid4().hex[:8]}{suffix}"

    def write(self, stem: str, suffix: str, writer: Callable[[Path], Any]) -> Path:
        """`writer(path)` on a fresh path; the file is removed when the writer fails (on any exception)."""
        path = self.new_path(stem, suffix)
        try:
            writer(path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path


# ---------------------------------------------------------------------------------------------------------------
# the service
@dataclass
class Service:
    """Requests on images: pose estimates, novel views, orbits and meshes, sharing one bounded per-image cache.

    Every method takes an image as a path, bytes, a PIL image or an array, validated by `images.load_image`
    (ValueError or FileNotFoundError with a one-line message for anything unusable).
    """

    model: Pix2NeRF
    view_resolution: int = VIEW_RESOLUTION
    orbit_frames: int = ORBIT_FRAMES
    bake_options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of `preview.bake`
    cache: LRUCache = field(default_factory=LRUCache)
    outputs: OutputFolder = field(default_factory=OutputFolder)
    refine_settings: InversionSettings = field(default_factory=InversionSettings)  # all but the steps
    _seconds_per_step: float | None = field(default=None, init=False, repr=False)
    _seconds_to_choose_yaw: float | None = field(default=None, init=False, repr=False)  # best_yaw's, measured

    def __post_init__(self) -> None:
        limits = current_limits()
        check_int("view_resolution", self.view_resolution, 2, limits.resolution)
        check_int("orbit_frames", self.orbit_frames, 1, limits.frames)
        if "psi" in self.bake_options:  # the cached latent carries its codes, computed without truncation
            raise ValueError("bake_options cannot take psi: the service bakes and renders each image's own codes")

    @property
    def pose_range(self) -> PoseRange:
        return PoseRange.from_config(self.model.config)

    def prepare(
        self,
        source: Any,
        preprocessing: Preprocessing = Preprocessing(),  # noqa: B008
        refine_steps: Any = 0,
        progress: ProgressFn | None = None,
    ) -> CachedImage:
        """Validate, preprocess, encode, refine (`refine_steps` steps of `Pix2NeRF.invert` with `refine_settings`;
        progress(done, total) after each), score and bake an image, or fetch that work from the cache, keyed by the
        image, the preprocessing and the refinement settings."""
        key, decodable = read_upload(source)
        if preprocessing != Preprocessing():
            key = f"{key}:{int(preprocessing.remove_background)}:{preprocessing.foreground_size:g}"
        settings = self.refine_settings.replace(steps=check_refine_steps(refine_steps))
        if settings.steps:
            key = f"{key}-refined-{hashlib.sha256(settings.key.encode()).hexdigest()[:16]}"

        def create() -> CachedImage:
            image = preprocessing.apply(image_utils.load_image(decodable), self.model)
            encoder_input = self.model.preprocess(image, "none")
            if settings.steps:
                start = time.perf_counter()
                latent = self.model.invert(encoder_input, settings=settings, progress=progress)
                elapsed = time.perf_counter() - start
                self._seconds_per_step = max(elapsed - (self._seconds_to_choose_yaw or 0.0), 0.0) / settings.total_steps
            else:
                latent = self.model.encode_input(encoder_input)
            with torch.no_grad():  # the field's codes (the tri-plane's planes) once, for every view, the score and bake
                latent = replace(latent, codes=self.model.codes_of(latent))
            fit = self.model.fit_score(encoder_input, latent).words()[0]
            baked = bake(self.model, latent, **self.bake_options)
            shown = image_utils.tensor_to_pil(image_utils.to_unit_range(encoder_input[0].cpu()))
            return CachedImage(key, shown, latent, baked, fit)

        return self.cache.get_or_create(key, create)

    def refine_seconds(self, steps: int) -> float:
        """Expected seconds of a refinement of `steps` steps: the choice of its start's yaw (`best_yaw`, timed once on
        a blank image), then its steps with the yaw candidates' probes (`InversionSettings.total_steps`) at the last
        refinement's time per step on this machine, or, before any, that of TIMING_STEPS steps on the blank image
        (timed once, after an untimed step: the first backward pass of a process also pays one-time set-up costs)."""
        settings = self.refine_settings.replace(steps=check_refine_steps(steps))
        if not settings.steps:
            return 0.0
        if self._seconds_per_step is None or self._seconds_to_choose_yaw is None:
            self._time_refinement()
        return self._seconds_to_choose_yaw + settings.total_steps * self._seconds_per_step

    def _time_refinement(self) -> None:
        """Times what `refine_seconds` has not measured yet on a blank image."""
        size = self.model.config.encoder_resolution
        photo = self.model.preprocess(Image.new("RGB", (size, size), self.model.background_color), "none")
        latent = self.model.encode_input(photo)
        if self._seconds_per_step is None:
            one_yaw = self.refine_settings.replace(yaw_candidates=1)
            refine(self.model, latent, photo, one_yaw.replace(steps=1))
            start = time.perf_counter()
            refine(self.model, latent, photo, one_yaw.replace(steps=TIMING_STEPS))
            self._seconds_per_step = (time.perf_counter() - start) / TIMING_STEPS
        if self._seconds_to_choose_yaw is None:
            start = time.perf_counter()
            if self.refine_settings.yaw_candidates > 1:
                best_yaw(self.model, latent, photo, self.refine_settings.replace(probe_steps=0))
            self._seconds_to_choose_yaw = time.perf_counter() - start

    def novel_view(
        self,
        source: Any,
        yaw: float,
        pitch: float,
        quality: str = "interactive",
        zoom: float = 1.0,
        refine_steps: Any = 0,
        preprocessing: Preprocessing = Preprocessing(),  # noqa: B008
    ) -> View:
        """The image (an upload, or a CachedImage from `prepare`) seen from (yaw, pitch) in degrees at
        `view_resolution`, magnified `zoom` times, with its depth map.

        quality "interactive" reads the baked grid; "full" runs the model's own hierarchical sampler (slow on CPUs).
        """
        yaw, pitch = check_angles(yaw, pitch)
        check_choice("quality", quality, QUALITIES)
        prepared = source if isinstance(source, CachedImage) else self.prepare(source, preprocessing, refine_steps)
        start = time.perf_counter()
        if quality == "interactive":
            output = prepared.baked.render(yaw, pitch, resolution=self.view_resolution, zoom=zoom)
        else:
            output = self.model.render(prepared.latent, yaw, pitch, resolution=self.view_resolution, zoom=zoom)
        seconds = time.perf_counter() - start
        return View(image_utils.tensor_to_pil(output.rgb[0].cpu()), depth_image(output), seconds)

    def orbit(
        self,
        source: Any,
        pitch: float | None = None,
        progress: ProgressFn | None = None,
        zoom: float = 1.0,
        file_format: str = "webp",
        refine_steps: Any = 0,
        preprocessing: Preprocessing = Preprocessing(),  # noqa: B008
    ) -> Path:
        """An animation of `orbit_frames` views circling the object at `pitch` degrees (None: the estimated pitch,
        within the model's range), starting from the front, magnified `zoom` times; progress(done, total) after each
        frame. file_format: one of ORBIT_FORMATS ("webp" lossless, "gif", "mp4" H.264). `source`: an upload or a
        CachedImage from `prepare`; refine_steps and preprocessing: as in `prepare`."""
        check_choice("file_format", file_format, ORBIT_FORMATS)
        prepared = source if isinstance(source, CachedImage) else self.prepare(source, preprocessing, refine_steps)
        if pitch is None:
            pitch = self.pose_range.clamp(0.0, prepared.pitch)[1]
        _, pitch = check_angles(0.0, pitch)
        frames = render_orbit(
            prepared.baked,
            num_frames=self.orbit_frames,
            pitch=pitch,
            resolution=self.view_resolution,
            progress=progress,
            zoom=zoom,
        )
        return self.outputs.write(
            f"orbit-{prepared.key[:12]}", f".{file_format}", lambda path: save_animation(frames, path, fps=ORBIT_FPS)
        )

    def mesh(
        self,
        source: Any,
        file_format: str = "glb",
        refine_steps: Any = 0,
        preprocessing: Preprocessing = Preprocessing(),  # noqa: B008
    ) -> Path:
        """A file of the object's surface (marching cubes on the baked density, vertex colours), in one of
        MESH_FILE_FORMATS ("glb", "obj", "ply"); the mesh is extracted once per image."""
        check_choice("file_format", file_format, MESH_FILE_FORMATS)
        prepared = source if isinstance(source, CachedImage) else self.prepare(source, preprocessing, refine_steps)
        if prepared.mesh is None:
            prepared.mesh = mesh_from_baked(prepared.baked)
            self.cache.put(prepared.key, prepared)  # re-account its bytes
        return self.outputs.write(f"mesh-{prepared.key[:12]}", f".{file_format}", prepared.mesh.save)


def check_refine_steps(steps: Any) -> int:
    """A request's refinement steps as an int in [0, MAX_REFINE_STEPS] (whole floats accepted, as sliders send them;
    not bools or strings); ValueError otherwise."""
    try:
        value = math.nan if isinstance(steps, (bool, str, bytes)) else float(steps)
    except (TypeError, ValueError):
        value = math.nan
    if not (value.is_integer() and 0 <= value <= MAX_REFINE_STEPS):
        raise ValueError(f"refine_steps must be an integer in [0, {MAX_REFINE_STEPS}], got {str(steps)[:40]!r}")
    return int(value)


def check_angles(yaw: Any, pitch: Any) -> tuple[float, float]:
    """Degrees (pix2nerf.limits): yaw wrapped into [-180, 180), pitch in [-90, 90]; ValueError otherwise."""
    yaw = check_angle("yaw", yaw)
    return wrap_degrees(yaw), check_float("pitch", pitch, -PITCH_BOUND, PITCH_BOUND)
