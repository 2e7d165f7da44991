"""The app in a real browser: Debian's chromium driven by Playwright (no browser download).

Also takes the README's screenshot of the app on its default model:
    python tests/test_browser.py --screenshot docs/images/app_screenshot.png [--example examples/car_0.png]
"""

from __future__ import annotations

import argparse
import os
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000


def open_browser(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def upload(page, url: str, image: Path, auto_refine: bool = True) -> str:
    """Open the app, upload `image` (with "Refine each new photo" ticked or not), wait for the first novel view;
    returns that view's URL."""
    page.goto(url, timeout=TIMEOUT_MS)
    if not auto_refine:
        page.locator("#auto-refine input[type=checkbox]").uncheck()
    page.locator("#input-image input[type=file]").set_input_files(str(image))
    view = page.locator("#novel-view img")
    view.wait_for(state="visible", timeout=TIMEOUT_MS)
    return view.get_attribute("src")


def drag_slider(page, elem_id: str, fraction: float) -> None:
    """Press the mouse on a slider's track at `fraction` of its width and release it there (a release event)."""
    track = page.locator(f"#{elem_id} input[type=range]")
    track.scroll_into_view_if_needed()  # mouse events land only inside the viewport
    box = track.bounding_box()
    x, y = box["x"] + fraction * box["width"], box["y"] + box["height"] / 2
    page.mouse.move(x - 5, y)
    page.mouse.down()
    page.mouse.move(x, y, steps=3)
    page.mouse.up()


def fetch_pixels(url: str) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=30) as response:
        return np.asarray(Image.open(response).convert("RGB"), dtype=np.int16)


def test_upload_then_moving_the_yaw_slider_changes_the_view_and_bad_uploads_show_an_error(tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run must `apt-get install -y chromium`")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI runs this test")
    from playwright.sync_api import expect, sync_playwright
    from test_app import launch, load_app, pattern, save_tiny_model

    app = load_app()
    service = app.load_service(
        str(save_tiny_model(tmp_path / "model")),
        view_resolution=32,
        orbit_frames=4,
        bake_options={"resolution": 16, "brick": 2},
    )
    demo, url = launch(app, service)
    image = tmp_path / "car.png"
    pattern(0, (64, 48)).save(image)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is text, not an image\n" * 8)
    try:
        with sync_playwright() as playwright:
            browser = open_browser(playwright)
            page = browser.new_page()
            upload(page, url, image)
            # the encoder's view first, then, refined automatically, the refined one from the refined pose
            steps = page.locator("#refine-steps input[type=number]")
            expect(steps).to_have_value(str(service.refine_settings.steps), timeout=TIMEOUT_MS)
            expect(page.locator("#estimated-pose")).to_contain_text("Refined camera", timeout=TIMEOUT_MS)
            view = page.locator("#novel-view img")
            refined = view.get_attribute("src")
            drag_slider(page, "yaw", 0.85)
            expect(view).not_to_have_attribute("src", refined, timeout=TIMEOUT_MS)
            turned = view.get_attribute("src")
            changed = np.abs(fetch_pixels(refined) - fetch_pixels(turned)).max() > 0
            assert changed, "the view did not change with the yaw"
            assert service.cache.misses == 2  # encoded, refined; the slider reused the refined latent and baked field

            page = browser.new_page()  # a broken upload: an error message in the page, and the app keeps serving
            page.goto(url, timeout=TIMEOUT_MS)
            page.locator("#input-image input[type=file]").set_input_files(str(broken))
            expect(page.get_by_text("not an image").first).to_be_visible(timeout=TIMEOUT_MS)
            upload(page, url, image)
            browser.close()
    finally:
        demo.close()


def test_a_photo_with_a_background_is_cleaned_and_refine_changes_the_view(tmp_path):
    """A car-like blob on a photographed background: "what the encoder sees" has the background removed (its border
    is the model's white), and, with "Refine each new photo" unticked, the view stays the encoder's until the Refine
    button refines the latent, with its steps shown, and redraws the view."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run must `apt-get install -y chromium`")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI runs this test")
    from playwright.sync_api import expect, sync_playwright
    from skimage import data
    from test_app import launch, load_app, save_tiny_model

    app = load_app()
    service = app.load_service(
        str(save_tiny_model(tmp_path / "model")), view_resolution=32, bake_options={"resolution": 16, "brick": 2}
    )
    demo, url = launch(app, service)
    photo = np.asarray(Image.fromarray(data.grass()).convert("RGB").resize((96, 96)), dtype=np.uint8).copy()
    y, x = np.mgrid[0:96, 0:96]
    photo[((x - 48) / 30) ** 2 + ((y - 50) / 18) ** 2 < 1] = (200, 30, 30)  # a red car-like blob
    image = tmp_path / "photo.png"
    Image.fromarray(photo).save(image)
    try:
        with sync_playwright() as playwright:
            browser = open_browser(playwright)
            page = browser.new_page()
            first = upload(page, url, image, auto_refine=False)
            shown = page.locator("#encoder-input img")
            shown.wait_for(state="visible", timeout=TIMEOUT_MS)
            pixels = fetch_pixels(shown.get_attribute("src"))
            border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
            assert (border >= 250).all(), "the photo's background reached the encoder"
            assert service.cache.misses == 1  # not refined on its own
            page.locator("#refine").click()
            steps = page.locator("#refine-steps input[type=number]")
            expect(steps).to_have_value(str(service.refine_settings.steps), timeout=TIMEOUT_MS)
            view = page.locator("#novel-view img")
            expect(view).not_to_have_attribute("src", first, timeout=TIMEOUT_MS)
            assert np.abs(fetch_pixels(first) - fetch_pixels(view.get_attribute("src"))).max() > 0
            browser.close()
    finally:
        demo.close()


def take_screenshot(output: Path, example: Path | None, model: str | None) -> None:
    """The app on its default model (or `model`), an example uploaded, refined and turned, captured at 1400 px wide."""
    from playwright.sync_api import expect, sync_playwright
    from test_app import launch, load_app

    app = load_app()
    demo, url = launch(app, app.load_service(model))
    examples = sorted(app.EXAMPLES_DIR.glob("*.png"))
    image = example or examples[0]
    try:
        with sync_playwright() as playwright:
            browser = open_browser(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            upload(page, url, image)
            expect(page.locator("#estimated-pose")).to_contain_text("Refined camera", timeout=10 * TIMEOUT_MS)
            refined = page.locator("#novel-view img").get_attribute("src")
            drag_slider(page, "yaw", 0.62)
            expect(page.locator("#novel-view img")).not_to_have_attribute("src", refined, timeout=10 * TIMEOUT_MS)
            page.wait_for_timeout(1000)
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(output), full_page=True)
            browser.close()
    finally:
        demo.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="screenshot the running app")
    parser.add_argument("--screenshot", type=Path, required=True, help="output PNG")
    parser.add_argument("--example", type=Path, default=None, help="image to upload (default: the first example)")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the app's)")
    arguments = parser.parse_args()
    take_screenshot(arguments.screenshot, arguments.example, arguments.model)
    print(f"wrote {arguments.screenshot}")
