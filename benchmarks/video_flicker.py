"""Flicker of video translation: per-frame instance-norm statistics against statistics pooled over the clip.

    python benchmarks/video_flicker.py [--model vangogh] [--photos P1 P2 ...] [--frames 48] [--size 256 176]

For each photo a real clip is made (tests/clips.py: a slow pan and zoom across it, H.264, with a tone) and
translated by `translate_video` twice, with --norm-stats frame and clip. Flicker = the mean absolute
frame-to-frame difference of the decoded output minus that of the decoded input (pixels in [0, 255]), so
the motion both share cancels; tone flicker = the same for each frame's mean colour. The domain
classifier of evaluate-translation (trained on the bundled photo and painting samples) then says which
share of each output's crops look like the target domain, to show that sharing the statistics does not cost style.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from clips import decode_frames, pan_zoom_frames, write_clip  # noqa: E402

from translate.data.folders import to_pil  # noqa: E402
from translate.evaluation.translation import crops, load_folder, train_classifier  # noqa: E402
from translate.inference import Translator  # noqa: E402
from translate.video import translate_video  # noqa: E402
from translate.zoo import resolve_model  # noqa: E402

BSD68 = REPO.parent / "shared" / "data" / "sr" / "BSD68"
DEFAULT_PHOTOS = [BSD68 / n for n in ("101085.png", "102061.png", "108005.png", "126007.png")]
SAMPLES = REPO / "datasets" / "samples" / "photos_vangogh"


def flicker(frames: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(b.astype(np.float32) - a.astype(np.float32)).mean()
                          for a, b in zip(frames, frames[1:])]))


def tone_flicker(frames: list[np.ndarray]) -> float:
    """Mean absolute frame-to-frame change of each frame's mean colour: the global tone, which per-frame
    normalisation statistics move, and which a pan across one photo barely changes."""
    means = np.array([f.reshape(-1, 3).astype(np.float32).mean(0) for f in frames])
    return float(np.abs(np.diff(means, axis=0)).mean())


def share_called_b(classifier: torch.nn.Module, frames: list[np.ndarray], seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        calls = [float((classifier(crops([to_pil(f.astype(np.float32) / 255)], 16, rng)).argmax(1) == 1).float()
                       .mean()) for f in frames]
    return float(np.mean(calls))


def write_strip(path: Path, clips: dict[str, list[np.ndarray]]) -> None:
    """Rows input / per-frame / clip statistics, four frames spread over the clip in each."""
    picks = np.linspace(0, len(clips["input"]) - 1, 4).round().astype(int)
    rows = [np.concatenate([np.pad(frames[i], ((2, 2), (2, 2), (0, 0)), constant_values=255) for i in picks], axis=1)
            for frames in clips.values()]
    Image.fromarray(np.concatenate(rows, axis=0)).save(path, quality=90)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vangogh")
    parser.add_argument("--photos", nargs="+", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 176), metavar=("W", "H"))
    parser.add_argument("--classifier-steps", type=int, default=400)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--strip", type=Path, help="also write 4 frames of the first clip: input, per-frame, clip")
    args = parser.parse_args()

    translator = Translator.from_file(resolve_model(args.model), device=args.device)
    print(f"model {args.model}; clips of {args.frames} frames, {args.size[0]}x{args.size[1]} at {args.fps} fps; "
          f"torch threads {torch.get_num_threads()}, device {translator.device}")
    start = time.perf_counter()
    classifier = train_classifier(load_folder(SAMPLES / "photos"), load_folder(SAMPLES / "vangogh"),
                                  steps=args.classifier_steps)
    print(f"classifier trained in {time.perf_counter() - start:.0f} s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for photo in args.photos:
            clip = write_clip(Path(tmp) / f"{photo.stem}.mp4", pan_zoom_frames(photo, args.frames, tuple(args.size)),
                              fps=args.fps)
            source = decode_frames(clip)
            shown = {"input": source}
            row = {"photo": photo.name, "input": flicker(source), "input_tone": tone_flicker(source),
                   "input_share": share_called_b(classifier, source)}
            for mode in ("frame", "clip"):
                out = Path(tmp) / f"{photo.stem}_{mode}.mp4"
                t = time.perf_counter()
                translate_video(clip, out, translator, norm_stats=mode)
                seconds = time.perf_counter() - t
                frames = shown[mode] = decode_frames(out)
                row[mode] = flicker(frames) - row["input"]
                row[f"{mode}_tone"] = tone_flicker(frames) - row["input_tone"]
                row[f"{mode}_share"] = share_called_b(classifier, frames)
                row[f"{mode}_fps"] = len(frames) / seconds
            rows.append(row)
            if args.strip and len(rows) == 1:
                write_strip(args.strip, shown)
            print(f"{photo.name}: input motion {row['input']:.2f}; added flicker per-frame {row['frame']:.2f}, "
                  f"clip {row['clip']:.2f}; added tone flicker {row['frame_tone']:.3f} / {row['clip_tone']:.3f}; "
                  f"called {args.model} {row['frame_share']:.3f} / {row['clip_share']:.3f} "
                  f"(input {row['input_share']:.3f}); {row['frame_fps']:.1f} / {row['clip_fps']:.1f} frames/s")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "photo"}
    print(f"mean over {len(rows)} clips: added flicker per-frame {mean['frame']:.2f}, clip {mean['clip']:.2f} "
          f"({mean['clip'] / mean['frame']:.2f}x); added tone flicker per-frame {mean['frame_tone']:.3f}, clip "
          f"{mean['clip_tone']:.3f}; share called {args.model}: per-frame {mean['frame_share']:.3f}, "
          f"clip {mean['clip_share']:.3f}, input {mean['input_share']:.3f}")


if __name__ == "__main__":
    main()
