"""Redraw the screenshots of the web app (docs/app.md, the README): the style transfer tab with the bundled
vangogh model, the super-resolution tab with sr_x4 (slider, then the 1:1 crop moved onto a detail), the Models
tab, in headless Chromium on a loopback port.

    .venv/bin/python docs/screenshots.py    # writes docs/app-style-transfer.jpg, docs/app-super-resolution.png,
                                            # docs/app-super-resolution-zoom.png and docs/app-models.png

Needs Playwright (in the `dev` extra that `make setup` installs) and Debian's chromium (`apt-get install
chromium`); takes a few minutes on a CPU.
"""

from __future__ import annotations

import io
import socket
import sys
from pathlib import Path

from PIL import Image

DOCS = Path(__file__).resolve().parent
SAMPLES = DOCS.parent / "datasets" / "samples"
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_tab(page, tab: str, prefix: str, image: Path, model: str | None = None) -> None:
    page.get_by_role("tab", name=tab).click()
    if model:
        page.click(f"#{prefix}-model input")
        page.get_by_role("option", name=model).click()
    page.set_input_files(f"#{prefix}-input input[type=file]", str(image))
    page.wait_for_timeout(500)
    page.click(f"#{prefix}-run")
    page.wait_for_selector(f"#{prefix}-output img", timeout=180_000)
    page.wait_for_timeout(1000)  # let the output image finish drawing


def main() -> int:
    sys.path.insert(0, str(DOCS.parent))
    from playwright.sync_api import sync_playwright

    from translate.web_ui import build_app

    app = build_app(None, device="cpu")
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#style-input")
            _run_tab(page, "Style transfer", "style", SAMPLES / "photos_vangogh/photos/tubingen.jpg",
                     model="photos → vangogh (vangogh_A2B)")
            shot = Image.open(io.BytesIO(page.screenshot()))
            shot.convert("RGB").save(DOCS / "app-style-transfer.jpg", quality=85)

            page.set_viewport_size({"width": 1100, "height": 900})
            _run_tab(page, "Super-resolution", "sr", SAMPLES / "sr/x4_inputs/tubingen.png")
            page.wait_for_function("document.querySelectorAll('#sr-output img').length == 2")
            page.wait_for_timeout(1000)
            page.locator("#sr-output").screenshot(path=str(DOCS / "app-super-resolution.png"))
            page.locator("#sr-inspect").get_by_text("Inspect at full size").click()  # collapsed at first
            page.locator("#sr-crop img").wait_for(state="visible")
            before = page.get_attribute("#sr-crop img", "src")
            for slider, value in (("x", "80"), ("y", "50")):  # the windows of the pink and yellow houses
                field = page.locator(f"#sr-{slider} input[type=number]")
                field.fill(value)
                field.press("Enter")
            page.wait_for_function(f"document.querySelector('#sr-crop img').src != {before!r}", timeout=60_000)
            page.wait_for_timeout(1500)
            page.locator("#sr-crop").screenshot(path=str(DOCS / "app-super-resolution-zoom.png"))

            page.set_viewport_size({"width": 1100, "height": 700})
            page.get_by_role("tab", name="Models").click()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(DOCS / "app-models.png"), full_page=True)
            browser.close()
    finally:
        app.close()
    print(f"wrote {DOCS / 'app-style-transfer.jpg'}, {DOCS / 'app-super-resolution.png'}, "
          f"{DOCS / 'app-super-resolution-zoom.png'} and {DOCS / 'app-models.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
