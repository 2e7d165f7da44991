"""Image input/output: every user image enters the package through `load_image` / `preprocess`.

Pixel conventions: PIL images and numpy arrays are channels-last (H, W, C); tensors are channels-first (3, H, W).
Encoder input tensors are float32 in [-1, 1]; rendered tensors are float in [0, 1].
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps

from pix2nerf.limits import Limits, check_int, shorten
from pix2nerf.limits import current as current_limits

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray
Color = tuple[int, int, int] | None

MIN_SIDE = 8  # px: smaller images carry no usable content
# Decoders tried on files and bytes; others (EPS runs Ghostscript, TGA matches any bytes) are refused.
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
RANGE_TOLERANCE = 0.01  # slack on the value range of float arrays ([0, 1]) and input tensors ([-1, 1])
REDUCING_GAP = 3.0  # PIL's box pre-reduction before Lanczos; 3 is visually indistinguishable from none
WHITE = (255, 255, 255)
PATH_CHARS = 200  # characters of a path echoed in an error message (its end)
_ACCEPTED_ARRAYS = "HxW, HxWx1, HxWx3 or HxWx4 arrays (channels last) of uint8, uint16 or float in [0, 1]"


def load_image(source: ImageSource, *, max_pixels: int | None = None) -> Image.Image:
    """Decode `source` into a new PIL image of mode "RGB" or "RGBA" (alpha kept), EXIF orientation applied.

    source: a path, encoded bytes, a binary file object, a PIL image, or a numpy array (H, W), (H, W, 1|3|4)
    of uint8, uint16 or float in [0, 1].
    Only the first frame of animations is read. 16-bit and float data are scaled to 8 bits.
    Raises ValueError for anything that is not a decodable image of at least MIN_SIDE x MIN_SIDE and at most
    `max_pixels` pixels (default: pix2nerf.limits' image_pixels, checked from the header before decoding), for
    encoded data over the limits' image_bytes (checked before reading), and for an unsupported source type;
    FileNotFoundError for a missing path.
    """
    limits = current_limits()
    max_pixels = limits.image_pixels if max_pixels is None else check_int("max_pixels", max_pixels, 1)
    if isinstance(source, np.ndarray):
        return _from_array(source, "array", max_pixels)
    if isinstance(source, Image.Image):
        return _decode(source, "image", max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = shorten(str(path), PATH_CHARS, from_end=True)
        try:
            file = open(path, "rb")
        except FileNotFoundError:
            raise FileNotFoundError(f"no image file at {name}") from None
        except OSError as error:  # a folder, no permission, a name too long
            raise ValueError(f"cannot open image {name} ({error.strerror or type(error).__name__})") from None
        with file:
            check_image_bytes(os.fstat(file.fileno()).st_size, limits)
            return _open(file, f"image {name}", max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        check_image_bytes(len(source), limits)
        return _open(io.BytesIO(source), "image", max_pixels)
    if isinstance(source, io.TextIOBase):
        raise ValueError("image files must be opened in binary mode ('rb'), not text mode")
    if hasattr(source, "read"):
        return _open(source, f"image {shorten(str(getattr(source, 'name', '')))}".rstrip(), max_pixels)
    raise ValueError(
        f"cannot load an image from {type(source).__name__}; accepted: a path, bytes, a binary file object, "
        f"a PIL image or a numpy array"
    )


def check_image_bytes(size: int, limits: Limits | None = None) -> None:
    """Refuse encoded image data of `size` bytes over the limits' image_bytes (before reading it)."""
    limit = (limits or current_limits()).image_bytes
    if size > limit:
        raise ValueError(
            f"the image is {size / 2**20:.1f} MiB; at most {limit / 2**20:.1f} MiB is accepted "
            f"(raise PIX2NERF_LIMIT_IMAGE_BYTES to allow more)"
        )


def to_rgb(image: Image.Image, background: Color = WHITE) -> Image.Image:
    """Any PIL image -> mode "RGB", alpha composited over `background` ((R, G, B) in 0-255; None means black)."""
    color = _check_color(background)
    image = _normalise_mode(image, "image")
    if image.mode == "RGB":
        return image
    return Image.alpha_composite(Image.new("RGBA", image.size, (*color, 255)), image).convert("RGB")


def center_crop_square(image: Image.Image) -> Image.Image:
    """Crop the centred min(W, H) x min(W, H) square."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def resize(image: Image.Image, size: int) -> Image.Image:
    """Antialiased (Lanczos) resize to size x size pixels; the aspect ratio is not kept, so crop first."""
    check_int("size", size, 1, current_limits().resolution)
    return image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def preprocess(source: ImageSource, resolution: int, background: Color = WHITE) -> torch.Tensor:
    """One image source -> float32 tensor (3, resolution, resolution) in [-1, 1].

    load_image -> alpha composited over `background` -> centre square crop -> Lanczos resize.
    """
    check_int("resolution", resolution, 1, current_limits().resolution)
    return pil_to_tensor(resize(center_crop_square(to_rgb(load_image(source), background)), resolution))


def preprocess_batch(sources: Sequence[ImageSource], resolution: int, background: Color = WHITE) -> torch.Tensor:
    """Image sources -> float32 tensor (B, 3, resolution, resolution) in [-1, 1]; errors name the failing index."""
    if len(sources) == 0:
        raise ValueError("no images given; pass at least one image")
    tensors = []
    for index, source in enumerate(sources):
        try:
            tensors.append(preprocess(source, resolution, background))
        except ValueError as exc:
            if len(sources) == 1:
                raise
            raise ValueError(f"image {index}: {exc}") from exc
    return torch.stack(tensors)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (the networks' range) -> [0, 1] (renders, metrics, display)."""
    return images.add(1).div(2)


def to_signed_range(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> [-1, 1]."""
    return images * 2 - 1


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 tensor (3, H, W) in [-1, 1]."""
    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {image.mode!r}; convert it with to_rgb(image, background)")
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float() / 127.5 - 1


def tensor_to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """Float tensor (3, H, W) or (B, 3, H, W) in [0, 1] -> uint8 array (H, W, 3) or (B, H, W, 3), clamped, rounded."""
    if tensor.ndim not in (3, 4) or tensor.shape[-3] != 3:
        raise ValueError(f"expected a (3, H, W) or (B, 3, H, W) tensor, got shape {tuple(tensor.shape)}")
    tensor = tensor.detach()
    if not torch.isfinite(tensor).all():
        raise ValueError("the image tensor contains NaN or infinite values")
    pixels = (tensor.float().clamp(0, 1) * 255).round().to(torch.uint8)
    return pixels.movedim(-3, -1).contiguous().cpu().numpy()


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    """Float tensor (3, H, W) in [0, 1] -> RGB PIL image (clamped, rounded to uint8)."""
    if tensor.ndim != 3:
        raise ValueError(f"expected one (3, H, W) image tensor, got shape {tuple(tensor.shape)}")
    return Image.fromarray(tensor_to_uint8(tensor))


def image_grid(images: Sequence[Image.Image], columns: int, padding: int = 2, background: Color = WHITE) -> Image.Image:
    """Tile images row by row into one RGB image, `padding` px around and between cells of the largest size.

    Images are composited over `background`, which also fills the padding and empty cells.
    """
    if len(images) == 0:
        raise ValueError("image_grid needs at least one image")
    check_int("columns", columns, 1)
    check_int("padding", padding, 0, current_limits().resolution)
    tiles = [to_rgb(image, background) for image in images]
    cell_w, cell_h = max(t.width for t in tiles), max(t.height for t in tiles)
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    size = (columns * (cell_w + padding) + padding, rows * (cell_h + padding) + padding)
    grid = Image.new("RGB", size, _check_color(background))
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        left = padding + column * (cell_w + padding) + (cell_w - tile.width) // 2
        top = padding + row * (cell_h + padding) + (cell_h - tile.height) // 2
        grid.paste(tile, (left, top))
    return grid


def validate_tensor_images(x: torch.Tensor) -> torch.Tensor:
    """Check encoder-ready images: float (B, 3, S, S) or (3, S, S), finite, in [-1, 1].

    Returns a float32 (B, 3, S, S) tensor clamped to [-1, 1] (values may overshoot by RANGE_TOLERANCE).
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"images must be a float tensor in [-1, 1], got dtype {x.dtype}")
    batch = x.unsqueeze(0) if x.ndim == 3 else x
    square_rgb = batch.ndim == 4 and batch.shape[1] == 3 and batch.shape[2] == batch.shape[3]
    if not square_rgb or batch.shape[0] == 0 or batch.shape[2] < MIN_SIDE:
        raise ValueError(
            f"images must be a (B, 3, S, S) or (3, S, S) tensor with B >= 1 and S >= {MIN_SIDE}, "
            f"got shape {tuple(x.shape)}"
        )
    check_int("the number of images", batch.shape[0], 1, current_limits().batch_size)
    if not torch.isfinite(batch).all():
        raise ValueError("images contain NaN or infinite values")
    peak = batch.abs().max().item()
    if peak > 1 + RANGE_TOLERANCE:
        raise ValueError(
            f"images must be in [-1, 1], got values up to {peak:.4g} in magnitude (map 0-255 images with x / 127.5 - 1)"
        )
    return batch.float().clamp(-1, 1)


# ---------------------------------------------------------------------------------------------------------------
# decoding helpers
@functools.cache
def _decoders() -> tuple[str, ...]:
    """IMAGE_FORMATS that this PIL build can decode (AVIF, for one, is optional)."""
    Image.init()
    return tuple(name for name in IMAGE_FORMATS if name in Image.OPEN)


def _open(file: BinaryIO, name: str, max_pixels: int) -> Image.Image:
    """Identify an encoded image from its header (lazy: no pixels decoded yet), then `_decode` it."""
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's guard at the same limit: it fails at twice, `_decode` checks it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # `_check_size` gives the clear error
            image = Image.open(file, formats=_decoders())
    except Image.DecompressionBombError as exc:
        raise ValueError(
            f"{name} is too large to decode: at most {max_pixels:,} pixels are accepted (raise "
            f"PIX2NERF_LIMIT_IMAGE_PIXELS to allow more)"
        ) from exc
    except Image.UnidentifiedImageError as exc:
        formats = ", ".join(_decoders())
        raise ValueError(f"cannot read {name}: not an image file of an accepted format ({formats})") from exc
    except Exception as exc:  # untrusted bytes: any parser failure means a bad file
        raise ValueError(f"{name} is corrupt ({type(exc).__name__}: {shorten(str(exc), 80)})") from exc
    return _decode(image, name, max_pixels)


def _decode(image: Image.Image, name: str, max_pixels: int) -> Image.Image:
    """Size-check a (possibly lazy) PIL image, fully decode its current frame, apply EXIF orientation."""
    _check_size(image.size, name, max_pixels)
    try:
        image.load()  # a full decode: truncated data raises here (PIL's LOAD_TRUNCATED_IMAGES must stay False)
        image = ImageOps.exif_transpose(image)  # always a new image, detached from any file
    except Exception as exc:  # untrusted bytes: any decoder failure means a bad file
        raise ValueError(f"{name} is truncated or corrupt ({type(exc).__name__}: {shorten(str(exc), 80)})") from exc
    return _normalise_mode(image, name)


def _normalise_mode(image: Image.Image, name: str) -> Image.Image:
    """Any PIL mode -> "RGB", or "RGBA" when the image has transparency; 16-bit/float data scaled to 8 bits."""
    if image.mode == "RGBA" or (image.mode == "RGB" and "transparency" not in image.info):
        return image
    if image.mode.startswith("I;16"):  # 16-bit grayscale, any byte order
        return _from_array(np.asarray(image).astype(np.uint16), name, None)
    if image.mode == "I":  # 32-bit int: read as 16-bit data (what 16-bit PNG/TIFF decode to)
        return _from_array(np.asarray(image).clip(0, 65535).astype(np.uint16), name, None)
    if image.mode == "F":
        return _from_array(np.asarray(image), name, None)
    has_alpha = image.mode in ("LA", "La", "PA", "RGBa") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _from_array(array: np.ndarray, name: str, max_pixels: int | None) -> Image.Image:
    """(H, W[, 1|3|4]) uint8 / uint16 / float-in-[0, 1] array -> new RGB or RGBA PIL image."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ValueError(f"{name} has shape {array.shape}; accepted: {_ACCEPTED_ARRAYS}")
    if max_pixels is not None:
        _check_size((array.shape[1], array.shape[0]), name, max_pixels)
    kind, itemsize = array.dtype.kind, array.dtype.itemsize
    if kind == "u" and itemsize == 1:
        pixels = array
    elif kind == "u" and itemsize == 2:
        pixels = ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)  # round(v * 255 / 65535)
    elif kind == "f":
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
            raise ValueError(
                f"{name} has float values in [{low:.4g}, {high:.4g}]; float images must be in [0, 1] "
                f"(use uint8 for 0-255 data)"
            )
        pixels = np.rint(np.clip(array.astype(np.float32), 0, 1) * 255).astype(np.uint8)
    else:
        raise ValueError(f"{name} has unsupported dtype {array.dtype}; accepted: {_ACCEPTED_ARRAYS}")
    image = Image.fromarray(np.ascontiguousarray(pixels))
    return image.convert("RGB") if image.mode == "L" else image


def _check_size(size: tuple[int, int], name: str, max_pixels: int) -> None:
    width, height = size
    if min(width, height) < MIN_SIDE:
        raise ValueError(f"{name} is {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
    if width * height > max_pixels:
        raise ValueError(
            f"{name} is {width}x{height} pixels; at most {max_pixels:,} pixels in all are accepted (raise "
            f"PIX2NERF_LIMIT_IMAGE_PIXELS to allow more)"
        )


def _check_color(background: Any) -> tuple[int, int, int]:
    """None -> black; otherwise an (R, G, B) sequence of ints in 0-255."""
    if background is None:
        return (0, 0, 0)
    if (
        isinstance(background, (tuple, list))
        and len(background) == 3
        and all(isinstance(c, Integral) and not isinstance(c, bool) and 0 <= c <= 255 for c in background)
    ):
        return tuple(int(c) for c in background)
    raise ValueError(
        f"background must be None (black) or an (R, G, B) tuple of ints in 0-255, got {shorten(background)}"
    )
