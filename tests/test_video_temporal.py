"""The flow-guided temporal blend (translate.temporal) alone and inside translate_video."""

import sys

import numpy as np
import pytest
from clips import decode_frames, pan_zoom_frames, write_clip
from helpers import tiny_translator
from test_video import PHOTO, stream_facts

from translate import temporal, video
from translate.cli.translate import main
from translate.errors import ConfigError, UserError
from translate.inference import Translator
from translate.temporal import FlowBlend
from translate.video import translate_video


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random RGB content in 0..1 that optical flow can follow."""
    import cv2

    noise = np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())


def moving(frames: int, shift: int = 2, size: tuple[int, int] = (48, 64)) -> list[np.ndarray]:
    """Views of one texture panning right by `shift` pixels per frame."""
    big = texture(size[0], size[1] + shift * frames)
    return [np.ascontiguousarray(big[:, shift * (frames - i):shift * (frames - i) + size[1]]) for i in range(frames)]


def along_motion(frames: list[np.ndarray], shift: int = 2) -> float:
    """Mean absolute change of each pixel from the frame before, following the known pan: temporal
    inconsistency (texture that moves with the content does not count)."""
    return float(np.mean([np.abs(b[:, 2 * shift:] - a[:, shift:-shift]).mean() for a, b in zip(frames, frames[1:])]))


def warping_error(source: list[np.ndarray], output: list[np.ndarray]) -> float:
    """Mean absolute difference between each output frame and the one before moved along the input's motion
    (Farneback's flow, not the blend's own DIS), where the moved input matches."""
    import cv2

    errors = []
    for i in range(1, len(source)):
        grey = [cv2.cvtColor(source[j], cv2.COLOR_RGB2GRAY) for j in (i, i - 1)]
        back = cv2.calcOpticalFlowFarneback(*grey, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        ys, xs = np.mgrid[: back.shape[0], : back.shape[1]].astype(np.float32)
        maps = xs + back[..., 0], ys + back[..., 1]
        matches = np.abs(cv2.remap(source[i - 1], *maps, cv2.INTER_LINEAR).astype(float) - source[i]).mean(2) < 10
        moved = cv2.remap(output[i - 1], *maps, cv2.INTER_LINEAR).astype(float)
        errors.append(np.abs(moved - output[i]).mean(2)[matches].mean())
    return float(np.mean(errors))


def fine_detail(frames: list[np.ndarray]) -> float:
    import cv2

    return float(np.mean([np.abs(f - cv2.GaussianBlur(f, (0, 0), 2.0)).mean() for f in frames]))


@pytest.mark.parametrize("flow_side", [640, 40])
def test_texture_reinvented_each_frame_holds_still_and_keeps_its_detail(flow_side, monkeypatch):
    """A 'translation' that adds new grain to every frame: the blend steadies it along the motion, also
    with the motion measured on frames scaled down (as for frames over FLOW_SIDE pixels a side), and keeps
    the grain's strength rather than averaging it away."""
    monkeypatch.setattr(temporal, "FLOW_SIDE", flow_side)
    frames = moving(10)
    rng = np.random.default_rng(1)
    translated = [np.clip(f + rng.normal(0, 0.08, f.shape).astype(np.float32), 0, 1) for f in frames]
    blend = FlowBlend(0.8)
    blended = [blend(f, t) for f, t in zip(frames, translated)]
    assert along_motion(blended) < 0.5 * along_motion(translated)
    assert fine_detail(blended) > 0.8 * fine_detail(translated)
    assert np.array_equal(blended[0], translated[0])  # nothing before the first frame
    assert np.mean([np.abs(b - f).mean() for b, f in zip(blended, frames)]) < 0.08  # the content is kept


def test_still_content_is_left_as_translated():
    frame = texture(40, 56)
    translated = np.clip(frame[..., ::-1] * 0.7 + 0.1, 0, 1).astype(np.float32)
    blend = FlowBlend(0.9)
    for _ in range(4):
        out = blend(frame, translated)
        assert np.abs(out - translated).max() < 1e-4


def test_occluded_and_entering_pixels_take_the_current_frame():
    frames = moving(2, shift=4)
    before, now = frames[0], frames[1].copy()
    now[10:26, 20:36] = np.float32([1.0, 0.0, 0.2])  # an object appears: no earlier pixel matches
    first, second = np.zeros_like(before), np.ones_like(now)  # translations that differ everywhere
    blend = FlowBlend(0.8)
    blend(before, first)
    out = blend(now, second)
    assert np.abs(out[10:26, 20:36] - 1).max() < 1e-6  # the occluded square: the current translation
    assert np.abs(out[:, :4] - 1).max() < 1e-6  # the columns that panned into view
    reliable = out[30:, 12:-4]  # seen in both frames: mostly the warped previous output (0)
    assert np.median(reliable) == pytest.approx(0.2, abs=0.05)


