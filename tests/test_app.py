"""The Gradio app in-process on a tiny model: every API endpoint through gradio_client, bad uploads, concurrency,
bounded memory; the serving layer (cache, poses, depth maps) directly; model selection; the Space bundle."""

from __future__ import annotations

import importlib.util
import io
import os
import socket
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pix2nerf import Pix2NeRF, Pix2NeRFConfig
from pix2nerf.outputs import RenderOutput
from pix2nerf.serving import service as serving

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
REPO_ROOT = Path(__file__).resolve().parents[1]
VIEW_RESOLUTION = 24
ORBIT_FRAMES = 4
BAKE_OPTIONS = {"resolution": 16, "brick": 2}


def load_app():
    """app.py as a module (it lives at the repository root, outside the package)."""
    spec = importlib.util.spec_from_file_location("pix2nerf_app", REPO_ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def png_bytes(image: Image.Image, **save_options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=save_options.pop("format", "PNG"), **save_options)
    return buffer.getvalue()


def pattern(seed: int, size: tuple[int, int] = (40, 32)) -> Image.Image:
    """A small RGB test photo: a coloured blob on white, different for each seed."""
    rng = np.random.default_rng(seed)
    height, width = size[1], size[0]
    y, x = np.mgrid[0:height, 0:width]
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    blob = ((x - cx) ** 2 + (y - cy) ** 2) < (0.3 * min(width, height)) ** 2
    pixels = np.full((height, width, 3), 255, np.uint8)
    pixels[blob] = rng.integers(0, 200, 3)
    return Image.fromarray(pixels)


def huge_png_header(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG that claims width x height pixels (its header) but carries a few bytes of data."""
    data = png_bytes(Image.new("L", (8, 8)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return data[:8] + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]


def animated_gif() -> bytes:
    frames = [pattern(1), pattern(2)]
    return png_bytes(frames[0], format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


BAD_UPLOADS = {  # name -> (file bytes, words the error must contain)
    "not_an_image": (b"hello, this is text, not an image\n" * 4, "not an image"),
    "truncated": (png_bytes(pattern(0))[:120], "truncated"),
    "one_pixel": (png_bytes(Image.new("RGB", (1, 1), "red")), "1x1"),
    "huge": (huge_png_header(), "too large"),
}
ODD_UPLOADS = {  # accepted: converted to RGB by pix2nerf.images.load_image
    "sixteen_bit": png_bytes(Image.fromarray((np.arange(40 * 32).reshape(32, 40) * 50).astype(np.uint16))),
    "cmyk": png_bytes(Image.new("CMYK", (40, 32), (0, 200, 200, 0)), format="JPEG"),
    "grayscale": png_bytes(pattern(3).convert("L")),
    "rgba": png_bytes(pattern(4).convert("RGBA")),
    "animated": animated_gif(),
}


@pytest.fixture(scope="module")
def app_module():
    return load_app()


def save_tiny_model(folder: Path) -> Path:
    """A tiny random model, its density head scaled so that its field holds a surface (meshes exist)."""
    torch.manual_seed(0)
    model = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny"))
    with torch.no_grad():
        model.field.density_head.weight.mul_(100.0)
        model.field.density_head.bias.fill_(6.0)
    model.save_pretrained(folder)
    return folder


def launch(app_module, service) -> tuple[object, str]:
    """Serve the app on `service` on a free local port: (demo, url)."""
    demo = app_module.build_demo(service)
    port = free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app_module.launch_options()
    )
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("uploads")
    paths = {}
    for name, content in {
        "car": png_bytes(pattern(0)),
        "other": png_bytes(pattern(1)),
        **{name: data for name, (data, _) in BAD_UPLOADS.items()},
        **ODD_UPLOADS,
    }.items():
        paths[name] = folder / f"{name}.png"
        paths[name].write_bytes(content)
    return paths


@pytest.fixture(scope="module")
def running_app(app_module, tiny_model_dir, tmp_path_factory):
    """The app on the tiny model, served on a free local port: (service, url)."""
    service = app_module.load_service(
        str(tiny_model_dir),
        view_resolution=VIEW_RESOLUTION,
        orbit_frames=ORBIT_FRAMES,
        bake_options=BAKE_OPTIONS,
        cache=serving.LRUCache(max_entries=3),
        outputs=serving.OutputFolder(tmp_path_factory.mktemp("outputs"), max_files=8),
    )
    demo, url = launch(app_module, service)
    yield service, url
    demo.close()


@pytest.fixture(scope="module")
def client(running_app):
    from gradio_client import Client

    return Client(running_app[1], verbose=False)


def predict(client, *args, api_name: str):
    from gradio_client import handle_file

    return client.predict(*(handle_file(str(a)) if isinstance(a, Path) else a for a in args), api_name=api_name)


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


# ---------------------------------------------------------------------------------------------------------------
# the API through gradio_client
def test_api_lists_the_three_endpoints(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/novel_view", "/orbit", "/mesh"}
    assert [p["parameter_name"] for p in endpoints["/novel_view"]["parameters"]] == [
        "image",
        "yaw",
        "pitch",
        "refine_steps",
    ]
    mesh_parameters = [p["parameter_name"] for p in endpoints["/mesh"]["parameters"]]
    assert mesh_parameters == ["image", "file_format", "refine_steps", "remove_background", "foreground_size"]
    orbit_parameters = [p["parameter_name"] for p in endpoints["/orbit"]["parameters"]]
    assert orbit_parameters == [
        "image",
        "pitch",
        "file_format",
        "refine_steps",
        "remove_background",
        "foreground_size",
        "zoom",
    ]


def test_refine_steps_go_through_the_cache_and_default_to_none(client, running_app, files):
    service, _ = running_app
    plain = predict(client, files["car"], 40, 10, api_name="/novel_view")
    refined = predict(client, files["car"], 40, 10, 2, api_name="/novel_view")
    misses = service.cache.misses
    again = predict(client, files["car"], 40, 10, 2, api_name="/novel_view")
    assert service.cache.misses == misses
    assert np.array_equal(pixels(refined), pixels(again)) and not np.array_equal(pixels(plain), pixels(refined))


def test_novel_view_is_a_png_that_matches_the_in_process_render(client, running_app, files):
    service, _ = running_app
    result = predict(client, files["car"], 90, 20, api_name="/novel_view")
    with Image.open(result) as image:
        assert image.format == "PNG" and image.size == (VIEW_RESOLUTION, VIEW_RESOLUTION)
    expected = np.asarray(service.novel_view(files["car"], 90, 20).image, dtype=np.int16)
    assert np.abs(pixels(result) - expected).max() <= 1


def test_repeated_calls_reuse_the_cached_image(client, running_app, files):
    service, _ = running_app
    predict(client, files["other"], 0, 10, api_name="/novel_view")
    misses = service.cache.misses
    for yaw in (30, 60, 90):
        predict(client, files["other"], yaw, 10, api_name="/novel_view")
    assert service.cache.misses == misses


def test_views_change_with_the_pose(client, files):
    front = predict(client, files["car"], 0, 10, api_name="/novel_view")
    side = predict(client, files["car"], 90, 10, api_name="/novel_view")
    assert np.abs(pixels(front) - pixels(side)).max() > 0


def test_orbit_is_an_animated_webp(client, files):
    result = predict(client, files["car"], 20, api_name="/orbit")
    with Image.open(result) as animation:
        assert animation.format == "WEBP" and animation.n_frames == ORBIT_FRAMES


def test_mesh_is_a_glb(client, files):
    result = predict(client, files["car"], api_name="/mesh")
    assert Path(result).suffix == ".glb" and Path(result).read_bytes()[:4] == b"glTF"


def test_orbit_as_mp4_and_mesh_as_obj_and_ply(client, files):
    import av

    with av.open(predict(client, files["car"], 20, "mp4", api_name="/orbit")) as video:
        assert video.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in video.decode(video=0)) == ORBIT_FRAMES
    obj = Path(predict(client, files["car"], "obj", api_name="/mesh"))
    ply = Path(predict(client, files["car"], "ply", api_name="/mesh"))
    vertices = sum(line.startswith("v ") for line in obj.read_text().splitlines())
    assert len(obj.read_text().splitlines()[1].split()) == 7  # v x y z r g b
    assert f"element vertex {vertices}\n".encode() in ply.read_bytes() and ply.suffix == ".ply"


def test_the_previews_show_mp4_in_the_video_player_and_the_mesh_as_glb(app_module, running_app, files):
    service = running_app[0]
    handlers = {block.fn.__name__: block.fn for block in app_module.build_demo(service).fns.values() if block.fn}
    image, video = handlers["orbit_preview"]("orbit.mp4")
    assert (image["visible"], video["visible"], video["value"]) == (False, True, "orbit.mp4")
    image, video = handlers["orbit_preview"]("orbit.webp")
    assert (image["value"], image["visible"], video["visible"]) == ("orbit.webp", True, False)
    obj = service.mesh(files["car"], "obj")
    glb = handlers["mesh_preview"]({"path": str(files["car"])}, {"path": str(obj)})
    assert Path(glb).read_bytes()[:4] == b"glTF"


def test_a_new_photo_is_refined_after_its_first_view_and_a_pose_the_user_chose_is_kept(app_module, running_app, files):
    """The handler that follows a new image's first view: off, it changes nothing; on, it refines with the default
    steps and shows the refined latent from its own pose while the sliders are where the encoder put them, else from
    the sliders' pose, which it leaves alone."""
    service = running_app[0]
    handlers = {block.fn.__name__: block.fn for block in app_module.build_demo(service).fns.values() if block.fn}
    refine, payload, options = handlers["on_auto_refine"], {"path": str(files["car"])}, ("interactive", True, 0.0, 1.0)
    quiet = lambda *args, **kwargs: None  # noqa: E731  (gr.Progress outside an event)
    encoded = service.prepare(files["car"], serving.Preprocessing(True, 0.0))
    at_encoder = service.pose_range.clamp(round(encoded.yaw), round(encoded.pitch))
    assert all(update == {"__type__": "update"} for update in refine(payload, False, *at_encoder, *options, quiet))
    steps, pose, yaw, pitch, image, _, caption = refine(payload, True, *at_encoder, *options, quiet)
    refined = service.prepare(files["car"], serving.Preprocessing(True, 0.0), service.refine_settings.steps)
    assert steps == service.refine_settings.steps and "Refined camera" in pose and "interactive view" in caption
    assert (yaw, pitch) == service.pose_range.clamp(round(refined.yaw), round(refined.pitch))
    chosen = (at_encoder[0] + 90, at_encoder[1])
    steps, pose, yaw, pitch, image, _, _ = refine(payload, True, *chosen, *options, quiet)
    assert pose == yaw == pitch == {"__type__": "update"}
    expected = service.novel_view(refined, *chosen, "interactive", 1.0).image
    assert np.array_equal(np.asarray(image), np.asarray(expected))


def test_service_file_formats_are_checked_and_the_mesh_is_extracted_once(running_app, files):
    service = running_app[0]
    with pytest.raises(ValueError, match="file_format must be one of 'gif', 'webp', 'mp4'; got 'avi'"):
        service.orbit(files["car"], file_format="avi")
    with pytest.raises(ValueError, match="file_format must be one of 'glb', 'obj', 'ply'; got 'stl'"):
        service.mesh(files["car"], "stl")
    first = service.mesh(files["car"], "ply")
    prepared = service.prepare(files["car"])
    mesh = prepared.mesh
    assert service.mesh(files["car"], "glb").read_bytes()[:4] == b"glTF" and prepared.mesh is mesh
    assert prepared.nbytes > prepared.baked.nbytes + mesh.nbytes and first.read_bytes()[:4] == b"ply\n"


@pytest.mark.parametrize("name", sorted(BAD_UPLOADS))
def test_bad_uploads_are_refused_with_a_clear_error_and_the_app_keeps_serving(client, files, name):
    from gradio_client.exceptions import AppError

    for api_name, args in (("/novel_view", (0, 10)), ("/orbit", (10,)), ("/mesh", ())):
        with pytest.raises(AppError, match=BAD_UPLOADS[name][1]):
            predict(client, files[name], *args, api_name=api_name)
    assert Image.open(predict(client, files["car"], 0, 10, api_name="/novel_view")).size == (VIEW_RESOLUTION,) * 2


@pytest.mark.parametrize("name", sorted(ODD_UPLOADS))
def test_unusual_but_valid_uploads_are_converted(client, files, name):
    with Image.open(predict(client, files[name], 45, 10, api_name="/novel_view")) as image:
        assert image.size == (VIEW_RESOLUTION, VIEW_RESOLUTION)


def test_bad_angles_are_refused(client, files):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="pitch"):
        predict(client, files["car"], 0, 120, api_name="/novel_view")


def test_eight_clients_at_once_all_get_their_own_correct_view(running_app, files):
    from gradio_client import Client

    service, url = running_app
    requests = [(files["car" if i % 2 else "other"], 45.0 * i - 180.0) for i in range(8)]
    results: dict[int, object] = {}

    def call(index: int) -> None:
        try:
            results[index] = predict(
                Client(url, verbose=False), requests[index][0], requests[index][1], 15, api_name="/novel_view"
            )
        except Exception as error:  # reported below
            results[index] = error

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for index, (path, yaw) in enumerate(requests):
        assert not isinstance(results[index], Exception), results[index]
        expected = np.asarray(service.novel_view(path, yaw, 15).image, dtype=np.int16)
        assert np.abs(pixels(results[index]) - expected).max() <= 1, f"client {index} got another view"


def test_memory_stays_bounded_across_many_different_images(client, running_app, tmp_path):
    psutil = pytest.importorskip("psutil")
    service, _ = running_app
    paths = []
    for seed in range(40):
        paths.append(tmp_path / f"image{seed}.png")
        paths[-1].write_bytes(png_bytes(pattern(100 + seed)))
    for path in paths[:10]:  # warm up allocators and Gradio's per-route state
        predict(client, path, 0, 10, api_name="/novel_view")
    before = psutil.Process().memory_info().rss
    for path in paths[10:]:
        predict(client, path, 0, 10, api_name="/novel_view")
    growth = psutil.Process().memory_info().rss - before
    assert len(service.cache) <= service.cache.max_entries
    assert growth < 40 * 2**20, f"memory grew by {growth / 2**20:.1f} MiB over 30 requests"


# ---------------------------------------------------------------------------------------------------------------
# the serving layer without Gradio
class Sized:
    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes


def test_lru_cache_is_bounded_in_entries_and_bytes():
    cache = serving.LRUCache(max_entries=2, max_bytes=100)
    for key in "abc":
        cache.get_or_create(key, lambda: Sized(10))
    assert list(cache._entries) == ["b", "c"]
    cache.get_or_create("b", lambda: Sized(10))  # refresh b: c is now the oldest
    cache.put("d", Sized(95))
    assert list(cache._entries) == ["d"] and cache.nbytes == 95


def test_lru_cache_computes_a_missing_value_once_for_concurrent_callers():
    cache, calls, gate = serving.LRUCache(), [], threading.Event()

    def create():
        calls.append(1)
        gate.wait(5)
        return Sized(1)

    threads = [threading.Thread(target=cache.get_or_create, args=("key", create)) for _ in range(6)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(5)
    assert len(calls) == 1 and cache.hits == 5


def test_read_upload_keys_by_content_and_refuses_big_files_before_reading(tmp_path, monkeypatch):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(png_bytes(pattern(0)))
    second.write_bytes(first.read_bytes())
    assert serving.read_upload(first)[0] == serving.read_upload(second)[0] == serving.read_upload(first.read_bytes())[0]
    assert (
        serving.read_upload(pattern(0))[0] == serving.read_upload(pattern(0))[0] != serving.read_upload(pattern(1))[0]
    )
    monkeypatch.setenv("PIX2NERF_LIMIT_IMAGE_BYTES", "10")
    with pytest.raises(ValueError, match="MiB"):
        serving.read_upload(first)
    with pytest.raises(FileNotFoundError):
        serving.read_upload(tmp_path / "missing.png")


def test_pose_ranges_follow_the_config_prior():
    cars = serving.PoseRange.from_config(Pix2NeRFConfig.from_preset("synthetic_cars"))
    assert (cars.yaw_min, cars.yaw_max) == (-180, 180) and 0 < cars.pitch_min < 10 and cars.pitch_max == 90
    assert cars.presets["side"] == (90, cars.pitch_min) and cars.presets["top"] == (0, 90)
    assert cars.presets["back"][0] in (180, -180)
    faces = serving.PoseRange.from_config(Pix2NeRFConfig.from_preset("celeba"))
    assert -40 < faces.yaw_min < -30 and faces.presets["back"][0] == faces.yaw_max
    assert cars.clamp(270, -30) == (-90, cars.pitch_min)


def test_check_angles_wraps_yaw_and_refuses_bad_pitch():
    assert serving.check_angles(190, 5) == (-170.0, 5.0)
    for yaw, pitch, message in (
        (0, 91, r"pitch must be a finite number in \[-90, 90\], got 91"),
        (float("nan"), 0, "yaw must be a finite number in .*, got nan"),
        ("left", 0, "yaw must be a finite number in .*, got 'left'"),
        ("190", 5, "yaw must be"),
        (10**400, 0, "got an integer of 1329 bits"),
        (1e7, 0, r"yaw must be a finite number in \[-1e\+06, 1e\+06\]"),
    ):
        with pytest.raises(ValueError, match=message):
            serving.check_angles(yaw, pitch)


def test_depth_image_masks_the_background_by_opacity():
    opacity = torch.zeros(1, 4, 4)
    opacity[0, 1:3, 1:3] = 1.0
    depth = torch.linspace(0.9, 1.1, 16).reshape(1, 4, 4) * opacity
    image = serving.depth_image(RenderOutput(rgb=torch.ones(1, 3, 4, 4), depth=depth, opacity=opacity))
    rgba = np.asarray(image)
    assert image.mode == "RGBA" and (rgba[..., 3] == np.rint(opacity[0].numpy() * 255)).all()
    assert not np.array_equal(rgba[1, 1, :3], rgba[2, 2, :3])  # near and far differ in colour


# ---------------------------------------------------------------------------------------------------------------
# choosing the model
def test_the_model_comes_from_the_environment_variable(app_module, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("PIX2NERF_MODEL", str(tiny_model_dir))
    service = app_module.load_service(None)
    assert service.model.config.preset == "tiny"


def test_by_default_the_app_serves_the_embedded_trained_model(app_module, monkeypatch):
    monkeypatch.delenv("PIX2NERF_MODEL", raising=False)
    service = app_module.load_service(None)
    config = service.model.config
    assert config.preset == "synthetic_cars_triplane" and service.model.encoder is not None
    assert service.pose_range.yaw_max - service.pose_range.yaw_min >= 359  # cars: all around


def test_a_missing_embedded_model_is_a_clear_error(app_module, monkeypatch, tmp_path):
    monkeypatch.delenv("PIX2NERF_MODEL", raising=False)
    monkeypatch.setattr(serving, "DEFAULT_MODEL_DIR", tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="default model is missing"):
        app_module.load_service(None)


def test_an_unknown_model_offline_is_a_one_line_error(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "app.py"), "--model", "nobody/no-such-pix2nerf-model"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-pix2nerf-model" in lines[0] and "Traceback" not in result.stderr
