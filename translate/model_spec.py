"""The model-file contract: what a generator is and how it is used, stored as JSON in the metadata of its
safetensors file (translate.checkpoint reads and writes the files; translate.spec_check checks every field
of a spec read from an untrusted file). Serving decides everything from this spec, never from a recipe or file
name; files written before the spec said all serving needs are read by one legacy rule, :func:`legacy_defaults`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from translate import __version__, spec_check
from translate.spec_check import DIRECTIONS, TASKS


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild and use a generator.

    Network inputs and outputs are pixels in [0, 1] mapped linearly onto `value_range`.
    `size_multiple`: height and width of inputs must be multiples of it (inference pads to it).
    `domains`: (source, target) names for translators; `labels`: class names for conditional
    generators; `latent_dim`/`image_size`: for generators of the "generation" task.

    What serving reads to decide how to offer a model (never its recipe or file name):
    `min_multiples`: inputs are padded to at least this many size multiples a side (see :attr:`min_side`).
    `paired_input`: a translator whose input is the conditional half of an aligned pair (a label map, a
    sketch, an edge map), as pix2pix learns, rather than a picture of a domain; the app serves these in its
    paired tab with the sketch pad.
    `direction`: for translators, which way the model goes among a run's models: "AtoB" (the run's domain A
    to B; the one translator of a one-way run) or "BtoA" (the reverse of a pair); None for other tasks.
    Left at None, these three take the values of :func:`legacy_defaults`, which is how files written before
    they existed are read (serving reads `direction` through :attr:`way`).
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
    min_multiples: int | None = None
    paired_input: bool | None = None
    direction: str | None = None
    recipe: str | None = None
    step: int | None = None
    version: str = __version__
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, value in legacy_defaults(self.task, self.arch, self.size_multiple, self.recipe).items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        low, high = self.value_range
        if not low < high:
            raise ValueError(f"value_range must be (low, high) with low < high, got {self.value_range}")
        if self.direction not in (*DIRECTIONS, None) or (self.direction and self.task != "translation"):
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)} for a translator and None "
                             f"otherwise, got {self.direction!r} for a {self.task} model")
        if self.paired_input and self.task != "translation":
            raise ValueError(f"paired_input is for translators, not a {self.task} model")
        json.dumps(self.arch_kwargs)  # constructors take JSON-serialisable arguments only

    @property
    def way(self) -> str:
        """The direction the model serves: its `direction`; "AtoB" for models of other tasks, which go one way,
        and for a translator whose spec does not say (see :func:`legacy_defaults`)."""
        return self.direction or "AtoB"

    @property
    def min_side(self) -> int:
        """The smallest input side inference pads to: `min_multiples` size multiples."""
        return self.min_multiples * self.size_multiple

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: object = "model spec") -> ModelSpec:
        """The spec in `text`, every field checked (translate.spec_check); ModelFileError naming `where`.

        A file written before the `direction` field said which way it goes in its name (see
        :func:`legacy_defaults`): when `where` is a file's path, its name is read for that."""
        values = spec_check.parse(text, where)
        name = Path(where).name if isinstance(where, str | Path) else None
        legacy = legacy_defaults(values["task"], values["arch"], values["size_multiple"], values["recipe"], name)
        return cls(**{**values, **{k: v for k, v in legacy.items() if values.get(k) is None}})


def legacy_defaults(task: str, arch: str, size_multiple: int, recipe: str | None,
                    file_name: str | None = None) -> dict[str, Any]:
    """The legacy rule: values of min_multiples, paired_input and direction for a spec that does not state them
    (files written by version 0.1, which lack them, and specs built in code without them), derived from what
    such a spec holds, as serving decided before these fields existed:

    - min_multiples: 1 for the U-Net (built to reach 1x1 at its un-normalised innermost level; padding it to two
      multiples would change its output) and for nets without downsampling (size_multiple 1); 2 otherwise
      (the ResNet generator's instance norm at 1/4 scale needs more than one pixel).
    - paired_input: True for models of the pix2pix recipe, the only paired recipe of version 0.1.
    - direction: a translator file's name said it: "BtoA" when it ends in B2A (a pair's reverse, NAME_B2A or
      G_B2A; before the extension and an export's -fp16/-int8). Otherwise it stays None, not stated, which
      serving reads as "AtoB" (:attr:`ModelSpec.way`), as it does for specs built in code without one.
    """
    return {"min_multiples": 1 if arch == "unet" or size_multiple == 1 else 2,
            "paired_input": task == "translation" and recipe == "pix2pix",
            "direction": "BtoA" if task == "translation" and file_name and _named_b2a(file_name) else None}


def _named_b2a(file_name: str) -> bool:
    stem = file_name.split(".")[0]
    for variant in ("-fp16", "-int8"):
        stem = stem.removesuffix(variant)
    return stem.endswith("B2A")

