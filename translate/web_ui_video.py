"""The web app's Video tab: a short clip through a translation or super-resolution model, with progress and a
player for the result. The work is translate.video's, as on the command line."""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from translate.app_limits import AppLimits
from translate.errors import UserError
from translate.pipeline import output_suffix
from translate.web_ui import Shelf, Upload

KEEP_RESULTS = 8
"""Finished clips kept on disk; Gradio serves its own copy, so older ones can go."""


def limits_line(limits: AppLimits) -> str:
    return (f"Clips up to {limits.max_video_seconds:g} s with frames up to {limits.max_video_mp:g} MP "
            f"({limits.max_video_sr_mp:g} MP for super-resolution), within the server's upload size limit. "
            "The sound is kept as it is.")


def translate_clip(shelf: Shelf, upload: Upload | None, label: str | None, out_dir: Path,
                   progress: Callable[[int, int], None] | None = None,
                   temporal: float | None = None) -> tuple[Path, str]:
    """(the translated clip, a line saying what was done), within the shelf's limits for clips;
    temporal: translate_video's blend strength (None: its default)."""
    from translate.inference import Translator
    from translate.video import translate_video

    entry = shelf.entry(label)
    if upload is None:
        raise UserError("upload a clip first")
    # a Translator of its own: the clip's shared statistics hook the net, which other tabs' requests share
    translator = Translator.from_file(entry.path, device=shelf.device)
    target = out_dir / f"{Path(upload.name).stem}_{output_suffix(entry.spec)}.mp4"
    try:
        result = translate_video(upload.path, target, translator,
                                 max_frame_pixels=shelf.limits.video_frame_pixels(entry.spec),
                                 max_seconds=shelf.limits.max_video_seconds, progress=progress, temporal=temporal)
    except UserError as err:
        raise UserError(str(err).replace(str(upload.path), upload.name)) from None
    corrupt = f"; {result.skipped} corrupt frames skipped" if result.skipped else ""
    return target, f"{result.frames} frames translated{corrupt}"


def video_tab(shelf: Shelf) -> None:
    """The Video tab, built inside the caller's gr.Blocks."""
    import gradio as gr

    from translate.temporal import DEFAULT_STRENGTH

    out_root = Path(tempfile.mkdtemp(prefix="gan-translate-video-"))
    finished: deque[Path] = deque()

    def run(upload: Upload | None, label: str | None, temporal: float | None,
            progress: Any = gr.Progress()) -> tuple[str, str]:  # noqa: B008
        request_dir = Path(tempfile.mkdtemp(dir=out_root))
        try:
            path, line = translate_clip(shelf, upload, label, request_dir,
                                        lambda done, total: progress((done, total or None), unit="frames"),
                                        temporal=temporal)
        except UserError as err:
            shutil.rmtree(request_dir, ignore_errors=True)
            raise gr.Error(str(err), print_exception=False) from None
        finished.append(path)
        while len(finished) > KEEP_RESULTS:
            shutil.rmtree(finished.popleft().parent, ignore_errors=True)
        return str(path), line

    # photo translators first, so the default suits a filmed clip; label-map models (pix2pix) last
    choices = (shelf.choices("translation", paired=False) + shelf.choices("super-resolution")
               + shelf.choices("translation", paired=True))
    if not choices:
        return
    with gr.Tab("Video", elem_id="tab-video"):
        gr.Markdown(limits_line(shelf.limits), elem_id="video-limits")
        with gr.Row():
            video_in = gr.Video(label="Clip", sources=["upload"], format=None, elem_id="video-input")
            video_out = gr.Video(label="Result", format=None, interactive=False, elem_id="video-output")

        def preprocess(payload: Any) -> Upload | None:  # the upload untouched, with the user's file name
            if payload is None:
                return None
            return Upload(str(payload.path), payload.orig_name or Path(str(payload.path)).name)

        video_in.preprocess = preprocess
        video_model = gr.Dropdown(choices, value=shelf.default(choices), label="Model",
                                  elem_id="video-model")
        video_steady = gr.Slider(0.0, 0.95, value=DEFAULT_STRENGTH, step=0.05, label="Steady texture",
                                 info="how much of the previous frame, moved with the content, each frame keeps "
                                      "(0: every frame on its own)", elem_id="video-temporal")
        video_go = gr.Button("Translate clip", variant="primary", elem_id="video-run")
        video_info = gr.Markdown(elem_id="video-info")
        video_go.click(run, [video_in, video_model, video_steady], [video_out, video_info], api_name="video")
