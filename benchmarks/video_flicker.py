"""Flicker of video translation: per-frame instance-norm statistics, statistics pooled over the clip, and
those plus the flow-guided temporal blend.

    python benchmarks/video_flicker.py [--model vangogh] [--photos P1 P2 ...] [--moves pan tilt zoom handheld]
        [--frames 48] [--size 256 176] [--temporal 0.8] [--strip docs/video-frames.jpg]
        [--domains PHOTOS PAINTINGS] [--classifier-steps N]

For each photo and camera move a real clip is made (tests/clips.py camera_frames: a slow pan and zoom
across the photo, a tilt from its top to its bottom, a zoom in, a handheld shot with shake and sensor
noise; H.264, with a tone) and translated by `translate_video` three times: --norm-stats frame --temporal 0,
--norm-stats clip --temporal 0, and --norm-stats clip --temporal S. Measured on the decoded clips (pixels in [0, 255]):

- added flicker: the mean absolute frame-to-frame difference of the output minus that of the input, so
  the motion both share cancels (only roughly: a painting has more fine texture than the photo, so the same
  motion changes more of its pixels even when its texture moves with the content);
- warping error (Lai et al. 2018): the mean absolute difference between each output frame and the previous
  output warped along the input's motion, over the pixels where that motion is reliable. Motion comes from
  OpenCV's Farneback flow, not the DIS flow the blend itself uses, so the blend is not graded by its own
  estimate. Unlike the added flicker it does not count texture that moves with the content;
- tone flicker: the added flicker of each frame's mean colour;
- share called B: which share of each output's crops the domain classifier of evaluate-translation
  (trained on --domains, by default the bundled photo and painting samples) calls the target domain, so a
  mode that cost style would show;
- detail: the mean absolute difference between neighbouring pixels, against the per-frame output's, since
  blending frames smooths what it steadies; change: the mean absolute difference between the blended frame
  and the same frame translated without the blend (clip statistics), which ghosts would raise.
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

from clips import MOVES, camera_frames, decode_frames, frame_to_frame, write_clip  # noqa: E402

from translate.data.folders import to_pil  # noqa: E402
from translate.evaluation.translation import crops, load_folder, train_classifier  # noqa: E402
from translate.inference import Translator  # noqa: E402
from translate.temporal import DEFAULT_STRENGTH  # noqa: E402
from translate.video import translate_video  # noqa: E402
from translate.zoo import resolve_model  # noqa: E402

BSD68 = REPO.parent / "shared" / "data" / "sr" / "BSD68"
DEFAULT_PHOTOS = [BSD68 / n for n in ("101085.png", "102061.png", "108005.png")]
SAMPLES = REPO / "datasets" / "samples" / "photos_vangogh"


def tone_flicker(frames: list[np.ndarray]) -> float:
    """Mean absolute frame-to-frame change of each frame's mean colour: the global tone, which per-frame
    normalisation statistics move as the composition changes (a tilt from sky to ground), and which a
    pan across one photo barely changes."""
    means = np.array([f.reshape(-1, 3).astype(np.float32).mean(0) for f in frames])
    return float(np.abs(np.diff(means, axis=0)).mean())


def warping_error(source: list[np.ndarray], frames: list[np.ndarray]) -> float:
    import cv2

    errors = []
    for i in range(1, len(frames)):
        now, before = (cv2.cvtColor(source[j], cv2.COLOR_RGB2GRAY) for j in (i, i - 1))
        back = cv2.calcOpticalFlowFarneback(now, before, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        h, w = now.shape
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))

        def warp(image: np.ndarray, xs: np.ndarray = xs, ys: np.ndarray = ys, back: np.ndarray = back) -> np.ndarray:
            return cv2.remap(image.astype(np.float32), xs + back[..., 0], ys + back[..., 1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(np.nan,) * 3)

        reliable = np.abs(warp(source[i - 1]) - source[i]).mean(axis=2) < 10  # NaN beyond the edges: false
        errors.append(float(np.abs(warp(frames[i - 1]) - frames[i]).mean(axis=2)[reliable].mean()))
    return float(np.mean(errors))


def detail(frames: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(np.diff(f.astype(np.float32), axis=0)).mean()
                          + np.abs(np.diff(f.astype(np.float32), axis=1)).mean() for f in frames]) / 2)


def share_called_b(classifier: torch.nn.Module, frames: list[np.ndarray], seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        calls = [float((classifier(crops([to_pil(f.astype(np.float32) / 255)], 16, rng)).argmax(1) == 1).float()
                       .mean()) for f in frames]
    return float(np.mean(calls))


def write_strip(path: Path, clips: dict[str, list[np.ndarray]]) -> None:
    """Rows input / per-frame / clip statistics / with the blend, four frames spread over the clip in each."""
    picks = np.linspace(0, len(clips["input"]) - 1, 4).round().astype(int)
    rows = [np.concatenate([np.pad(frames[i], ((2, 2), (2, 2), (0, 0)), constant_values=255) for i in picks], axis=1)
            for frames in clips.values()]
    Image.fromarray(np.concatenate(rows, axis=0)).save(path, quality=90)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vangogh")
    parser.add_argument("--photos", nargs="+", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--moves", nargs="+", choices=MOVES, default=list(MOVES))
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 176), metavar=("W", "H"))
    parser.add_argument("--classifier-steps", type=int, default=400)
    parser.add_argument("--domains", type=Path, nargs=2, default=(SAMPLES / "photos", SAMPLES / "vangogh"),
                        metavar=("PHOTOS", "PAINTINGS"), help="the classifier's real images (default: the bundled "
                        "photos and Starry Night; ../shared/data/vangogh2photo/trainB trainA for the full-set model)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--temporal", type=float, default=DEFAULT_STRENGTH, help="the blend's strength")
    parser.add_argument("--strip", type=Path,
                        help="also write 4 frames of the first clip: input, per-frame, clip, blended")
    parser.add_argument("--strip-move", choices=MOVES, default="pan", help="the move of the strip's clip")
    args = parser.parse_args()

    translator = Translator.from_file(resolve_model(args.model), device=args.device)
    print(f"model {args.model}; clips of {args.frames} frames, {args.size[0]}x{args.size[1]} at {args.fps} fps; "
          f"torch threads {torch.get_num_threads()}, device {translator.device}")
    start = time.perf_counter()
    classifier = train_classifier(load_folder(args.domains[0]), load_folder(args.domains[1]),
                                  steps=args.classifier_steps)
    print(f"classifier trained in {time.perf_counter() - start:.0f} s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for move, photo in ((m, p) for m in args.moves for p in args.photos):
            clip = write_clip(Path(tmp) / f"{photo.stem}_{move}.mp4",
                              camera_frames(photo, args.frames, tuple(args.size), move), fps=args.fps)
            source = decode_frames(clip)
            shown = {"input": source}
            row = {"move": move, "input": frame_to_frame(source), "input_tone": tone_flicker(source),
                   "input_share": share_called_b(classifier, source)}
            for mode, norm_stats, temporal in (("frame", "frame", 0.0), ("clip", "clip", 0.0),
                                               ("blend", "clip", args.temporal)):
                out = Path(tmp) / f"{photo.stem}_{mode}.mp4"
                t = time.perf_counter()
                translate_video(clip, out, translator, norm_stats=norm_stats, temporal=temporal)
                seconds = time.perf_counter() - t
                frames = shown[mode] = decode_frames(out)
                row[mode] = frame_to_frame(frames) - row["input"]
                row[f"{mode}_warp"] = warping_error(source, frames)
                row[f"{mode}_tone"] = tone_flicker(frames) - row["input_tone"]
                row[f"{mode}_share"] = share_called_b(classifier, frames)
                row[f"{mode}_detail"] = detail(frames)
                row[f"{mode}_fps"] = len(frames) / seconds
            row["change"] = float(np.mean([np.abs(a.astype(np.float32) - b.astype(np.float32)).mean()
                                           for a, b in zip(shown["blend"], shown["clip"])]))
            rows.append(row)
            if args.strip and move == args.strip_move and photo == args.photos[0]:
                write_strip(args.strip, shown)
            report(f"{photo.name} {move} (input motion {row['input']:.2f}, called {args.model} "
                   f"{row['input_share']:.3f})", row)
    for move in args.moves:
        report(f"{move}: mean over {len(args.photos)} clips", mean([r for r in rows if r["move"] == move]))
    report(f"mean over all {len(rows)} clips", mean(rows))


def mean(rows: list[dict]) -> dict:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "move"}


def report(title: str, row: dict) -> None:
    print(f"{title}; per-frame / clip statistics / clip + blend:")
    print(f"  input: motion {row['input']:.2f}, share called B {row['input_share']:.3f}")
    for name, key, digits in (("added flicker", "", 2), ("warping error", "_warp", 2),
                              ("added tone flicker", "_tone", 3), ("share called B", "_share", 3),
                              ("detail", "_detail", 2), ("frames/s", "_fps", 2)):
        print(f"  {name}: " + " / ".join(f"{row[mode + key]:.{digits}f}" for mode in ("frame", "clip", "blend")))
    print(f"  blended frame vs the same frame unblended: {row['change']:.2f}")


if __name__ == "__main__":
    main()
