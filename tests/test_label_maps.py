"""Facade label maps: the palette and the drawer of example maps."""

import numpy as np
import pytest

from translate.label_maps import FACADE_CLASSES, colour, draw_facade


def test_palette_has_the_twelve_classes_in_distinct_colours():
    names = [n for n, _ in FACADE_CLASSES]
    assert len(names) == 12 and names[0] == "background" and names[-1] == "shop"
    assert len({rgb for _, rgb in FACADE_CLASSES}) == 12
    assert colour("window") == (0, 128, 255)
    with pytest.raises(KeyError, match="known: background, facade"):
        colour("roof")


def test_drawn_facades_use_only_palette_colours_and_differ_by_seed():
    first = draw_facade(0)
    assert first.shape == (256, 256, 3) and first.dtype == np.uint8
    used = {tuple(int(v) for v in px) for px in first.reshape(-1, 3)}
    assert used <= {rgb for _, rgb in FACADE_CLASSES}
    assert {colour(n) for n in ("facade", "window", "shop", "door", "sill")} <= used
    assert np.array_equal(first, draw_facade(0)) and not np.array_equal(first, draw_facade(1))
    assert draw_facade(3, size=128).shape == (128, 128, 3)
