"""The app's Video tab in a real browser: upload a clip, translate it, and the page's player can play the result."""

import pytest
from clips import pan_zoom_frames, write_clip
from helpers import tiny_translator
from test_app_browser import CHROMIUM, _open, _serve, browser  # noqa: F401 (browser is a fixture)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")]


def test_video_tab_translates_a_clip_and_plays_it(browser, samples, tmp_path):  # noqa: F811
    folder = tmp_path / "models"
    folder.mkdir()
    tiny_translator(folder / "style_A2B.safetensors", ("photos", "vangogh"))
    clip = write_clip(tmp_path / "holiday.mp4", pan_zoom_frames(samples / "photos_vangogh/photos/tubingen.jpg", 12,
                                                                (96, 64)), fps=12)
    with _serve([folder]) as url:
        page = _open(browser, url)
        page.get_by_role("tab", name="Video").click()
        assert "Clips up to 20 s with frames up to 4 MP" in page.inner_text("#video-limits")
        page.set_input_files("#video-input input[type=file]", str(clip))
        page.wait_for_timeout(500)
        page.click("#video-run")
        page.wait_for_selector("#video-output video", timeout=60_000)
        assert "12 frames translated" in page.inner_text("#video-info")
        # the browser decoded the H.264 output far enough to know its length
        duration = page.evaluate("""async () => { const v = document.querySelector('#video-output video');
            if (v.readyState < 1) await new Promise(r => v.addEventListener('loadedmetadata', r, {once: true}));
            return v.duration; }""")
        assert duration == pytest.approx(1.0, abs=0.1)
        page.screenshot(path=str(tmp_path / "video.png"), full_page=True)
        page.close()
