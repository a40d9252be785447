"""Weights files made by other projects (torchvision's VGG19, the FID Inception-v3), read without running code.

Such files are usually pickles. They are read with ``torch.load(..., weights_only=True)``, whose unpickler
builds tensors and plain containers only and refuses anything else, or from a ``.safetensors`` copy.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch

from translate.errors import ModelFileError


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in `path`: names to tensors. ModelFileError naming the file when it is missing, a
    folder, unreadable, carries objects other than tensors, or holds something other than a state dict."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such weights file")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder, expected a weights file (.pth or .safetensors)")
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path, device="cpu")
        else:
            with warnings.catch_warnings():  # torch's note on raw pickles would break the one-line error
                warnings.filterwarnings("ignore", message="Detected pickle protocol")
                state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelFileError(
            f"{path}: not a plain weights file; its pickle holds objects other than tensors (or it is no PyTorch "
            "file at all), and they are refused because unpickling them can run code"
        ) from None
    # a file that is not a weights file makes these loaders raise nearly any exception type (KeyError,
    # EOFError, SafetensorError, ...); each one means the same thing to the user
    except Exception as err:  # noqa: BLE001
        problem = str(err).splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise ModelFileError(f"{path}: not a readable weights file, corrupt or truncated ({problem})") from None
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: holds a {type(state).__name__}, not a state dict of tensors")
    odd = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if odd:
        raise ModelFileError(f"{path}: not a state dict of tensors (entry {odd[0]!r} is a "
                             f"{type(state[odd[0]]).__name__})")
    return state
