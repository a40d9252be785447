"""Facade label maps: the 12 classes of the CMP Facade Database as the public pix2pix facades set colours
them, and a drawer of plausible label maps for examples and the app's sketch pad.

The colours were measured on the training set's label halves (the centres of flat regions, so JPEG noise
at the edges does not shift them); the class order is the database's (Tylecek 2013), coloured along a
jet colour map from dark blue (background) to dark red (shop).
"""

from __future__ import annotations

import numpy as np

FACADE_CLASSES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("background", (0, 0, 224)),
    ("facade", (0, 48, 255)),
    ("window", (0, 128, 255)),
    ("door", (0, 208, 255)),
    ("cornice", (32, 255, 224)),
    ("sill", (112, 255, 144)),
    ("balcony", (192, 255, 64)),
    ("blind", (255, 240, 0)),
    ("deco", (255, 160, 0)),
    ("molding", (255, 80, 0)),
    ("pillar", (255, 0, 0)),
    ("shop", (176, 0, 0)),
)


def colour(name: str) -> tuple[int, int, int]:
    """The RGB colour of a facade class; KeyError naming the classes for an unknown one."""
    for known, rgb in FACADE_CLASSES:
        if known == name:
            return rgb
    raise KeyError(f"unknown facade class {name!r}; known: {', '.join(n for n, _ in FACADE_CLASSES)}")


def draw_facade(seed: int, size: int = 256) -> np.ndarray:
    """A (size, size, 3) uint8 label map of a made-up facade: a wall with floors of windows (with sills,
    some with blinds or balconies), molding bands between floors, a cornice under the roof line and a
    ground floor of shops around a door. Different seeds give different buildings."""
    rng = np.random.default_rng(seed)
    out = np.empty((size, size, 3), np.uint8)
    out[:] = colour("background")

    def box(name: str, top: float, left: float, bottom: float, right: float) -> None:
        t, lft, b, r = (int(round(v)) for v in (top, left, bottom, right))
        out[max(t, 0):min(b, size), max(lft, 0):min(r, size)] = colour(name)

    left, right = size * rng.uniform(0.0, 0.08), size * rng.uniform(0.92, 1.0)
    top = size * rng.uniform(0.02, 0.12)
    box("facade", top, left, size, right)
    floors = int(rng.integers(3, 6))
    ground = size * rng.uniform(0.16, 0.24)
    floor_h = (size - top - ground) / floors
    columns = int(rng.integers(3, 7))
    bay = (right - left) / columns
    win_w, win_h = bay * rng.uniform(0.35, 0.55), floor_h * rng.uniform(0.45, 0.6)
    box("cornice", top, left, top + floor_h * 0.12, right)
    balcony_floor = int(rng.integers(1, floors))
    for f in range(floors):
        y = top + f * floor_h + floor_h * 0.25
        if f:
            box("molding", top + f * floor_h - floor_h * 0.04, left, top + f * floor_h + floor_h * 0.04, right)
        for c in range(columns):
            x = left + c * bay + (bay - win_w) / 2
            box("window", y, x, y + win_h, x + win_w)
            if rng.random() < 0.3:
                box("blind", y, x, y + win_h, x + win_w * 0.3)
                box("blind", y, x + win_w * 0.7, y + win_h, x + win_w)
            box("sill", y + win_h, x - win_w * 0.1, y + win_h + floor_h * 0.06, x + win_w * 1.1)
            if f == balcony_floor and c in (columns // 2, (columns - 1) // 2):
                box("balcony", y + win_h * 0.55, x - win_w * 0.25, y + win_h + floor_h * 0.1, x + win_w * 1.25)
    shop_top = size - ground
    box("molding", shop_top - floor_h * 0.05, left, shop_top + floor_h * 0.03, right)
    box("shop", shop_top + ground * 0.2, left + bay * 0.1, size, right - bay * 0.1)
    door_x = left + bay * (columns // 2) + bay * 0.3
    box("door", shop_top + ground * 0.2, door_x, size, door_x + bay * 0.4)
    box("pillar", shop_top + ground * 0.1, left, size, left + bay * 0.08)
    box("pillar", shop_top + ground * 0.1, right - bay * 0.08, size, right)
    box("deco", top - size * 0.02, (left + right) / 2 - bay * 0.3, top + floor_h * 0.1, (left + right) / 2 + bay * 0.3)
    return out
