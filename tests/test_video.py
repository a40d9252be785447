"""Video through `translate`: a real clip (a pan and zoom across a photo, with a tone) in, the model's clip out."""

import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from clips import MOVES, audio_seconds, camera_frames, decode_frames, frame_to_frame, pan_zoom_frames, write_clip
from helpers import tiny_sr, tiny_translator

from translate import video as video_module
from translate.cli.translate import main
from translate.errors import UserError
from translate.inference import Translator
from translate.nets import GENERATORS
from translate.nets.norm_stats import SharedNormStats
from translate.shots import is_cut, sample_frames
from translate.video import shot_statistics, translate_video
from translate.zoo import resolve_model

PHOTO = Path(__file__).parent.parent / "datasets" / "samples" / "photos_vangogh" / "photos" / "tubingen.jpg"
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """12 frames of 96x64 at 12 fps with a 440 Hz tone: one second."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return write_clip(path, pan_zoom_frames(PHOTO, 12, (96, 64)), fps=12)


def stream_facts(path: Path) -> tuple[int, int, int, Fraction, float, int]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        return (len(frames), frames[0].width, frames[0].height, v.average_rate,
                float(frames[-1].pts * v.time_base) + 1 / float(v.average_rate), frames[0].rotation)


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.dts is not None]


def test_translated_clip_keeps_timing_and_audio_and_matches_per_image_translation(clip, tmp_path, capsys):
    model = tiny_translator(tmp_path / "m.safetensors")
    assert main([str(clip), "--model", str(model), "--norm-stats", "frame", "--temporal", "0",
                 "--out", str(tmp_path)]) == 0
    out = tmp_path / "clip_paintings.mp4"
    assert f"{out}: 12 frames" in capsys.readouterr().err
    assert stream_facts(out) == stream_facts(clip) == (12, 96, 64, 12, pytest.approx(1.0), 0)
    assert audio_packets(out) == audio_packets(clip)  # copied, not re-encoded
    assert audio_seconds(out) == pytest.approx(audio_seconds(clip)) == pytest.approx(1.0, abs=0.05)
    with av.open(str(out)) as c:
        assert (c.streams.video[0].codec_context.name, c.streams.video[0].codec_context.pix_fmt) == ("h264", "yuv420p")
    translator = Translator.from_file(model)
    expected = [translator(f.astype(np.float32) / 255) * 255 for f in decode_frames(clip)]
    got = [f.astype(np.float32) for f in decode_frames(out)]
    # 4:2:0 chroma halves colour detail, so compare luma; the codec (CRF 18) keeps it within a few levels
    luma_error = np.mean([np.abs(e @ LUMA - g @ LUMA).mean() for e, g in zip(expected, got)])
    assert luma_error < 3.0
    assert np.mean([np.abs(e - f).mean() for e, f in zip(expected, decode_frames(clip))]) > 20  # it did translate


def test_super_resolution_odd_sizes_rotation_and_batches(tmp_path):
    """An odd-sized input with a 90-degree display rotation: x2 gives even sides; a translator's odd output
    gets one repeated edge row/column for 4:2:0; the rotation travels as metadata; batches change nothing."""
    clip = write_clip(tmp_path / "odd.mov", pan_zoom_frames(PHOTO, 6, (33, 25)), fps=6, rotation=90,
                      pix_fmt="yuv444p", tone_hz=None)
    sr = Translator.from_file(tiny_sr(tmp_path / "sr.safetensors", scale=2))
    result = translate_video(clip, tmp_path / "sr.mov", sr)
    assert (result.frames, result.skipped) == (6, 0)
    assert stream_facts(tmp_path / "sr.mov")[:3] == (6, 66, 50)
    tr = Translator.from_file(tiny_translator(tmp_path / "m.safetensors"))
    done = []
    translate_video(clip, tmp_path / "one.mov", tr, batch=1, crf=0)  # lossless, so only the batching could differ
    translate_video(clip, tmp_path / "four.mov", tr, batch=4, crf=0, progress=lambda n, total: done.append((n, total)))
    assert done == [(4, 6), (6, 6)]
    facts = stream_facts(tmp_path / "four.mov")
    assert facts[:3] == (6, 34, 26) and facts[5] == 90
    for a, b in zip(decode_frames(tmp_path / "one.mov"), decode_frames(tmp_path / "four.mov")):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


def test_shared_statistics_hooks():
    torch.manual_seed(0)
    net = GENERATORS["resnet"](ngf=4, n_blocks=1).eval()
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        plain = net(a)
        stats = SharedNormStats(net)
        with stats.collecting():
            assert torch.equal(net(a), plain)  # collecting leaves outputs alone
        assert len(stats) == 1
        with stats.frozen():
            assert torch.allclose(net(a), plain, atol=1e-5)  # pooled over one image = its own statistics
        with stats.collecting():
            net(b)
        assert len(stats) == 2
        with stats.frozen():
            shared = net(torch.cat([a, b]))
            assert torch.allclose(net(a), shared[:1], atol=1e-6)  # one normalisation for every input
            assert not torch.allclose(shared[:1], plain, atol=1e-3)
        assert torch.equal(net(a), plain)  # hooks removed
    layer = stats.layers[0]
    mean, var = stats.statistics(layer)
    assert mean.shape == var.shape == (4,) and bool((var >= 0).all())


def test_clip_statistics_are_the_default_and_differ_from_per_frame(clip, tmp_path):
    tr = Translator.from_file(tiny_translator(tmp_path / "m.safetensors"))
    translate_video(clip, tmp_path / "clip.mp4", tr)
    translate_video(clip, tmp_path / "frame.mp4", tr, norm_stats="frame")
    shared, own = decode_frames(tmp_path / "clip.mp4"), decode_frames(tmp_path / "frame.mp4")
    assert len(shared) == len(own) == 12
    assert np.mean([np.abs(s.astype(int) - o.astype(int)).mean() for s, o in zip(shared, own)]) > 0.5


def test_clip_statistics_steady_a_tilt_whose_composition_changes(tmp_path):
    """A tilt from sky to brick wall: with each frame's own statistics the bundled vangogh re-balances every
    frame's tone to its changing mix of sky and wall; with statistics pooled over the clip it does not."""
    tower = PHOTO.parent.parent.parent / "realworld_lq" / "OST_009.png"
    clip = write_clip(tmp_path / "tilt.mp4", camera_frames(tower, 12, (96, 64), "tilt"), fps=12)
    translator = Translator.from_file(resolve_model("vangogh"))
    changes = {}
    for mode in ("frame", "clip"):
        translate_video(clip, tmp_path / f"{mode}.mp4", translator, norm_stats=mode, temporal=0)
        changes[mode] = frame_to_frame(decode_frames(tmp_path / f"{mode}.mp4"))
    assert changes["clip"] < changes["frame"] - 2  # measured: 27.1 against 32.4


