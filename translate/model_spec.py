"""The model-file contract: what a generator is and how it is used, stored as JSON in the metadata of its
safetensors file (translate.checkpoint reads and writes the files; translate.spec_check checks every field
of a spec read from an untrusted file). Serving decides everything from this spec, never from a file name."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from translate import __version__, spec_check
from translate.spec_check import TASKS


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild and use a generator.

    Network inputs and outputs are pixels in [0, 1] mapped linearly onto `value_range`.
    `size_multiple`: height and width of inputs must be multiples of it (inference pads to it).
    `domains`: (source, target) names for translators; `labels`: class names for conditional
    generators; `latent_dim`/`image_size`: for generators of the "generation" task.
    """

    task: str
    arch: str
    arch_kwargs: dict[str, Any]
    in_channels: int
    out_channels: int
    value_range: tuple[float, float] = (-1.0, 1.0)
    scale: int = 1
    size_multiple: int = 1
    domains: tuple[str, str] | None = None
    labels: tuple[str, ...] | None = None
    latent_dim: int | None = None
    image_size: int | None = None
    recipe: str | None = None
    step: int | None = None
    version: str = __version__
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        low, high = self.value_range
        if not low < high:
            raise ValueError(f"value_range must be (low, high) with low < high, got {self.value_range}")
        json.dumps(self.arch_kwargs)  # constructors take JSON-serialisable arguments only

    @property
    def min_side(self) -> int:
        """The smallest input side inference pads to. Two multiples for downsampling nets with a normalised
        bottleneck (the ResNet generator's instance norm at 1/4 scale needs more than one pixel); one for the
        U-Net, which is built to reach 1x1 at its un-normalised innermost level (padding it to two multiples
        would change its output)."""
        m = self.size_multiple
        return m if self.arch == "unet" or m == 1 else 2 * m

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: object = "model spec") -> ModelSpec:
        """The spec in `text`, every field checked (translate.spec_check); ModelFileError naming `where`."""
        return cls(**spec_check.parse(text, where))
