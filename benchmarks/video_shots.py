"""Shared instance-norm statistics across cuts: one set for the whole clip against one per shot.

    python benchmarks/video_shots.py [--model vangogh] [--frames 24] [--size 256 176]

A real three-shot clip is made from the repository's samples (tests/clips.py): a pan across Hoover Tower
at night, a pan across the Golden Gate by day, a tilt down a brick house against a blue sky. It is
translated by `translate_video` (no temporal blend) three ways: per-frame statistics; statistics pooled per
shot (the default, translate.shots finds the cuts); and one set pooled over 8 frames spread across the
whole clip (what the default did before shots). For each shot it prints the mean output level (0-255)
and the mean absolute difference from the per-frame output: the look the model gives each frame on its
own, which pooling should steady without moving it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from clips import camera_frames, decode_frames, write_clip  # noqa: E402

from translate import video  # noqa: E402
from translate.inference import Translator  # noqa: E402
from translate.nets.norm_stats import SharedNormStats  # noqa: E402
from translate.shots import sample_frames  # noqa: E402
from translate.zoo import resolve_model  # noqa: E402

SAMPLES = REPO / "datasets" / "samples"
SHOTS = (("Hoover Tower at night, pan", SAMPLES / "photos_vangogh/photos/hoovertowernight.jpg", "pan"),
         ("Golden Gate by day, pan", SAMPLES / "photos_vangogh/photos/golden_gate.jpg", "pan"),
         ("brick house and sky, tilt", SAMPLES / "realworld_lq/OST_009.png", "tilt"))


def whole_clip_statistics(path: Path, translator: Translator, n: int = video.STAT_FRAMES) -> video.ShotStatistics:
    """One set of statistics for the whole clip, cuts or not, over `n` frames spread across it."""
    frames = decode_frames(path)
    stats = SharedNormStats(translator.net)
    with stats.collecting():
        for i in sample_frames(0, len(frames), n):
            translator(frames[i].astype(np.float32) / 255)
    return video.ShotStatistics([0], [stats])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vangogh")
    parser.add_argument("--frames", type=int, default=24, help="frames per shot")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 176), metavar=("W", "H"))
    args = parser.parse_args()
    translator = Translator.from_file(resolve_model(args.model), device="cpu")
    n = args.frames
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "shots.mp4", [view for _, photo, move in SHOTS
                                                     for view in camera_frames(photo, n, tuple(args.size), move)],
                          fps=24)
        print(f"model {args.model}; {len(SHOTS)} shots of {n} frames, {args.size[0]}x{args.size[1]}; cuts found at "
              f"frames {video.shot_statistics(clip, translator).starts[1:]} (true: {[n * i for i in (1, 2)]})")
        outputs = {}
        for mode in ("per frame", "per shot", "whole clip"):
            if mode == "whole clip":
                video.shot_statistics, found = whole_clip_statistics, video.shot_statistics
            try:
                out = Path(tmp) / "out.mp4"
                video.translate_video(clip, out, translator, norm_stats="frame" if mode == "per frame" else "clip",
                                      temporal=0)
                outputs[mode] = decode_frames(out)
            finally:
                if mode == "whole clip":
                    video.shot_statistics = found
    for i, (name, _, _) in enumerate(SHOTS):
        shot = slice(i * n, (i + 1) * n)
        own = outputs["per frame"][shot]
        cells = []
        for mode, frames in outputs.items():
            level = np.mean([f.mean() for f in frames[shot]])
            cells.append(f"{mode}: level {level:.1f}" + ("" if mode == "per frame" else ", from per-frame " + format(
                np.mean([np.abs(a.astype(np.float32) - b.astype(np.float32)).mean()
                         for a, b in zip(frames[shot], own)]), ".2f")))
        print(f"shot {i + 1} ({name}): " + "; ".join(cells))


if __name__ == "__main__":
    main()