def test_super_resolution_outputs_are_blended_at_their_own_size():
    frames = moving(3, size=(24, 32))
    blend = FlowBlend(0.5)
    for f in frames:
        big = np.repeat(np.repeat(f, 2, axis=0), 2, axis=1)
        out = blend(f, big)
        assert out.shape == big.shape and out.dtype == np.float32
        assert np.abs(out - big).mean() < 0.02  # consistent content stays put


@pytest.mark.parametrize("strength", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_strengths(strength):
    with pytest.raises(ConfigError, match="^--temporal must be at least 0 and below 1"):
        FlowBlend(strength)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return write_clip(path, pan_zoom_frames(PHOTO, 10, (96, 64)), fps=10)


def test_translate_video_blends_reinvented_texture_and_keeps_timing(clip, tmp_path, monkeypatch):
    """End to end, with a model that (like the real ones) draws new grain in every frame."""
    model = Translator.from_file(tiny_translator(tmp_path / "m.safetensors"))
    plain = video._translate_batch
    rng = np.random.default_rng(0)

    def grainy(translator, frames):
        return [np.clip(o + rng.normal(0, 0.08, o.shape).astype(np.float32), 0, 1) for o in plain(translator, frames)]

    monkeypatch.setattr(video, "_translate_batch", grainy)
    translate_video(clip, tmp_path / "plain.mp4", model, temporal=0, crf=0)
    done = []
    translate_video(clip, tmp_path / "blend.mp4", model, batch=3, crf=0, progress=lambda n, t: done.append(n))
    assert done == [3, 6, 9, 10]
    assert stream_facts(tmp_path / "blend.mp4") == stream_facts(clip)  # frames, size, rate, duration, rotation
    source = decode_frames(clip)
    error = {name: warping_error(source, decode_frames(tmp_path / f"{name}.mp4")) for name in ("plain", "blend")}
    assert error["blend"] < 0.6 * error["plain"]


def test_still_clip_matches_per_frame_translation(tmp_path):
    still = write_clip(tmp_path / "still.mp4", pan_zoom_frames(PHOTO, 1, (64, 48)) * 6, fps=6, tone_hz=None)
    model = Translator.from_file(tiny_translator(tmp_path / "m.safetensors"))
    translate_video(still, tmp_path / "a.mp4", model, temporal=0, crf=0)
    translate_video(still, tmp_path / "b.mp4", model, temporal=0.9, crf=0)
    for a, b in zip(decode_frames(tmp_path / "a.mp4"), decode_frames(tmp_path / "b.mp4"), strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_temporal_option_and_missing_opencv(clip, tmp_path, capsys, monkeypatch):
    model = tiny_translator(tmp_path / "m.safetensors")
    for value in ("1", "-0.5", "nan"):
        assert main([str(clip), "--model", str(model), "--out", str(tmp_path), "--temporal", value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: --temporal must be at least 0 and below 1")
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError, as where it is missing
    args = [str(clip), "--model", str(model), "--out", str(tmp_path), "--temporal", "0.5"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --temporal needs OpenCV")
    assert main(args[:-2]) == 0  # the default falls back to no blend, with a warning
    err = capsys.readouterr().err
    assert "warning: OpenCV (cv2) is not installed, so frames are not blended" in err
    assert stream_facts(tmp_path / "clip_paintings.mp4")[0] == 10


def test_app_passes_the_strength_and_offers_a_slider(clip, tmp_path):
    from translate.web_ui import Shelf, Upload, build_app
    from translate.web_ui_video import translate_clip

    folder = tmp_path / "models"
    folder.mkdir()
    tiny_translator(folder / "style_A2B.safetensors", ("photos", "vangogh"))
    shelf = Shelf([folder], device="cpu")
    label = shelf.choices("translation")[0]
    path, line = translate_clip(shelf, Upload(str(clip), "holiday.mp4"), label, tmp_path, temporal=0.0)
    assert line == "10 frames translated" and stream_facts(path)[0] == 10
    with pytest.raises(UserError, match="^--temporal must be at least 0"):
        translate_clip(shelf, Upload(str(clip), "holiday.mp4"), label, tmp_path, temporal=1.0)
    app = build_app([folder], device="cpu")
    sliders = [b for b in app.blocks.values() if getattr(b, "elem_id", None) == "video-temporal"]
    assert len(sliders) == 1 and sliders[0].value == 0.8 and sliders[0].maximum < 1
