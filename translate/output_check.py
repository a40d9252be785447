"""Outputs no working model gives, refused rather than written as files.

A NaN or an infinity in a model's output (from a damaged weight the load-time check could not see, as in an
.onnx graph, or from arithmetic that overflows on this input) would be written as black pixels by every image
writer; an output of one flat colour for a varied input is what saturated weights give (all values huge:
an all-white image). Both are a broken model, so the user gets one line instead of a plausible-looking file.
"""

from __future__ import annotations

import torch

from translate.errors import ModelFileError


def check_values(where: object, out: torch.Tensor, inputs: torch.Tensor | None = None) -> None:
    """ModelFileError naming `where` if the batch `out` (N, C, H, W) holds a non-finite value, or if one of its
    items is of one value throughout while its input image (`inputs`, N, C, H, W) is not of one colour (a
    one-pixel image, or a black video frame, may well give a flat output); without `inputs`, only if every
    item is flat (generators: their latents differ)."""
    if not bool(torch.isfinite(out).all()):
        raise ModelFileError(f"{where}: the model's output holds NaN or infinite values; its weights are damaged "
                             "or diverged (no file written)")
    flat_out = out.flatten(1)
    flat = flat_out.amax(1) == flat_out.amin(1)
    if inputs is None:
        broken = bool(flat.all())
    else:
        pixels = inputs.flatten(2)
        varied = (pixels.amax(2) > pixels.amin(2)).any(1)
        broken = bool((flat & varied).any())
    if broken:
        raise ModelFileError(f"{where}: the model gives one flat colour for a varied input; its weights are "
                             "saturated or damaged (no file written)")
