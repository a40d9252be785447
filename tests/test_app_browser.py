"""The web app in a real browser: Debian's Chromium driven by Playwright, on loopback only."""

import socket
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import tiny_generator, tiny_sr, tiny_translator

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serve(folders):
    """The app on a free loopback port; gives its URL."""
    from translate.web_ui import build_app

    app = build_app(folders, device="cpu")
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, show_error=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (Playwright's sync API allows one instance at a time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"])
        yield browser
        browser.close()


def _open(browser, url):
    """A new page on `url`, once the app has rendered."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(url)
    page.wait_for_selector("#style-input")
    return page


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    tiny_translator(folder / "style_A2B.safetensors", ("photos", "vangogh"))
    tiny_sr(folder / "sr_x2.safetensors")
    tiny_generator(folder / "digits.safetensors")
    with _serve([folder]) as url:
        yield url


@pytest.fixture(scope="module")
def page(browser, server):
    page = _open(browser, server)
    yield page
    page.close()


def _natural_sizes(page, selector):
    return page.evaluate(f"""async () => Promise.all(Array.from(document.querySelectorAll('{selector} img'))
        .map(async i => {{ await i.decode(); return [i.naturalWidth, i.naturalHeight]; }}))""")


def _no_error_toast(page):
    toasts = page.locator(".toast-body.error")
    assert toasts.count() == 0, toasts.all_inner_texts()


def _run(page, prefix: str) -> None:
    """Click the tab's run button and wait for a new result (the old one is cleared first)."""
    page.evaluate(f"document.querySelectorAll('#{prefix}-output img').forEach(i => i.removeAttribute('src'))")
    page.click(f"#{prefix}-run")
    page.wait_for_selector(f"#{prefix}-output img[src]", timeout=60_000)
    page.wait_for_timeout(300)
    _no_error_toast(page)


def _upload_and_run(page, tab: str, prefix: str, image: Path) -> None:
    page.get_by_role("tab", name=tab).click()
    page.set_input_files(f"#{prefix}-input input[type=file]", str(image))
    page.wait_for_timeout(500)
    _run(page, prefix)


def _tabs(page) -> list[str]:
    return [t.strip() for t in page.get_by_role("tab").all_inner_texts()]


def test_style_tab(page, samples, screenshots):
    page.reload()
    page.wait_for_selector("#style-input")
    # before a result: the limits stated, no empty PNG box, no inspection panel
    assert "Images up to 4 MP; larger ones are scaled down to 4 MP" in page.inner_text("#style-limits")
    assert not page.locator("#style-file").is_visible() and not page.locator("#style-inspect").is_visible()
    page.screenshot(path=str(screenshots / "style-empty.png"), full_page=True)
    _upload_and_run(page, "Style transfer", "style", samples / "photos_vangogh/photos/golden_gate.jpg")
    # the before/after slider: input and output, both at full size
    page.wait_for_function("document.querySelectorAll('#style-output img').length == 2")
    assert _natural_sizes(page, "#style-output") == [[979, 734], [979, 734]]
    assert "golden_gate_style_A2B\n.png" in page.inner_text("#style-file")
    assert "979×734; left: input, right: output" in page.inner_text("#style-info")
    assert page.locator("#style-inspect").is_visible() and not page.locator("#style-crop").is_visible()
    page.screenshot(path=str(screenshots / "style.png"), full_page=True)
    page.locator("#style-inspect").get_by_text("Inspect at full size").click()  # collapsed until opened
    page.locator("#style-crop").wait_for(state="visible")
    assert _natural_sizes(page, "#style-crop") == [[2 * 320 + 8, 320]]  # input | output, 1:1
    page.locator("#style-view").get_by_text("whole image").click()  # input | output, both whole at full size
    page.wait_for_function("document.querySelector('#style-crop img')?.naturalWidth == 2 * 979 + 8",
                           timeout=30_000)
    assert _natural_sizes(page, "#style-crop") == [[2 * 979 + 8, 734]]
    _no_error_toast(page)
    # the brush: medium by default; large paints a smaller copy and comes back at the photo's full size
    assert page.locator("#style-brush input[value=medium]").is_checked()
    page.locator("#style-brush").get_by_text("large", exact=True).click()
    link = "document.querySelector('#style-file a')?.getAttribute('href')"
    before = page.evaluate(link)
    page.click("#style-run")  # the slider's input half keeps its address, so wait for the new PNG instead
    page.wait_for_function(f"{link} && {link} != {before!r}", timeout=60_000)
    _no_error_toast(page)
    assert _natural_sizes(page, "#style-output") == [[979, 734], [979, 734]]
    page.screenshot(path=str(screenshots / "style-brush-large.png"), full_page=True)


def test_super_resolution_tab(page, samples, screenshots):
    _upload_and_run(page, "Super-resolution", "sr", samples / "realworld_lq/0014.jpg")
    page.wait_for_function("document.querySelectorAll('#sr-output img').length == 2")
    assert _natural_sizes(page, "#sr-output") == [[358, 358], [358, 358]]
    assert "179×179 → 358×358" in page.inner_text("#sr-info")
    assert "Images up to 4 MP" in page.inner_text("#sr-limits")
    page.locator("#sr-inspect").get_by_text("Inspect at full size").click()
    page.locator("#sr-crop").wait_for(state="visible")
    assert _natural_sizes(page, "#sr-crop") == [[2 * 320 + 8, 320]]
    assert "0014_x2\n.png" in page.inner_text("#sr-file")
    page.screenshot(path=str(screenshots / "super-resolution.png"), full_page=True)


@pytest.mark.parametrize("tab, prefix, sizes", [
    ("Style transfer", "style", [[979, 734], [1024, 768], [256, 256], [1024, 768]]),
    ("Super-resolution", "sr", [[512, 384], [128, 128], [256, 256], [144, 144], [358, 358]])])
def test_every_example_runs_then_an_upload(page, samples, tab, prefix, sizes):
    """Clicking an example and running it works (it used to fail with "'str' object has no attribute 'path'",
    and so did every upload after it), for every example, and an upload still works afterwards."""
    page.reload()
    page.wait_for_selector("#style-input")
    page.get_by_role("tab", name=tab).click()
    examples = page.locator(f"#{prefix}-examples .gallery-item")
    assert examples.count() == len(sizes)
    for i in range(examples.count()):
        examples.nth(i).click()
        page.wait_for_timeout(500)
        _run(page, prefix)
        assert _natural_sizes(page, f"#{prefix}-output")[-1] == sizes[i]
    page.set_input_files(f"#{prefix}-input input[type=file]", str(samples / "horse2zebra/0.png"))
    page.wait_for_timeout(500)
    _run(page, prefix)


def test_slider_moves_the_crop(page, samples):
    _upload_and_run(page, "Super-resolution", "sr", samples / "realworld_lq/0014.jpg")
    if not page.locator("#sr-crop").is_visible():
        page.locator("#sr-inspect").get_by_text("Inspect at full size").click()
    before = page.get_attribute("#sr-crop img", "src")
    slider = page.locator("#sr-x input[type=number]")
    slider.fill("0")
    slider.press("Enter")
    page.wait_for_function(f"document.querySelector('#sr-crop img').src != {before!r}", timeout=30_000)
    _no_error_toast(page)


def test_batch_tab(page, samples, tmp_path, screenshots):
    bad = tmp_path / "holiday.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    page.get_by_role("tab", name="Batch").click()
    page.set_input_files("#batch-input input[type=file]",
                         [str(samples / "realworld_lq/0014.jpg"), str(bad), str(samples / "horse2zebra/0.png")])
    page.wait_for_timeout(1000)
    page.click("#batch-run")
    page.wait_for_function("document.querySelector('#batch-log textarea').value.includes('written')",
                           timeout=60_000)
    log = page.input_value("#batch-log textarea")
    assert log.endswith("2 written, 0 skipped, 1 failed")
    assert "error: holiday.png: " in log
    assert ".zip" in page.inner_text("#batch-output")
    page.screenshot(path=str(screenshots / "batch.png"), full_page=True)


def test_corrupt_upload_shows_error(page, tmp_path):
    bad = tmp_path / "holiday.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    page.reload()  # a fresh, empty upload field
    page.wait_for_selector("#style-input")
    page.set_input_files("#style-input input[type=file]", str(bad))
    page.wait_for_timeout(500)
    page.click("#style-run")
    page.get_by_text("holiday.png: corrupt or truncated image").wait_for(timeout=30_000)


def test_photo_over_the_limit_is_scaled_down_with_a_note(page, tmp_path):
    """A 12 MP phone photo (here 4.3 MP, over the 4 MP limit) is scaled down to the limit, not refused."""
    import numpy as np
    from PIL import Image

    photo = tmp_path / "IMG_0001.jpg"
    gradient = np.linspace(0, 255, 2400, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(gradient, (1800, 1))] * 3, axis=2)).save(photo, quality=90)
    page.reload()
    page.wait_for_selector("#style-input")
    _upload_and_run(page, "Style transfer", "style", photo)
    info = page.inner_text("#style-info")
    assert "note: IMG_0001.jpg: 2400x1800 (4.32 MP) scaled down to 2309x1732, the limit of 4 MP here" in info
    page.wait_for_function("document.querySelectorAll('#style-output img').length == 2")
    assert _natural_sizes(page, "#style-output") == [[2309, 1732], [2309, 1732]]


