"""Run configuration: frozen dataclasses filled from defaults, a TOML recipe file, a resumed run and flags.

Precedence, lowest first: dataclass defaults, the ``--config`` TOML file, the config saved in the run
folder being resumed, command-line flags. Field names are the TOML keys; ``--some-name`` is the flag.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from translate.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
AMP_MODES = ("auto", "off", "bf16", "fp16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
GRAPH_COMPILE_MODES = ("reduce-overhead", "max-autotune")
"""The modes that replay each compiled network's kernels as CUDA graphs."""


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with its command-line help text."""
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass(frozen=True)
class LoopConfig:
    """What the shared training loop needs; every recipe's run has these keys under [loop]."""

    out: str = option("runs/run", "run folder: checkpoints, model files, samples, logs")
    steps: int = option(1000, "total training steps (iterations)")
    batch_size: int = option(1, "images per step on each process")
    seed: int = option(0, "random seed (each torchrun process adds its rank)")
    device: str = option("auto", "auto (CUDA when present), cpu or cuda", choices=DEVICES)
    amp: str = option("auto", "mixed precision: auto (bf16/fp16 on CUDA, off on CPU), off, bf16, fp16",
                      choices=AMP_MODES)
    channels_last: bool = option(False, "store activations channels-last (faster convs on recent GPUs)")
    compile: bool = option(False, "torch.compile the networks")
    compile_mode: str = option("default", "with --compile: default, reduce-overhead (CUDA graphs: far fewer "
                               "kernel launches, for small batches on a GPU), max-autotune or "
                               "max-autotune-no-cudagraphs", choices=COMPILE_MODES)
    tf32: bool = option(True, "on CUDA, let float32 convolutions and matrix products use TF32 tensor cores "
                              "(no effect on the CPU)")
    ema: float = option(0.0, "decay of the generator's exponential moving average (0 = off, e.g. 0.999)")
    lr_decay_start: int | None = option(None, "step where the learning rate starts its linear decay to 0; "
                                        "unset: constant, except cyclegan, pix2pix and cut, which decay over the "
                                        "second half of steps (pass --lr-decay-start STEPS to keep it constant)")
    log_every: int = option(10, "steps between log lines")
    sample_every: int = option(500, "steps between sample grids")
    checkpoint_every: int = option(1000, "steps between checkpoints")
    workers: int = option(2, "data-loading worker processes per training process")
    progress: bool = option(True, "show progress: a bar on a terminal, else a line per log step "
                                  "(log.jsonl is written either way)")
    tensorboard: bool = option(True, "write TensorBoard scalars and images to OUT/tb")

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "log_every", "sample_every", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.seed < 2**40:  # numpy's seed sequences take no negatives; seed * 1e6 must fit torch's
            raise ConfigError(f"seed must be between 0 and 2**40, got {self.seed}")
        if self.workers < 0:
            raise ConfigError(f"workers must be 0 or more, got {self.workers}")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema must be in [0, 1), got {self.ema}")
        if self.lr_decay_start is not None and not 0 <= self.lr_decay_start <= self.steps:
            raise ConfigError(f"lr_decay_start must be between 0 and steps ({self.steps}), got {self.lr_decay_start}")
        check_choice("device", self.device, DEVICES)
        check_choice("amp", self.amp, AMP_MODES)
        check_choice("compile_mode", self.compile_mode, COMPILE_MODES)
        if self.compile_mode != "default" and not self.compile:
            raise ConfigError(f"compile_mode {self.compile_mode} applies to compiled networks; pass --compile too")


def check_range(name: str, value: float, low: float, high: float | None = None) -> None:
    """ConfigError unless low <= value (<= high)."""
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{name} must be {bounds}, got {value}")


def check_names(names: tuple[str, ...]) -> None:
    """ConfigError unless each domain name can go into model files: loading checks them as file-name parts
    (translate.spec_check), and a model saved with a name it refuses could not be used."""
    from translate.spec_check import SpecError, safe_name

    for i, name in enumerate(names):
        try:
            safe_name(name, f"names[{i}]")
        except SpecError as err:
            raise ConfigError(str(err)) from None


def check_adam(lr: float, beta1: float, beta2: float, lr_name: str = "lr") -> None:
    if lr <= 0:
        raise ConfigError(f"{lr_name} must be positive, got {lr}")
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not 0 <= beta < 1:
            raise ConfigError(f"{name} must be in [0, 1), got {beta}")


MAX_LOAD_SIDE = 8192
"""The largest shorter side an image is scaled to before cropping (load_size times any jitter)."""


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such recipe file")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML ({err})") from None


def build_config(cls: type, values: dict[str, Any], source: str) -> Any:
    """Instantiate dataclass `cls` from `values`, refusing unknown keys and wrong types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    converted = {name: _coerce(value, hints[name], f"{source}: {name}") for name, value in values.items()}
    try:
        return cls(**converted)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: {err}") from None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check `value` against a simple type hint (bool, int, float, str, X | None, tuple[T, ...])."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None:
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), where)
    if typing.get_origin(hint) is tuple:
        if isinstance(value, str) and args[0] is str:
            value = [value]  # one folder where a list of folders is allowed (older recipes and saved runs)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return tuple(_coerce(v, args[0], where) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (bool, int, float, str) and (not isinstance(value, hint) or (hint is int and isinstance(value, bool))):
        raise ConfigError(f"{where} must be {hint.__name__}, got {value!r}")
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain JSON-able values (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))