def test_statistics_are_pooled_per_shot(tmp_path, monkeypatch):
    """Across a cut, each shot gets the statistics it would get as a clip of its own, and no batch of frames
    straddles the cut (a batch runs under one shot's statistics)."""
    samples = PHOTO.parent.parent.parent
    night = camera_frames(PHOTO.parent / "hoovertowernight.jpg", 6, (64, 48), "pan")
    day = camera_frames(samples / "realworld_lq" / "OST_009.png", 7, (64, 48), "tilt")
    lossless = {"fps": 12, "tone_hz": None, "pix_fmt": "yuv444p", "crf": 0}
    both = write_clip(tmp_path / "both.mp4", night + day, **lossless)
    alone = write_clip(tmp_path / "day.mp4", day, **lossless)
    tr = Translator.from_file(tiny_translator(tmp_path / "m.safetensors"))
    shots, single = shot_statistics(both, tr), shot_statistics(alone, tr)
    assert shots.starts == [0, 6] and single.starts == [0]
    assert [shots.shot(i) for i in (0, 5, 6, 12)] == [0, 0, 1, 1]
    for layer in shots.stats[1].layers:
        for got, want in zip(shots.stats[1].statistics(layer), single.stats[0].statistics(layer)):
            assert torch.allclose(got, want, atol=1e-6)
    sizes, run_batch = [], video_module._translate_batch
    monkeypatch.setattr(video_module, "_translate_batch",
                        lambda t, frames: sizes.append(len(frames)) or run_batch(t, frames))
    outputs = {}
    for batch in (1, 4):
        translate_video(both, tmp_path / f"b{batch}.mp4", tr, batch=batch, temporal=0)
        outputs[batch] = decode_frames(tmp_path / f"b{batch}.mp4")
    assert sizes == [1] * 13 + [4, 2, 4, 3]  # frames 4-7 would straddle the cut: 4-5, then 6-9
    # the same frames under the same statistics, batched or not: they differ by the rounding of batched
    # convolutions, which the encoder spreads over a few pixels (means up to 1.1 seen); frames 6 and 7 under
    # the first shot's statistics differed by 19-20
    assert max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(outputs[1], outputs[4])) < 5


