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
    from translate.app import build_app

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


def _upload_and_run(page, tab: str, prefix: str, image: Path) -> None:
    page.get_by_role("tab", name=tab).click()
    page.set_input_files(f"#{prefix}-input input[type=file]", str(image))
    page.wait_for_timeout(500)
    page.click(f"#{prefix}-run")
    page.wait_for_selector(f"#{prefix}-output img", timeout=60_000)


def test_style_tab(page, samples, tmp_path):
    _upload_and_run(page, "Style transfer", "style", samples / "photos_vangogh/photos/golden_gate.jpg")
    assert _natural_sizes(page, "#style-output") == [[979, 734]]
    page.screenshot(path=str(tmp_path / "style.png"), full_page=True)


def test_super_resolution_tab(page, samples, tmp_path):
    _upload_and_run(page, "Super-resolution", "sr", samples / "realworld_lq/0014.jpg")
    page.wait_for_function("document.querySelectorAll('#sr-output img').length == 2")
    assert _natural_sizes(page, "#sr-output") == [[358, 358], [358, 358]]
    assert "179×179 → 358×358" in page.inner_text("#sr-size")
    page.screenshot(path=str(tmp_path / "sr.png"), full_page=True)


def test_corrupt_upload_shows_error(page, tmp_path):
    bad = tmp_path / "holiday.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    page.reload()  # a fresh, empty upload field
    page.wait_for_selector("#style-input")
    page.set_input_files("#style-input input[type=file]", str(bad))
    page.wait_for_timeout(500)
    page.click("#style-run")
    page.get_by_text("holiday.png: corrupt or truncated image").wait_for(timeout=30_000)


def test_other_tabs_render(page, tmp_path):
    for tab in ("Generate", "Paired translation", "Models"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(300)
        page.screenshot(path=str(tmp_path / f"{tab}.png"), full_page=True)
    assert "digits" in page.inner_text("body")


def test_bundled_models_style_tab(browser, samples, tmp_path):
    """No flags: the app serves the bundled models; the style tab's default is the first of them by name."""
    with _serve(None) as url:
        page = _open(browser, url)
        assert "photos → monet" in page.input_value("#style-model input")
        _upload_and_run(page, "Style transfer", "style", samples / "photos_vangogh/photos/tubingen.jpg")
        assert _natural_sizes(page, "#style-output") == [[1024, 768]]
        page.screenshot(path=str(tmp_path / "style-monet.png"), full_page=True)
        page.close()
