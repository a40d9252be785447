"""Arithmetic precision: the one switch (``--precision``) of every command and the app, and an honest check
for a CPU that computes bfloat16 in hardware.

Recent CPUs (Intel Sapphire Rapids and later: AMX tiles; Cooper Lake, AMD Zen 4 and later: AVX-512 BF16;
Arm v8.6 and later: the BF16 extension) multiply bfloat16 several times faster than float32, and oneDNN
(PyTorch's CPU convolutions) uses those instructions. Elsewhere bfloat16 is emulated and slower than
float32, so ``auto`` picks it only where the CPU's own flags say the instructions are there.

Serving (translate, evaluate-*, the app): ``auto`` is bf16 on such a CPU, unless the model's spec says it
misses the bf16 quality bounds (see :data:`FP32_NOTE`); float32 elsewhere, on CUDA too (``--half`` is the
CUDA switch). Training: ``auto`` keeps its meaning (bf16 or fp16 autocast on CUDA, float32 on the CPU).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from translate.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")
"""What ``--precision`` takes in the serving commands and the app."""

FP32_NOTE = "bf16"
"""The spec note that keeps a model in float32 under ``auto``: ``notes["bf16"] = false`` for a model whose
bfloat16 output misses the bounds (a translator under 40 dB PSNR against its float32 output, a
super-resolution model losing more than 0.05 dB Y-PSNR on Set5 or Set14). Every bundled model meets them
(each card gives its figure), so none carries it."""

_FLAGS = {"amx_bf16": "AMX", "avx512_bf16": "AVX-512 BF16", "bf16": "Arm BF16"}
"""/proc/cpuinfo flags (x86 "flags", Arm "Features") that mean bfloat16 arithmetic in hardware, and their names."""


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere: then nothing is assumed)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_bf16() -> str | None:
    """What computes bfloat16 in hardware on this CPU for PyTorch ("AMX", "AVX-512 BF16", "Arm BF16"), or None:
    no such flag, or PyTorch built without oneDNN (whose kernels are what use the instructions)."""
    if not torch.backends.mkldnn.is_available():
        return None
    flags = _cpu_flags()
    return next((name for flag, name in _FLAGS.items() if flag in flags), None)


@dataclass(frozen=True)
class Precision:
    """The arithmetic a model runs in ("fp32", "bf16" or "fp16") and why, in words for start-up lines."""

    name: str
    reason: str

    @property
    def dtype(self) -> torch.dtype:
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.name]

    def line(self) -> str:
        return f"{self.name} ({self.reason})"


def serving_precision(choice: str, device: torch.device, notes: dict | None = None) -> Precision:
    """The precision a model runs in for `choice` (auto, fp32, bf16) on `device`; `notes`: its spec's notes,
    where :data:`FP32_NOTE` can keep it in float32 under auto."""
    if choice not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {choice!r}")
    if choice == "fp32":
        return Precision("fp32", "asked for")
    if device.type == "cuda":
        if choice == "bf16":
            return Precision("bf16", "asked for")
        return Precision("fp32", "auto: float32 on CUDA; --half for float16")
    native = cpu_bf16()
    if choice == "bf16":
        return Precision("bf16", f"asked for; this CPU computes it with {native}" if native else
                         "asked for; this CPU has no bf16 instructions, so it is emulated and slower than fp32")
    if native is None:
        return Precision("fp32", "auto: this CPU has no bf16 instructions")
    if (notes or {}).get(FP32_NOTE) is False:
        return Precision("fp32", f"auto: the model's spec keeps it in float32 (bf16 misses its quality bound), "
                         f"though this CPU has {native}")
    return Precision("bf16", f"auto: this CPU computes bf16 with {native}")


def describe_cpu() -> str:
    """One line on the CPU's bfloat16 support, for translate-info and footers."""
    native = cpu_bf16()
    return f"bf16 in hardware ({native}): --precision auto serves in bf16" if native else \
        "no bf16 instructions: --precision auto serves in fp32"
