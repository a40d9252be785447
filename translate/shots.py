"""Where a clip cuts from one shot to the next, so instance-norm statistics can be pooled per shot.

Statistics pooled over a whole clip suit one shot: a pan or a zoom keeps the scene, and the pooled
statistics keep its tone steady. Across a cut they mix scenes: a night shot and a sunny one, pooled
together, both come out in a tone the model gives neither on its own (benchmarks/video_shots.py). So
frames are grouped into shots and each shot gets its own.

A cut is a jump in the colour histogram between consecutive frames: 16 bins per RGB channel of a 32x32
thumbnail, compared by half the L1 distance (0 for the same colours, 1 for none in common). Over twelve
48-frame clips of fast pans, tilts, zooms and handheld shake with sensor noise (tests/clips.py) the largest
step was 0.075; cuts between different photos measured 0.34-0.58. CUT sits between. A gradual transition
(a dissolve) is not a cut: its shots share statistics, as a clip used to.
"""

from __future__ import annotations

from typing import Any

import numpy as np

THUMB = 32
BINS = 16
CUT = 0.2


def colour_histogram(frame: Any) -> np.ndarray:
    """An av.VideoFrame's colour histogram: 3 x BINS shares of a THUMB x THUMB thumbnail, summing to 1."""
    small = frame.reformat(width=THUMB, height=THUMB, format="rgb24").to_ndarray()
    counts = [np.bincount(small[..., c].ravel() // (256 // BINS), minlength=BINS) for c in range(3)]
    return np.concatenate(counts) / (3 * THUMB * THUMB)


def is_cut(before: np.ndarray, after: np.ndarray) -> bool:
    return 0.5 * float(np.abs(after - before).sum()) > CUT


def sample_frames(start: int, end: int, most: int) -> list[int]:
    """Up to `most` frame indices spread evenly over start..end-1, at most one in four frames (so short
    shots cost the network little extra work), at least one."""
    length = end - start
    n = max(1, min(most, -(-length // 4)))
    return sorted({start + min(length - 1, int((i + 0.5) * length / n)) for i in range(n)})