@pytest.mark.parametrize("move", MOVES)
def test_camera_moves_are_one_shot(move, tmp_path):
    views = camera_frames(PHOTO, 24, (96, 64), move)
    clip = write_clip(tmp_path / "move.mp4", views, fps=12, tone_hz=None)
    assert shot_statistics(clip, Translator.from_file(tiny_translator(tmp_path / "m.safetensors"))).starts == [0]


def test_cut_measure_and_sampled_frames():
    flat = np.full(48, 1 / 48)
    assert not is_cut(flat, flat)
    assert is_cut(flat, np.r_[np.zeros(24), np.full(24, 1 / 24)])  # no colours in common
    assert sample_frames(0, 48, 8) == [3, 9, 15, 21, 27, 33, 39, 45]  # as whole clips were sampled before
    assert sample_frames(10, 18, 8) == [12, 16] and sample_frames(5, 6, 8) == [5]  # short shots: one in four


@pytest.mark.parametrize("move", MOVES)
def test_camera_moves(move):
    views = camera_frames(PHOTO, 6, (48, 32), move)
    assert len(views) == 6 and all(v.shape == (32, 48, 3) and v.dtype == np.uint8 for v in views)
    assert 1 < frame_to_frame(views) < 60  # every move moves, none jumps
    assert np.array_equal(camera_frames(PHOTO, 6, (48, 32), move)[-1], views[-1])  # handheld's shake is seeded


def test_a_corrupt_frame_in_the_middle_is_skipped_and_counted(clip, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    with av.open(str(clip)) as src, av.open(str(bad), "w") as dst:
        video, audio = src.streams.video[0], src.streams.audio[0]
        out = {video.index: dst.add_stream_from_template(video), audio.index: dst.add_stream_from_template(audio)}
        n = 0
        for packet in src.demux(video, audio):
            if packet.dts is None:
                continue
            target = out[packet.stream.index]
            if packet.stream.type == "video":
                n += 1
                if n == 6:  # a P frame: garble all but its first bytes
                    data = bytes(packet)
                    noise = np.random.default_rng(0).integers(0, 256, len(data) - 8, dtype=np.uint8).tobytes()
                    garbled = av.Packet(data[:8] + noise)
                    garbled.pts, garbled.dts, garbled.time_base = packet.pts, packet.dts, packet.time_base
                    packet = garbled
            packet.stream = target
            dst.mux(packet)
    model = tiny_translator(tmp_path / "m.safetensors")
    assert main([str(bad), "--model", str(model)]) == 0
    err = capsys.readouterr().err
    assert re.search(rf"warning: {re.escape(str(bad))}: a corrupt frame at 0\.\d\d s was skipped", err)
    assert "11 frames, 1 corrupt frames skipped" in err
    assert stream_facts(tmp_path / "bad_paintings.mp4")[0] == 11


def _truncated(clip: Path, path: Path) -> None:
    path.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])


def _garbage(clip: Path, path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())


def _empty_clip(clip: Path, path: Path) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        out.start_encoding()


