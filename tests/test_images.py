"""pix2nerf.images: decoding user images safely, preprocessing, tensor <-> PIL. All inputs are built in memory."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from pix2nerf import images
from pix2nerf.images import (
    MIN_SIDE,
    center_crop_square,
    image_grid,
    load_image,
    pil_to_tensor,
    preprocess,
    preprocess_batch,
    resize,
    tensor_to_pil,
    tensor_to_uint8,
    to_rgb,
    validate_tensor_images,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def encode(image: Image.Image, fmt: str, **save_kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (8-bit grey) but whose pixel data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def close(actual, expected, tol=3):
    return all(abs(a - e) <= tol for a, e in zip(actual, expected))


# ---------------------------------------------------------------------------------------------------------------
# sources
def test_every_source_type_decodes_the_same(tmp_path):
    image = Image.new("RGB", (20, 12), RED)
    data = encode(image, "PNG")
    path = tmp_path / "red.png"
    path.write_bytes(data)
    with open(path, "rb") as file:
        from_file = load_image(file)
        assert not file.closed  # the caller's file is left open
    array = np.full((12, 20, 3), 255, np.uint8) * np.array([1, 0, 0], np.uint8)
    for loaded in (
        load_image(path),
        load_image(str(path)),
        load_image(data),
        load_image(bytearray(data)),
        load_image(io.BytesIO(data)),
        from_file,
        load_image(image),
        load_image(array),
    ):
        assert loaded.mode == "RGB" and loaded.size == (20, 12)
        assert loaded.getpixel((3, 3)) == RED


def test_pil_input_is_not_modified():
    image = Image.new("L", (10, 10), 7)
    loaded = load_image(image)
    assert loaded is not image and image.mode == "L" and loaded.getpixel((0, 0)) == (7, 7, 7)


def test_missing_path_names_it(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_image(path)


def test_unsupported_source_types():
    with pytest.raises(ValueError, match="accepted"):
        load_image(42)
    with pytest.raises(ValueError, match="binary mode"):
        load_image(io.StringIO("not bytes"))


# ---------------------------------------------------------------------------------------------------------------
# bad files
def test_text_file_renamed_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello, I am not a picture\n" * 10)
    message = r"cannot read image .*notes\.png: not an image file of an accepted format \(PNG, JPEG"
    with pytest.raises(ValueError, match=message):
        load_image(path)


def test_empty_file_and_bytes(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not an image file"):
        load_image(path)
    with pytest.raises(ValueError, match="not an image file"):
        load_image(b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files(tmp_path, fmt):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt)
    cut = data[: len(data) * 2 // 3]
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_image(cut)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(cut)
    with pytest.raises(ValueError, match="cut"):
        load_image(path)


def test_refused_decoder_format():
    """Formats outside IMAGE_FORMATS (here PCX) are not even tried on untrusted bytes."""
    with pytest.raises(ValueError, match="not an image file"):
        load_image(encode(Image.new("RGB", (16, 16)), "PCX"))


def test_too_small():
    with pytest.raises(ValueError, match=f"image is 1x1 pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed"):
        load_image(encode(Image.new("RGB", (1, 1)), "PNG"))
    with pytest.raises(ValueError, match="is 7x100 pixels"):
        load_image(Image.new("RGB", (7, 100)))
    with pytest.raises(ValueError, match="array is 0x0 pixels"):
        load_image(np.zeros((0, 0, 3), np.uint8))
    assert load_image(Image.new("RGB", (MIN_SIDE, MIN_SIDE))).size == (MIN_SIDE, MIN_SIDE)


@pytest.mark.filterwarnings("error")  # PIL's DecompressionBombWarning must not escape
@pytest.mark.parametrize("side", [7000, 10000, 20000])  # under, between and over PIL's own bomb limits
def test_huge_header_is_refused_without_decoding(side):
    """The IHDR claims side x side but holds a few bytes: a decode attempt would fail as 'truncated' instead."""
    with pytest.raises(ValueError, match="too large|pixels in all are accepted") as info:
        load_image(png_header_only(side, side))
    assert "truncated" not in str(info.value)


def test_max_pixels_is_configurable():
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(ValueError, match="100x100 pixels; at most 9,999 pixels"):
        load_image(data, max_pixels=9_999)
    assert load_image(data, max_pixels=10_000).size == (100, 100)
    with pytest.raises(ValueError, match="at most"):
        load_image(np.zeros((100, 100), np.uint8), max_pixels=9_999)


# ---------------------------------------------------------------------------------------------------------------
# modes and formats
def test_16_bit_grayscale_png_is_scaled():
    values = np.array([[0, 257 * 128, 65535, 300]], np.uint16).repeat(8, 0).repeat(2, 1)  # 8 x 8
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    loaded = np.asarray(load_image(data))
    assert loaded.dtype == np.uint8 and loaded.shape == (8, 8, 3)
    assert loaded[0, ::2, 0].tolist() == [0, 128, 255, 1]


def test_16_bit_big_endian_and_32_bit_int_modes():
    big = Image.frombytes("I;16B", (8, 8), np.full((8, 8), 65535, ">u2").tobytes())
    assert load_image(big).getpixel((0, 0)) == (255, 255, 255)
    wide = Image.fromarray(np.full((8, 8), 257 * 64, np.int32))
    assert wide.mode == "I" and load_image(wide).getpixel((0, 0)) == (64, 64, 64)


def test_16_bit_rgb_array():
    array = np.zeros((8, 8, 3), np.uint16)
    array[..., 0], array[..., 2] = 65535, 257 * 100
    assert load_image(array).getpixel((1, 1)) == (255, 0, 100)


def test_grayscale_float_and_bilevel_modes():
    assert load_image(Image.new("L", (8, 8), 90)).getpixel((0, 0)) == (90, 90, 90)
    assert load_image(Image.new("1", (8, 8), 1)).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(Image.new("F", (8, 8), 0.5)).getpixel((0, 0)) == (128, 128, 128)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        load_image(Image.new("F", (8, 8), 200.0))


def test_cmyk_jpeg():
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    loaded = load_image(data)
    assert loaded.mode == "RGB" and close(loaded.getpixel((8, 8)), RED, tol=6)


def test_alpha_is_kept_and_composited():
    image = Image.new("RGBA", (16, 16), (0, 0, 255, 0))
    image.paste((255, 0, 0, 255), (0, 0, 8, 16))
    loaded = load_image(encode(image, "PNG"))
    assert loaded.mode == "RGBA"
    white = to_rgb(loaded)
    assert white.mode == "RGB" and white.getpixel((2, 2)) == RED and white.getpixel((12, 2)) == (255, 255, 255)
    assert to_rgb(loaded, None).getpixel((12, 2)) == (0, 0, 0)
    assert to_rgb(loaded, (10, 20, 30)).getpixel((12, 2)) == (10, 20, 30)
    half = to_rgb(Image.new("RGBA", (8, 8), (0, 0, 0, 128)))
    assert close(half.getpixel((0, 0)), (127, 127, 127), tol=1)


def test_grayscale_alpha_and_palette_transparency():
    assert load_image(Image.new("LA", (8, 8), (50, 0))).mode == "RGBA"
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([255, 0, 0, 0, 255, 0])
    palette.putpixel((0, 0), 1)
    palette.info["transparency"] = 0
    loaded = load_image(encode(palette, "PNG"))
    assert loaded.mode == "RGBA"
    assert loaded.getpixel((0, 0)) == (0, 255, 0, 255) and loaded.getpixel((5, 5))[3] == 0
    opaque = Image.new("P", (8, 8), 1)
    opaque.putpalette([255, 0, 0, 0, 255, 0])
    assert load_image(opaque).getpixel((0, 0)) == GREEN


@pytest.mark.parametrize("fmt", ["GIF", "PNG"])  # animated GIF and APNG
def test_animation_gives_first_frame(fmt):
    frames = [Image.new("RGB", (16, 16), color) for color in (RED, GREEN, BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    loaded = load_image(data)
    assert loaded.size == (16, 16) and close(loaded.convert("RGB").getpixel((8, 8)), RED)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    loaded = load_image(encode(image, "JPEG", exif=exif, quality=95))
    assert loaded.size == (20, 40)
    assert close(loaded.getpixel((10, 5)), RED, tol=8) and close(loaded.getpixel((10, 35)), BLUE, tol=8)


# ---------------------------------------------------------------------------------------------------------------
# arrays
def test_array_layouts_and_dtypes():
    assert load_image(np.full((8, 9), 40, np.uint8)).getpixel((0, 0)) == (40, 40, 40)
    assert load_image(np.full((8, 9, 1), 40, np.uint8)).size == (9, 8)
    rgba = load_image(np.zeros((8, 8, 4), np.uint8))
    assert rgba.mode == "RGBA"
    floats = load_image(np.full((8, 8, 3), 0.5, np.float64))
    assert floats.getpixel((0, 0)) == (128, 128, 128)
    assert load_image(np.full((8, 8), 1.005, np.float32)).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((8, 8, 3), np.nan, np.float32), "NaN or infinite"),
        (np.full((8, 8), np.inf), "NaN or infinite"),
        (np.zeros((8, 8, 2), np.uint8), r"shape \(8, 8, 2\); accepted: HxW"),
        (np.zeros((3, 32, 32), np.uint8), "channels last"),
        (np.zeros((1, 8, 8, 3), np.uint8), "shape"),
        (np.zeros(64, np.uint8), "shape"),
        (np.full((8, 8, 3), 255.0), r"float images must be in \[0, 1\]"),
        (np.zeros((8, 8, 3), np.int64), "unsupported dtype int64"),
        (np.zeros((8, 8, 3), bool), "unsupported dtype bool"),
    ],
)
def test_bad_arrays(array, message):
    with pytest.raises(ValueError, match=message):
        load_image(array)


# ---------------------------------------------------------------------------------------------------------------
# geometry and preprocessing
def test_center_crop_and_resize():
    wide = Image.new("RGB", (40, 20), RED)
    wide.paste(GREEN, (10, 0, 30, 20))
    square = center_crop_square(wide)
    assert square.size == (20, 20) and square.getcolors() == [(400, GREEN)]
    tall = center_crop_square(Image.new("RGB", (5, 9)))
    assert tall.size == (5, 5)
    assert resize(square, 7).size == (7, 7)
    with pytest.raises(ValueError, match=r"size must be an integer in \[1, 1024\], got 0"):
        resize(square, 0)


def test_preprocess_crops_and_normalises():
    wide = Image.new("RGB", (40, 20), RED)
    wide.paste(GREEN, (10, 0, 30, 20))
    x = preprocess(encode(wide, "PNG"), 16)
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x, torch.tensor([-1.0, 1.0, -1.0]).view(3, 1, 1).expand(3, 16, 16))


def test_preprocess_alpha_background():
    clear = np.zeros((12, 12, 4), np.uint8)
    assert torch.all(preprocess(clear, 8) == 1)
    assert torch.all(preprocess(clear, 8, background=None) == -1)
    with pytest.raises(ValueError, match="background must be"):
        preprocess(clear, 8, background=(300, 0, 0))


def test_preprocess_batch():
    batch = preprocess_batch([Image.new("RGB", (30, 20), RED), np.zeros((9, 9), np.uint8)], 8)
    assert batch.shape == (2, 3, 8, 8)
    assert torch.all(batch[1] == -1)
    with pytest.raises(ValueError, match="^image 1: array is 2x2 pixels"):
        preprocess_batch([Image.new("RGB", (9, 9)), np.zeros((2, 2), np.uint8)], 8)
    with pytest.raises(ValueError, match="^image is 2x2"):
        preprocess_batch([Image.new("RGB", (2, 2))], 8)
    with pytest.raises(ValueError, match="no images"):
        preprocess_batch([], 8)


# ---------------------------------------------------------------------------------------------------------------
# tensors
def test_pil_tensor_round_trip():
    array = np.random.default_rng(1).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    x = pil_to_tensor(Image.fromarray(array))
    assert x.shape == (3, 10, 12) and x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    back = tensor_to_pil((x + 1) / 2)
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), array)
    with pytest.raises(ValueError, match="to_rgb"):
        pil_to_tensor(Image.new("RGBA", (8, 8)))


def test_tensor_to_uint8_clamps_and_rounds():
    t = torch.tensor([-0.5, 0.0, 0.5, 0.502, 1.0, 1.5]).view(1, 1, 6).expand(3, 1, 6)
    out = tensor_to_uint8(t)
    assert out.dtype == np.uint8 and out.shape == (1, 6, 3)
    assert out[0, :, 0].tolist() == [0, 0, 128, 128, 255, 255]
    assert tensor_to_uint8(torch.zeros(2, 3, 4, 5)).shape == (2, 4, 5, 3)
    with pytest.raises(ValueError, match="NaN"):
        tensor_to_pil(torch.full((3, 4, 4), float("nan")))
    with pytest.raises(ValueError, match="one"):
        tensor_to_pil(torch.zeros(1, 3, 4, 4))


def test_image_grid():
    tiles = [Image.new("RGB", (10, 10), RED), Image.new("RGB", (10, 10), GREEN), Image.new("L", (6, 6), 0)]
    grid = image_grid(tiles, columns=2, padding=2)
    assert grid.size == (26, 26)
    assert grid.getpixel((0, 0)) == (255, 255, 255) and grid.getpixel((2, 2)) == RED
    assert grid.getpixel((14, 2)) == GREEN and grid.getpixel((14 + 5, 14 + 5)) == (255, 255, 255)
    assert grid.getpixel((2 + 5, 14 + 5)) == (0, 0, 0)  # the 6x6 tile is centred in its 10x10 cell
    assert image_grid(tiles[:1], columns=4, padding=0).size == (10, 10)
    with pytest.raises(ValueError, match="at least one"):
        image_grid([], columns=2)


def test_validate_tensor_images():
    single = torch.zeros(3, 16, 16, dtype=torch.float64)
    out = validate_tensor_images(single)
    assert out.shape == (1, 3, 16, 16) and out.dtype == torch.float32
    slack = validate_tensor_images(torch.full((2, 3, 8, 8), 1.005))
    assert slack.max() == 1
    for bad, message in [
        (torch.zeros(1, 4, 16, 16), "got shape"),
        (torch.zeros(1, 3, 16, 12), "got shape"),
        (torch.zeros(0, 3, 16, 16), "B >= 1"),
        (torch.zeros(16, 16), "got shape"),
        (torch.full((1, 3, 8, 8), float("nan")), "NaN"),
        (torch.full((1, 3, 8, 8), 255.0), r"must be in \[-1, 1\]"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "float tensor"),
    ]:
        with pytest.raises(ValueError, match=message):
            validate_tensor_images(bad)
    with pytest.raises(ValueError, match="expected a torch.Tensor"):
        validate_tensor_images(np.zeros((3, 8, 8), np.float32))


def test_pil_settings_are_untouched():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert images.MIN_SIDE >= 2
