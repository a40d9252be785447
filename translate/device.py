"""Device and precision choice, shared by training and serving (which must not import the training package)."""

from __future__ import annotations

import os

import torch

from translate.errors import ConfigError


def pick_device(choice: str, local_rank: int = 0) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without CUDA is an error."""
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def pick_amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The training autocast dtype for `mode` (auto, fp32 or its older name off, bf16, fp16) on `device`; None
    means plain float32. auto on the CPU is float32 even where the CPU computes bf16 natively: bf16 CPU
    training becomes the default only once a side-by-side run shows it trains as well."""
    if mode in ("fp32", "off") or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[mode]


def check_processes_fit(device: torch.device, local_world_size: int | None = None) -> None:
    """ConfigError when torchrun starts more processes on this node than it has GPUs: NCCL cannot share one
    GPU between two ranks, and each would otherwise fail deep inside the first collective."""
    if device.type != "cuda":
        return
    if local_world_size is None:
        local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    count = torch.cuda.device_count()
    if local_world_size > count:
        raise ConfigError(
            f"torchrun --nproc_per_node {local_world_size} on a node with {count} GPU{'s' if count != 1 else ''}: "
            f"start at most {count} processes per node, or pass --device cpu to train on the CPU (gloo)"
        )


def allow_tf32(device: torch.device) -> None:
    """Let float32 matrix products and convolutions on CUDA use TF32 tensor cores (10-bit mantissa inputs,
    float32 accumulation): the precision GAN training tolerates, at several times the speed on Ampere and
    later. The CPU path is left exactly as it was."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