def _audio_only(clip: Path, path: Path) -> None:
    with av.open(str(clip)) as src, av.open(str(path), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux(src.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)


def _unknown_codec(clip: Path, path: Path) -> None:
    path.write_bytes(clip.read_bytes().replace(b"avc1", b"zzzz").replace(b"avcC", b"zzzC"))


@pytest.mark.parametrize(("make", "problem"), [
    (_truncated, "not a readable video"), (_garbage, "not a readable video"), (_empty_clip, "holds no video"),
    (_audio_only, "has no video stream, only audio"), (_unknown_codec, "its video codec is not one this FFmpeg"),
    (None, "no such file"),
])
def test_bad_clips_get_one_line_and_exit_2(clip, tmp_path, capsys, make, problem):
    path = tmp_path / "in.mp4"
    if make:
        make(clip, path)
    model = tiny_translator(tmp_path / "m.safetensors")
    assert main([str(path), "--model", str(model)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: {path}: {problem}") and len(err) == 2  # the line and the tally
    assert "Traceback" not in "".join(err)
    assert not (tmp_path / "in_paintings.mp4").exists() and not list(tmp_path.glob(".in_paintings*"))


@pytest.mark.parametrize(("flags", "problem"), [
    (["--codec", "nope"], "--codec nope: not an encoder"), (["--codec", "mpeg4", "--crf", "20"], "--crf applies"),
    (["--crf", "99"], "--crf must be in 0..63"), (["--resize", "64"], "--resize and --16bit apply to images"),
    (["--batch", "0"], "--batch must be at least 1"),
])
def test_bad_video_options(clip, tmp_path, capsys, flags, problem):
    model = tiny_translator(tmp_path / "m.safetensors")
    assert main([str(clip), "--model", str(model), "--out", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {problem}")


def test_videos_and_images_are_not_mixed(clip, tmp_path, capsys):
    model = tiny_translator(tmp_path / "m.safetensors")
    assert main([str(clip), str(PHOTO), "--model", str(model), "--out", str(tmp_path)]) == 2
    assert "translate videos and images in separate runs" in capsys.readouterr().err


def test_mpeg4_without_crf_and_existing_outputs(clip, tmp_path, capsys):
    model = tiny_translator(tmp_path / "m.safetensors")
    args = [str(clip), "--model", str(model), "--out", str(tmp_path), "--codec", "mpeg4"]
    assert main(args) == 0
    with av.open(str(tmp_path / "clip_paintings.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "mpeg4"
    assert main(args) == 0
    assert "exists (pass --overwrite)" in capsys.readouterr().err


@pytest.fixture
def shelf(tmp_path):
    from translate.web_ui import Shelf

    folder = tmp_path / "models"
    folder.mkdir()
    tiny_translator(folder / "style_A2B.safetensors", ("photos", "vangogh"))
    tiny_sr(folder / "sr_x2.safetensors")
    return Shelf([folder], device="cpu")


def test_app_video_tab_handler(shelf, clip, tmp_path):
    from translate import web_ui_video
    from translate.app_limits import AppLimits
    from translate.web_ui import Shelf, Upload

    done = []
    path, line = web_ui_video.translate_clip(shelf, Upload(str(clip), "holiday.mp4"), "photos → vangogh (style_A2B)",
                                          tmp_path, lambda n, total: done.append(n))
    assert path == tmp_path / "holiday_vangogh.mp4" and line == "12 frames translated"
    assert done == list(range(1, 13)) and stream_facts(path)[:3] == (12, 96, 64)
    with pytest.raises(UserError, match="^upload a clip first"):
        web_ui_video.translate_clip(shelf, None, "x2 (sr_x2)", tmp_path)
    bad = tmp_path / "upload123.mp4"
    bad.write_bytes(b"junk")
    with pytest.raises(UserError, match="^holiday.mp4: not a readable video"):
        web_ui_video.translate_clip(shelf, Upload(str(bad), "holiday.mp4"), "x2 (sr_x2)", tmp_path)
    big = write_clip(tmp_path / "big.mp4", pan_zoom_frames(PHOTO, 2, (1280, 800)), tone_hz=None)
    with pytest.raises(UserError, match="^big.mp4: 1280x800 frames are over the limit of 1 MP"):
        web_ui_video.translate_clip(shelf, Upload(str(big), "big.mp4"), "x2 (sr_x2)", tmp_path)
    short = Shelf(shelf.folders, device="cpu", limits=AppLimits(max_video_seconds=0.5))
    with pytest.raises(UserError, match=r"^holiday.mp4: 1.0 s long, over the limit of 0.5 s"):
        web_ui_video.translate_clip(short, Upload(str(clip), "holiday.mp4"), "x2 (sr_x2)", tmp_path)
    assert "20 s" not in web_ui_video.limits_line(short.limits) and "0.5 s" in web_ui_video.limits_line(short.limits)


def test_variable_frame_timing_is_kept(tmp_path):
    """Each output frame at its input frame's time, however irregular (a phone's variable frame rate)."""
    times_ms = [0, 100, 300, 350, 600, 1000]
    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)  # else frame times are rounded to 1/rate
        for t, view in zip(times_ms, pan_zoom_frames(PHOTO, len(times_ms), (64, 48))):
            frame = av.VideoFrame.from_ndarray(view, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))

    def times(p: Path) -> list[float]:
        with av.open(str(p)) as c:
            return [round(float(f.time), 3) for f in c.decode(video=0)]

    tr = Translator.from_file(tiny_translator(tmp_path / "m.safetensors"))
    translate_video(path, tmp_path / "out.mkv", tr)
    assert times(tmp_path / "out.mkv") == times(path) == [t / 1000 for t in times_ms]


def test_frames_over_the_image_limits_are_refused(clip, tmp_path, capsys, monkeypatch):
    import translate.cli.translate as cli

    monkeypatch.setattr(cli, "MAX_OUTPUT_PIXELS", 4 * 96 * 64 - 1)  # x2 of a 96x64 frame is one pixel too many
    assert main([str(clip), "--model", str(tiny_sr(tmp_path / "sr.safetensors")), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {clip}: 96x64 frames are over the limit of 0.006143 MP")


def test_a_killed_run_leaves_a_file_the_next_run_removes(clip, tmp_path, capsys):
    from translate.checkpoint import INCOMPLETE

    model = tiny_translator(tmp_path / "m.safetensors")
    out = tmp_path / "out"
    out.mkdir()
    left = [out / f".clip_paintings.mp4{INCOMPLETE}{i}abc.tmp" for i in range(3)]  # three killed runs: no writer
    for path in left:
        path.write_bytes(b"half a clip")
    (out / ".notes.abcd1234.tmp").write_text("another program's")  # an older version's name: not in a user's folder
    assert main([str(clip), "--model", str(model), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert not any(p.exists() for p in left) and all(f"removed {p}, left by an interrupted run" in err for p in left)
    assert sorted(p.name for p in out.iterdir()) == [".notes.abcd1234.tmp", "clip_paintings.mp4"]


def test_sigterm_removes_the_partial_file_and_says_what_it_stopped(clip, tmp_path, capsys, monkeypatch):
    import os
    import signal

    model = tiny_translator(tmp_path / "m.safetensors")
    real, calls = video_module._translate_batch, []

    def terminated_at_the_third(translator, frames):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would, while the output is half written
        return real(translator, frames)

    monkeypatch.setattr(video_module, "_translate_batch", terminated_at_the_third)
    before = signal.getsignal(signal.SIGTERM)
    assert main([str(clip), "--model", str(model), "--out", str(tmp_path / "out"), "--batch", "1",
                 "--norm-stats", "frame"]) == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2].startswith(f"stopped {clip} after 2 frames; {tmp_path / 'out' / 'clip_paintings.mp4'} was not "
                              "written")
    assert err[-1] == "terminated (SIGTERM)"
    assert list((tmp_path / "out").iterdir()) == [] and signal.getsignal(signal.SIGTERM) == before


def test_a_second_video_stream_is_named_as_left_out(tmp_path, capsys):
    path = tmp_path / "two.mkv"
    views = pan_zoom_frames(PHOTO, 4, (48, 32))
    with av.open(str(path), "w") as out:
        streams = [out.add_stream("mpeg4", rate=12) for _ in range(2)]
        for stream in streams:
            stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for i, view in enumerate(views):
            for stream, pixels in zip(streams, (view, 255 - view)):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, 12)
                out.mux(stream.encode(frame))
        for stream in streams:
            out.mux(stream.encode(None))
    model = tiny_translator(tmp_path / "m.safetensors")
    assert main([str(path), "--model", str(model), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert (f"warning: {path}: holds 2 video streams; only the first is translated, the other is left out of "
            "two_paintings.mkv") in err
    with av.open(str(tmp_path / "out" / "two_paintings.mkv")) as c:
        assert len(c.streams.video) == 1