def test_tabs_without_a_model_are_left_out(page):
    """This server has no label-map model: no Paired translation tab (it was there, with an empty dropdown)."""
    page.reload()
    page.wait_for_selector("#style-input")
    assert _tabs(page) == ["Style transfer", "Super-resolution", "Batch", "Video", "Generate", "Models"]


def test_other_tabs_render(page, screenshots):
    page.reload()
    page.wait_for_selector("#style-input")
    page.get_by_role("tab", name="Batch").click()
    assert "Up to 100 files at once" in page.inner_text("#batch-limits")
    page.get_by_role("tab", name="Generate").click()
    assert page.input_value("#gen-class input") == "every class"
    page.click("#gen-run")
    page.wait_for_selector("#gen-strip img[src]", timeout=60_000)
    _no_error_toast(page)
    for tab in ("Generate", "Models"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(300)
        page.screenshot(path=str(screenshots / f"{tab.lower().replace(' ', '-')}.png"), full_page=True)
    assert "digits" in page.inner_text("body")


def test_bundled_models(browser, samples, screenshots):
    """No flags: the app serves the bundled models; the style tab starts on vangogh (trained on 398 paintings,
    where monet, first by name, learned from one); the Models tab shows the pairs' cards."""
    with _serve(None) as url:
        page = _open(browser, url)
        assert "photos → vangogh" in page.input_value("#style-model input")
        _upload_and_run(page, "Style transfer", "style", samples / "photos_vangogh/photos/tubingen.jpg")
        assert _natural_sizes(page, "#style-output") == [[1024, 768], [1024, 768]]
        page.screenshot(path=str(screenshots / "bundled-style.png"), full_page=True)
        page.get_by_role("tab", name="Models").click()
        # a compact table, a row per model, and a collapsed panel per card
        rows = page.locator("#models table tr")
        assert rows.count() == 1 + 5
        assert "photos ↔ vangogh" in rows.nth(5).inner_text() and "Set5 31.51 dB" in rows.nth(4).inner_text()
        page.screenshot(path=str(screenshots / "bundled-models.png"), full_page=True)
        assert page.evaluate("document.body.scrollHeight") < 2500  # it was a 6,900-pixel wall of cards
        for name in ("vangogh", "monet"):
            first_line = (Path(__file__).parent.parent / "translate/weights" / f"{name}.md").read_text().splitlines()[0]
            title = first_line.lstrip("# ").strip()
            assert not page.get_by_text(title).is_visible()
            page.get_by_text(f"{name}: photos ↔ {name} (spec and card)").click()
            page.get_by_text(title).wait_for(state="visible")
        text = page.inner_text("body")
        assert "network: resnet (n_blocks 6, ngf 32, norm instance, upsample resize)" in text and "{'" not in text
        page.screenshot(path=str(screenshots / "bundled-models-open.png"), full_page=True)
        # the paired tab: the bundled facades model on the pre-drawn sketch (the upload field hidden)
        page.get_by_role("tab", name="Paired translation").click()
        assert "labels → facades" in page.input_value("#paired-tab-model input")
        assert page.locator("#paired-sketch").is_visible() and not page.locator("#paired-input").is_visible()
        page.screenshot(path=str(screenshots / "bundled-paired-sketch.png"), full_page=True)
        _run(page, "paired")
        assert _natural_sizes(page, "#paired-output") == [[256, 256]]
        # picking an example switches the input to Upload, visibly; then on each drawn example, no warning
        examples = page.locator("#paired-examples .gallery-item")
        assert examples.count() == 3
        for i in range(3):
            examples.nth(i).click()
            page.wait_for_timeout(500)
            page.locator("#paired-sketch").wait_for(state="hidden", timeout=10_000)
            assert page.locator("#paired-input").is_visible()
            _run(page, "paired")
            assert _natural_sizes(page, "#paired-output") == [[256, 256]]
            assert "warning" not in page.inner_text("#paired-info")
        page.screenshot(path=str(screenshots / "bundled-paired.png"), full_page=True)
        # a photo uploaded instead of a label map is translated, with a warning saying why it looks wrong
        page.set_input_files("#paired-input input[type=file]", str(samples / "photos_vangogh/photos/tubingen.jpg"))
        page.wait_for_timeout(500)
        _run(page, "paired")
        assert "tubingen.jpg does not look like a label map" in page.inner_text("#paired-info")
        page.screenshot(path=str(screenshots / "bundled-paired-photo.png"), full_page=True)
        # back to the sketch: the pad is the input again, the upload ignored
        page.locator("#paired-source").get_by_text("Sketch").click()
        page.locator("#paired-sketch").wait_for(state="visible")
        assert not page.locator("#paired-input").is_visible()
        _run(page, "paired")
        assert page.inner_text("#paired-info").strip() == ""
        page.close()
