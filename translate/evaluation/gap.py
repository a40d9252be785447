"""The gap between translations and the real target domain, model by model: evaluate-translation's
two-sample test (two_sample.py) and artefact figures (artefacts.py) for the untranslated test images and
each translator, printed as one table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from translate.data.io import write_image
from translate.evaluation.artefacts import ArtefactScore, artefact_score, colour_outliers, mark_outliers
from translate.evaluation.two_sample import TwoSampleScore, as_uint8_tensors, two_sample_test

Translate = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class GapRow:
    name: str
    colour: TwoSampleScore | None
    luminance: TwoSampleScore | None
    artefacts: ArtefactScore


def measure_gap(target: list[Image.Image], test: list[Image.Image], translators: list[tuple[str, Translate | None]],
                two_sample: bool = True, seeds: int = 3, steps: int = 600, marked: str | Path | None = None,
                test_names: list[str] | None = None, progress: Callable[[str], None] = lambda line: None
                ) -> list[GapRow]:
    """One row per (name, translator); None stands for the untranslated test images.

    `target`: real images of the target domain; `test`: source-domain images the translators never saw.
    With `marked`, each output is written there beside its new colour outliers, as NAME-TESTNAME.png.
    """
    test_names = test_names or [str(i) for i in range(len(test))]
    sources = [np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0 for im in test]
    real = as_uint8_tensors(target) if two_sample else []
    rows = []
    for name, translate in translators:
        outputs = sources if translate is None else [np.clip(translate(px), 0.0, 1.0) for px in sources]
        colour = luminance = None
        if two_sample:
            fake = as_uint8_tensors(list(outputs))
            colour = two_sample_test(real, fake, seeds, steps=steps)
            luminance = two_sample_test(real, fake, seeds, steps=steps, luminance=True)
        if marked is not None:
            folder = Path(marked)
            folder.mkdir(parents=True, exist_ok=True)
            for stem, out, src in zip(test_names, outputs, sources):
                write_image(folder / f"{name}-{stem}.png", mark_outliers(out, colour_outliers(out, src)))
        rows.append(GapRow(name, colour, luminance, artefact_score(list(outputs), sources)))
        progress(f"measured {name}")
    return rows


def format_gap(rows: list[GapRow]) -> list[str]:
    """The table evaluate-translation prints: accuracy as mean +- std over seeds, KID likewise."""
    lines = [f"{'':<24} {'2-sample acc (colour)':>22} {'luminance':>16} {'KID colour':>16} {'KID luminance':>16} "
             f"{'outliers':>9} {'new outl.':>9} {'border':>7}"]
    for row in rows:
        cells = []
        for score, what in ((row.colour, "accuracy"), (row.luminance, "accuracy"), (row.colour, "kid"),
                            (row.luminance, "kid")):
            width = 22 if not cells else 16
            if score is None:
                cells.append(f"{'-':>{width}}")
            else:
                text = f"{getattr(score, what):.3f} +- {getattr(score, what + '_spread'):.3f}"
                cells.append(f"{text:>{width}}")
        a = row.artefacts
        lines.append(f"{row.name[:24]:<24} {' '.join(cells)} {a.outlier_share:>9.4f} {a.new_outlier_share:>9.4f} "
                     f"{a.border_streak:>7.3f}")
    return lines
