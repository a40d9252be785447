"""Captions on training sample grids: which column is the input, the model's output, the target."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MARGIN = 14


def label_grid(grid: np.ndarray, cell: tuple[int, int], columns: int, column_labels: tuple[str, ...] = (),
               row_labels: tuple[str, ...] = (), padding: int = 2) -> np.ndarray:
    """Add a caption strip above `grid` naming each column and one at its left naming each row.

    grid: (H, W, 3) float pixels in [0, 1] as torchvision's make_grid lays them out (cells of `cell` =
    (height, width) with `padding` pixels around each, `columns` cells a row). Returns the larger image.
    """
    if not column_labels and not row_labels:
        return grid
    font = ImageFont.load_default()
    left = 0
    if row_labels:
        left = max(int(ImageDraw.Draw(Image.new("L", (1, 1))).textlength(t, font=font)) for t in row_labels) + 6
    top = MARGIN if column_labels else 0
    h, w = grid.shape[:2]
    canvas = Image.new("RGB", (w + left, h + top), "white")
    canvas.paste(Image.fromarray(np.round(np.clip(grid, 0, 1) * 255).astype(np.uint8)), (left, top))
    draw = ImageDraw.Draw(canvas)
    step_y, step_x = cell[0] + padding, cell[1] + padding
    for i, text in enumerate(column_labels[:columns]):
        draw.text((left + padding + i * step_x + 1, 1), text, fill="black", font=font)
    for i, text in enumerate(row_labels):
        if padding + i * step_y < h:
            draw.text((2, top + padding + i * step_y + cell[0] // 2 - 5), text, fill="black", font=font)
    return np.asarray(canvas, dtype=np.float32) / 255.0
