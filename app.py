"""The pix2nerf demo (Gradio 6 Blocks; also the Hugging Face Space): one photo in, novel views, a depth map, an
orbit animation and a mesh out. The work happens in `pix2nerf.serving.service`; this file only wires components to it.

    python app.py [--model FOLDER_OR_HUB_ID] [--host 0.0.0.0] [--port 7860] [--share]

API (gradio_client): /novel_view (image, yaw, pitch, refine_steps=0) -> PNG, /orbit (image, pitch,
file_format="webp", refine_steps=0) -> an animated WebP or GIF or an MP4, /mesh (image, file_format="glb",
refine_steps=0) -> GLB, OBJ or PLY. Angles are degrees; yaw 0 / pitch 0 is the front view; refine_steps > 0 refines
the encoder's latent against the photo first (Pix2NeRF.invert).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image
from starlette.middleware import Middleware

from pix2nerf.limits import current as current_limits
from pix2nerf.serving import service as serving
from pix2nerf.serving.request_limit import BodySizeLimit

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
CONCURRENCY_LIMIT = 2  # events run at once (novel views); orbits and meshes run one at a time
QUEUE_SIZE = 64
ENCODER_DISPLAY_SIZE = 256  # px: the encoder's input is shown enlarged, pixels kept sharp
DELETE_CACHE = (600, 1800)  # every 10 minutes, delete Gradio's cached files older than 30 minutes
TITLE = "pix2nerf: one photo in, a 3D object out"
INTRO = """# pix2nerf
Upload a photo of a car (or take one with the webcam, or paste one), then move the sliders to look at it from
anywhere. [Pix2NeRF](https://arxiv.org/abs/2202.13162) encodes the photo into a radiance field; the interactive view
reads that field baked onto a grid, "full" renders it with the model's own sampler. The embedded default model (a
tri-plane field) was trained from scratch for 78 minutes on one GPU on synthetic cars: expect low-resolution cars
whose pose follows the photo, closer to its colour and body than the previous model's, with blurred detail: on
held-out cars its novel views score 17.2 dB PSNR from the encoder alone and 18.1 dB once refined against the photo
(the app refines each new photo unless you untick it; the expected time shows beside Refine), some colours shift (a
blue car may come out grey), and the encoder takes about one view in eight for the opposite end of the car (its model
card in `pix2nerf/models/pix2nerf-synthetic-cars` has the numbers). Photos unlike its training data (a car on white)
get a poor fit score and a car-like guess."""


def load_service(model: str | None = None, **service_options: Any) -> serving.Service:
    """The app's model and request handling: `model` is a local folder or hub repo id (None: $PIX2NERF_MODEL,
    else the embedded default model); `service_options` are `serving.Service` fields (view_resolution, ...)."""
    return serving.Service(serving.load_model(model), **service_options)


def _user_errors(function: Callable) -> Callable:
    """Show bad input (ValueError, FileNotFoundError from the package) as a gr.Error, not a crash."""

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (ValueError, FileNotFoundError) as error:
            raise gr.Error(str(error), print_exception=False) from None

    return wrapped


def _upload(payload: Any) -> str | bytes:
    """The file behind an unprocessed gr.Image payload (events run with preprocess=False, so that the package,
    not PIL inside Gradio, validates every upload): its path, or the bytes of a data URL."""
    if payload is None:
        raise ValueError("no image: upload a photo (PNG, JPEG or WebP) first")
    if isinstance(payload, dict):
        if payload.get("path"):
            return payload["path"]
        url = payload.get("url")
        if isinstance(url, str) and url.startswith("data:"):
            return url  # decoded by the service, its size checked first
    raise ValueError("the image did not arrive as a file; upload a PNG, JPEG or WebP")


def _view_caption(quality: str, resolution: int, seconds: float) -> str:
    return f"{quality} view, {resolution}x{resolution} px, rendered in {seconds * 1000:.0f} ms"


def _refine_estimate(service: serving.Service, steps: float) -> str:
    steps = int(steps) or service.refine_settings.steps
    return f"{steps} refinement steps: about {service.refine_seconds(steps):.0f} s on this machine"


def build_demo(service: serving.Service) -> gr.Blocks:
    """The Blocks app on `service`, with its queue configured."""
    poses = service.pose_range
    encoder_resolution = service.model.config.encoder_resolution

    def prepared_upload(payload: Any, clean: bool, size: float, steps: float = 0, progress=None) -> serving.CachedImage:
        preprocessing = serving.Preprocessing(bool(clean), float(size))
        return service.prepare(_upload(payload), preprocessing, steps, progress)

    def refined_upload(payload: Any, clean: bool, size: float, steps: int, progress) -> serving.CachedImage:
        """`prepared_upload` refined with `steps` steps, each reported on `progress` (a gr.Progress)."""
        progress(0.0, desc="refining")
        report = lambda done, total: progress(done / total, desc=f"step {done}/{total}")  # noqa: E731
        return prepared_upload(payload, clean, size, steps, report)

    def own_pose(prepared: serving.CachedImage) -> tuple[float, float]:
        """The sliders' pose for a prepared image: its latent's own, rounded to the sliders' steps."""
        return poses.clamp(round(prepared.yaw), round(prepared.pitch))

    def own_view(prepared: serving.CachedImage, quality: str, zoom: float, refined: bool = False):
        """(pose text, yaw, pitch, view, depth, caption) of a prepared image seen from its own pose."""
        yaw, pitch = own_pose(prepared)
        view = service.novel_view(prepared, yaw, pitch, quality, zoom)
        camera = "Refined camera" if refined else "Estimated camera"
        pose = f"**{camera}:** yaw {prepared.yaw:.1f}°, pitch {prepared.pitch:.1f}°. **Fit:** {prepared.fit}"
        return pose, yaw, pitch, view.image, view.depth, _view_caption(quality, service.view_resolution, view.seconds)

    @_user_errors
    def on_new_image(payload: Any, quality: str, clean: bool, size: float, zoom: float):
        if payload is None:  # cleared
            return None, "", gr.update(), gr.update(), None, None, ""
        prepared = prepared_upload(payload, clean, size)
        shown = prepared.encoder_input.resize((ENCODER_DISPLAY_SIZE,) * 2, Image.Resampling.NEAREST)
        return shown, *own_view(prepared, quality, zoom)

    @_user_errors
    def on_auto_refine(
        payload: Any,
        auto: bool,
        yaw: float,
        pitch: float,
        quality: str,
        clean: bool,
        size: float,
        zoom: float,
        progress=gr.Progress(),  # noqa: B008
    ):
        """After a new image's first view: refine it with the default steps when `auto`, then show the refined view
        from the refined pose, or from the sliders' pose where the user has moved them meanwhile."""
        if payload is None or not auto:
            return (gr.update(),) * 7
        steps = service.refine_settings.steps
        refined = refined_upload(payload, clean, size, steps, progress)
        if (yaw, pitch) == own_pose(prepared_upload(payload, clean, size)):  # the sliders where the encoder put them
            return steps, *own_view(refined, quality, zoom, refined=True)
        kept = (gr.update(),) * 3  # the pose text and the sliders as the user left them
        return steps, *kept, *on_view(payload, yaw, pitch, quality, clean, size, zoom, steps)

    @_user_errors
    def on_view(
        payload: Any, yaw: float, pitch: float, quality: str, clean: bool, size: float, zoom: float, steps: float = 0
    ):
        view = service.novel_view(prepared_upload(payload, clean, size, steps), yaw, pitch, quality, zoom)
        return view.image, view.depth, _view_caption(quality, service.view_resolution, view.seconds)

    @_user_errors
    def on_refine(
        payload: Any,
        steps: float,
        yaw: float,
        pitch: float,
        quality: str,
        clean: bool,
        size: float,
        zoom: float,
        progress=gr.Progress(),  # noqa: B008
    ):
        steps = int(steps) or service.refine_settings.steps
        refined_upload(payload, clean, size, steps, progress)
        return steps, *on_view(payload, yaw, pitch, quality, clean, size, zoom, steps)

    @_user_errors
    def novel_view(image: Any, yaw: float, pitch: float, refine_steps: float = 0):
        """A novel view (PNG, interactive quality) of the image from yaw and pitch in degrees; refine_steps > 0
        refines the latent against the image first."""
        return service.novel_view(_upload(image), yaw, pitch, refine_steps=refine_steps).image

    @_user_errors
    def orbit(
        image: Any,
        pitch: float,
        file_format: str = "webp",
        refine_steps: float = 0,
        remove_background: bool = True,
        foreground_size: float = 0.0,
        zoom: float = 1.0,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ):
        """The camera circling the object at `pitch` degrees: an animated WebP or GIF, or an MP4 (file_format);
        refine_steps > 0 refines the latent against the image first; the photo is prepared as the view's is
        (remove_background, foreground_size: 0 for the training data's) and magnified `zoom` times."""

        def report(done: int, total: int) -> None:
            progress(done / total, desc=f"frame {done} of {total}")

        progress(0.0, desc="encoding the image")
        preprocessing = serving.Preprocessing(bool(remove_background), float(foreground_size))
        path = service.orbit(
            _upload(image), pitch, report, zoom, file_format, refine_steps=refine_steps, preprocessing=preprocessing
        )
        return str(path)

    def orbit_preview(path: str | None):
        """The orbit file shown in the player that plays it: MP4 in the video player, WebP and GIF as an image."""
        video = path is not None and path.endswith(".mp4")
        return (
            gr.update(value=None if video else path, visible=not video),
            gr.update(value=path if video else None, visible=video),
        )

    @_user_errors
    def mesh(
        image: Any,
        file_format: str = "glb",
        refine_steps: float = 0,
        remove_background: bool = True,
        foreground_size: float = 0.0,
    ):
        """A mesh of the object (marching cubes on the density, vertex colours) as GLB, OBJ or PLY (file_format);
        refine_steps and the photo's preparation as for `orbit`."""
        preprocessing = serving.Preprocessing(bool(remove_background), float(foreground_size))
        return str(service.mesh(_upload(image), file_format, refine_steps, preprocessing))

    @_user_errors
    def mesh_preview(image: Any, file: dict, steps: float = 0, clean: bool = True, size: float = 0.0):
        """The GLB that the 3D viewer shows: the mesh file itself (an unprocessed gr.File payload), or the same
        mesh as GLB."""
        if file["path"].endswith(".glb"):
            return file["path"]
        return str(service.mesh(_upload(image), "glb", steps, serving.Preprocessing(bool(clean), float(size))))

    with gr.Blocks(title=TITLE, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column():
                image = gr.Image(
                    label="Photo",
                    sources=["upload", "webcam", "clipboard"],
                    type="filepath",
                    image_mode=None,
                    height=256,
                    elem_id="input-image",
                )
                examples = sorted(EXAMPLES_DIR.glob("*.png"))
                if examples:
                    gr.Examples([[str(p)] for p in examples], inputs=[image], label="Held-out test objects")
            with gr.Column():
                encoder_input = gr.Image(
                    label=f"What the encoder sees ({encoder_resolution}x{encoder_resolution})",
                    interactive=False,
                    height=256,
                    elem_id="encoder-input",
                    format="png",
                )
                pose = gr.Markdown(elem_id="estimated-pose")
                with gr.Row():
                    clean = gr.Checkbox(
                        value=True,
                        label="Remove the background and re-frame",
                        info="off: the photo is only cropped and resized",
                        elem_id="remove-background",
                    )
                    size = gr.Slider(
                        0.0,
                        1.0,
                        value=0.0,
                        step=0.05,
                        label="Object size in the frame",
                        info="0: as in the training data",
                        elem_id="foreground-size",
                    )
        with gr.Row():
            with gr.Column():
                yaw = gr.Slider(
                    poses.yaw_min,
                    poses.yaw_max,
                    value=poses.presets["front"][0],
                    step=1,
                    label="Yaw (degrees)",
                    info="0 is the front, 90 the left side",
                    elem_id="yaw",
                )
                pitch = gr.Slider(
                    poses.pitch_min,
                    poses.pitch_max,
                    value=poses.presets["front"][1],
                    step=1,
                    label="Pitch (degrees)",
                    info="positive looks from above",
                    elem_id="pitch",
                )
                with gr.Row():
                    preset_buttons = {name: gr.Button(name, size="sm") for name in poses.presets}
                quality = gr.Radio(list(serving.QUALITIES), value="interactive", label="Quality")
                zoom = gr.Slider(
                    0.5, 3.0, value=1.0, step=0.1, label="Zoom", info="above 1 the object fills more", elem_id="zoom"
                )
                refine_steps = gr.Slider(
                    0,
                    serving.MAX_REFINE_STEPS,
                    value=0,
                    step=1,
                    label="Refine steps",
                    info="0: the encoder alone; Refine fits the photo (the default steps when 0)",
                    elem_id="refine-steps",
                )
                with gr.Row():
                    refine_button = gr.Button("Refine", size="sm", elem_id="refine")
                    auto_refine = gr.Checkbox(
                        value=True,
                        label="Refine each new photo",
                        info="the encoder's view first, then the refined one",
                        elem_id="auto-refine",
                    )
                refine_estimate = gr.Markdown(elem_id="refine-estimate")
            with gr.Column():
                view = gr.Image(label="Novel view", format="png", interactive=False, height=320, elem_id="novel-view")
                caption = gr.Markdown(elem_id="view-caption")
            with gr.Column():
                depth = gr.Image(label="Depth (near red, far blue)", format="png", interactive=False, height=320)
        with gr.Tabs():
            with gr.Tab("Orbit"):
                orbit_format = gr.Radio(
                    list(serving.ORBIT_FORMATS), value="webp", label="File format", info="mp4: H.264 video"
                )
                orbit_button = gr.Button("Render an orbit around the object", variant="primary")
                orbit_output = gr.Image(label="Orbit", interactive=False, height=320, buttons=["download"])
                orbit_video = gr.Video(label="Orbit (MP4)", interactive=False, height=320, visible=False)
                orbit_file = gr.File(label="Download the orbit", interactive=False)
            with gr.Tab("Mesh"):
                mesh_format = gr.Radio(
                    list(serving.MESH_FILE_FORMATS),
                    value="glb",
                    label="File format",
                    info="the viewer shows the GLB; OBJ and PLY (vertex colours) are for download",
                )
                mesh_button = gr.Button("Extract a mesh", variant="primary")
                mesh_view = gr.Model3D(
                    label="Mesh (GLB)", interactive=False, clear_color=(1.0, 1.0, 1.0, 1.0), height=320
                )
                mesh_file = gr.File(label="Download the mesh", interactive=False)
        api_trigger = gr.Button(visible=False)

        view_outputs = [view, depth, caption]
        private = dict(api_visibility="private", preprocess=False)
        framing = [clean, size, zoom]
        heavy = dict(preprocess=False, concurrency_limit=1, concurrency_id="heavy")
        gr.on(
            [image.change, clean.change, size.release],
            on_new_image,
            [image, quality, *framing],
            [encoder_input, pose, yaw, pitch, *view_outputs],
            **private,
        ).success(
            on_auto_refine,
            [image, auto_refine, yaw, pitch, quality, *framing],
            [refine_steps, pose, yaw, pitch, *view_outputs],
            api_visibility="private",
            show_progress_on=[view],  # the sliders stay free to move meanwhile
            **heavy,
        )
        # a new image or preparation starts unrefined (refined next when auto_refine is on)
        gr.on([image.change, clean.change, size.release], lambda: 0, None, [refine_steps], **dict(private, queue=False))
        view_inputs = [image, yaw, pitch, quality, *framing, refine_steps]
        gr.on([yaw.release, pitch.release, quality.change, zoom.release], on_view, view_inputs, view_outputs, **private)
        for name, button in preset_buttons.items():
            button.click(
                lambda p=poses.presets[name]: p, None, [yaw, pitch], api_visibility="private", queue=False
            ).then(on_view, view_inputs, view_outputs, **private)

        def estimate(steps: float) -> str:
            return _refine_estimate(service, steps)

        gr.on([demo.load, refine_steps.release], estimate, [refine_steps], [refine_estimate], api_visibility="private")
        refine_button.click(
            on_refine,
            [image, refine_steps, yaw, pitch, quality, *framing],
            [refine_steps, *view_outputs],
            api_visibility="private",
            **heavy,
        )
        api_trigger.click(
            novel_view, [image, yaw, pitch, refine_steps], [view], api_name="novel_view", preprocess=False
        )
        orbit_inputs = [image, pitch, orbit_format, refine_steps, *framing]
        orbit_button.click(orbit, orbit_inputs, [orbit_file], api_name="orbit", **heavy).success(
            orbit_preview, [orbit_file], [orbit_output, orbit_video], api_visibility="private", queue=False
        )
        mesh_inputs = [image, mesh_format, refine_steps, clean, size]
        mesh_button.click(mesh, mesh_inputs, [mesh_file], api_name="mesh", **heavy).success(
            mesh_preview, [image, mesh_file, refine_steps, clean, size], [mesh_view], **private
        )
    return demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_SIZE)


def launch_options() -> dict[str, Any]:
    """Keyword arguments of `Blocks.launch` that every launch of this app uses."""
    return dict(
        max_file_size=current_limits().image_bytes,
        app_kwargs={"middleware": [Middleware(BodySizeLimit)]},  # JSON bodies (data: URLs) under the same limit
        allowed_paths=[str(EXAMPLES_DIR)],
        footer_links=["api", "gradio"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        default=None,
        help="local model folder or hub repo id (default: $PIX2NERF_MODEL, else the embedded model)",
    )
    parser.add_argument("--host", default=None, help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="also serve through a temporary public gradio.live link")
    args = parser.parse_args(argv)
    try:
        service = load_service(args.model)
    except (ValueError, FileNotFoundError) as error:
        print(f"app.py: error: {error}", file=sys.stderr)
        return 2
    build_demo(service).launch(server_name=args.host, server_port=args.port, share=args.share, **launch_options())
    return 0


if __name__ == "__main__":
    sys.exit(main())
