"""Run configuration: frozen dataclasses filled from defaults, a TOML recipe file, a resumed run and flags.

Precedence, lowest first: dataclass defaults, the ``--config`` TOML file, the config saved in the run
folder being resumed, command-line flags; what is still unset then gets the recipe's default (the second-half
decay). Field names are the TOML keys; ``--some-name`` is the flag. :func:`run_configs` does the merging and
its checks for the ``train-*`` commands and Python callers alike; the commands only parse their flags.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from translate.errors import ConfigError

if TYPE_CHECKING:
    from translate.training.recipe import Recipe

DEVICES = ("auto", "cpu", "cuda")
AMP_MODES = ("auto", "fp32", "off", "bf16", "fp16")
"""The training precisions; "off" is the older spelling of "fp32"."""
PRESETS = ("auto", "cpu", "paper")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
GRAPH_COMPILE_MODES = ("reduce-overhead", "max-autotune")
"""The modes that replay each compiled network's kernels as CUDA graphs."""


CONFIG_FILE = "config.json"
"""The resolved configuration a run folder holds, what ``--resume`` reads back."""


def option(default: Any, help: str, choices: tuple[Any, ...] | None = None, aliases: tuple[str, ...] = ()) -> Any:
    """A dataclass field with its command-line help text and, where only some values are allowed, their list: the
    one place they are declared (the ``--flag`` offers them, :func:`check_choices` enforces them). aliases: more
    flag names for the field (``--precision``, the name every command shares, for ``amp``)."""
    metadata: dict[str, Any] = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if aliases:
        metadata["aliases"] = tuple(aliases)
    return field(default=default, metadata=metadata)


def check_choices(config: Any) -> None:
    """ConfigError for the first field of dataclass `config` whose value is not among its option's choices
    (None passes where it is the field's default: "unset")."""
    for f in dataclasses.fields(config):
        choices, value = f.metadata.get("choices"), getattr(config, f.name)
        if choices is None or (value is None and f.default is None):
            continue
        if value not in choices:
            raise ConfigError(f"{f.name} must be one of {', '.join(map(str, choices))}, got {value!r}")


@dataclass(frozen=True)
class LoopConfig:
    """What the shared training loop needs; every recipe's run has these keys under [loop]."""

    out: str = option("runs/run", "run folder: checkpoints, model files, samples, logs")
    steps: int = option(1000, "total training steps (iterations)")
    batch_size: int = option(1, "images per step on each process")
    seed: int = option(0, "random seed (each torchrun process adds its rank)")
    device: str = option("auto", "where training runs: auto (CUDA when there is a GPU), cpu or cuda", choices=DEVICES)
    amp: str = option("auto", "precision (autocast): auto (bf16/fp16 on CUDA; fp32 on the CPU, bf16 CPUs "
                      "included, until bf16 CPU training is shown to match fp32), fp32 (or off), bf16, fp16",
                      choices=AMP_MODES, aliases=("--precision",))
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
    checkpoint_every: int = option(1000, "steps between checkpoints (model files are written with each)")
    checkpoint_minutes: float = option(10.0, "also checkpoint at the first log step this many minutes after the "
                                       "last checkpoint (0: by steps only)")
    workers: int = option(2, "data-loading worker processes per training process")
    progress: bool = option(True, "show progress: a bar on a terminal, else a line per log step "
                                  "(log.jsonl is written either way)")
    tensorboard: bool = option(True, "write TensorBoard scalars and images to OUT/tb")
    preset: str = option("auto", "network and crop size of cyclegan, cut and pix2pix: cpu (cyclegan and cut: "
                         "ngf 32, 6 blocks, crop 128, resize-conv, about 15x fewer operations a step; pix2pix: "
                         "ngf 32), paper (the paper's, or the recipe file's), auto (cpu when training on a CPU "
                         "and no network or crop option is given)",
                         choices=PRESETS)

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "log_every", "sample_every", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.seed < 2**40:  # numpy's seed sequences take no negatives; seed * 1e6 must fit torch's
            raise ConfigError(f"seed must be between 0 and 2**40, got {self.seed}")
        if self.workers < 0:
            raise ConfigError(f"workers must be 0 or more, got {self.workers}")
        if not 0.0 <= self.checkpoint_minutes < 1e6:
            raise ConfigError(f"checkpoint_minutes must be 0 or more, got {self.checkpoint_minutes}")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema must be in [0, 1), got {self.ema}")
        if self.lr_decay_start is not None and not 0 <= self.lr_decay_start <= self.steps:
            raise ConfigError(f"lr_decay_start must be between 0 and steps ({self.steps}), got {self.lr_decay_start}")
        check_choices(self)
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


def with_recipe_defaults(loop: LoopConfig, recipe_cls: type[Recipe]) -> LoopConfig:
    """`loop` with what it leaves to the recipe filled in: a recipe that decays over the second half (CycleGAN,
    pix2pix, CUT) gets lr_decay_start = steps // 2 where none was set. The loop applies this to every run,
    so a run started from Python trains on the schedule its ``train-*`` command gives it."""
    if recipe_cls.lr_decay_from_half and loop.lr_decay_start is None:
        return dataclasses.replace(loop, lr_decay_start=loop.steps // 2)
    return loop


def read_run_config(run: str | Path, recipe_name: str) -> dict[str, Any]:
    """The saved configuration of run folder `run`: {"recipe": name, "loop": {...}, name: {...}}, checked to be
    a run of recipe `recipe_name` (continuing another recipe's run would read its settings as ours)."""
    path = Path(run) / CONFIG_FILE
    if not path.is_file() and any(Path(run).glob(f".{CONFIG_FILE}.incomplete-*.tmp")):
        raise ConfigError(f"--resume {run}: the run was stopped while writing its {CONFIG_FILE}, before any training; "
                          f"start it again without --resume (the same --out; its leftover is removed)")
    if not path.is_file():
        raise ConfigError(f"--resume {run}: no {CONFIG_FILE} there; not a run folder")
    try:
        saved = json.loads(path.read_text())
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError included; RecursionError: nested too deep
        problem = str(err).splitlines()[0][:160]
        raise ConfigError(f"--resume {run}: {CONFIG_FILE} is not valid JSON ({problem})") from None
    name = saved.get("recipe") if isinstance(saved, dict) else None
    if not (isinstance(name, str) and isinstance(saved.get("loop"), dict) and isinstance(saved.get(name), dict)):
        raise ConfigError(f"--resume {run}: {CONFIG_FILE} lacks the recipe, loop or recipe settings")
    if name != recipe_name:
        raise ConfigError(f"--resume {run}: that run was trained by recipe {name!r}, not {recipe_name!r}; "
                          f"use train-{name}")
    return saved


def run_configs(recipe_cls: type[Recipe], config_file: str | Path | None = None, resume: str | Path | None = None,
                loop_values: dict[str, Any] | None = None,
                recipe_values: dict[str, Any] | None = None,
                notes: list[str] | None = None) -> tuple[LoopConfig, Any]:
    """The (loop config, recipe config) of a run, merged from, lowest first: the dataclass defaults, the TOML
    recipe file `config_file` (a new run) or the saved config of run folder `resume` (a resumed one), then
    `loop_values` and `recipe_values` (a ``train-*`` command's flags), then the recipe's defaults for what is
    still unset (:func:`with_recipe_defaults`). What was filled in for the user (the CPU preset, a decay start
    that follows ``--steps``) is said in one line each, appended to `notes`. Every check a run's settings get is
    made here or in the dataclasses, so Python callers and the command line get the same runs and the same errors."""
    name = recipe_cls.name
    overrides = dict(loop_values or {})
    loop_from_file: dict[str, Any] = {}
    recipe_from_file: dict[str, Any] = {}
    if config_file and resume:
        raise ConfigError("give --config for a new run or --resume for an old one, not both")
    if config_file:
        table = read_toml(config_file)
        extra = sorted(set(table) - {"loop", name, "expect", "description"})
        if name not in table and extra:
            raise ConfigError(f"{config_file}: has no [{name}] table; it is not a train-{name} recipe")
        if extra:
            raise ConfigError(f"{config_file}: unknown table(s) {', '.join(extra)}")
        loop_from_file, recipe_from_file = dict(table.get("loop", {})), dict(table.get(name, {}))
    if resume:
        saved = read_run_config(resume, name)
        if overrides.get("out") not in (None, str(resume)):
            raise ConfigError("--resume continues a run in its own folder; drop --out")
        loop_from_file, recipe_from_file = dict(saved["loop"]), dict(saved[name])
        loop_from_file["out"] = str(resume)
    source = str(config_file or resume or "flags")
    notes = notes if notes is not None else []
    decay = _decay_following_steps(loop_from_file, overrides, source, bool(resume), notes)
    if decay is not None:
        overrides["lr_decay_start"] = decay
    loop = build_config(LoopConfig, {**loop_from_file, **overrides}, source)
    recipe_given = {**recipe_from_file, **(recipe_values or {})}
    recipe_given = {**_preset_values(recipe_cls, loop, recipe_given, notes), **recipe_given}
    recipe_config = build_config(recipe_cls.config_class, recipe_given, source)
    return with_recipe_defaults(loop, recipe_cls), recipe_config


def _decay_following_steps(from_file: dict[str, Any], overrides: dict[str, Any], source: str, resumed: bool,
                           notes: list[str]) -> int | None:
    """The decay start a recipe file's (or a resumed run's) schedule gets when ``--steps`` is given without
    ``--lr-decay-start``: the same fraction of the new step count, so a recipe tried with ``--steps 20`` decays
    as its full run would. A resumed run keeps its schedule unless it would start past the new end. None: keep
    what the file says."""
    decay, steps, old_steps = from_file.get("lr_decay_start"), overrides.get("steps"), from_file.get("steps")
    if "lr_decay_start" in overrides or not isinstance(decay, int) or not isinstance(steps, int) or steps < 1:
        return None
    if not isinstance(old_steps, int) or old_steps < 1:
        old_steps = LoopConfig.steps
    if steps == old_steps or (resumed and decay <= steps):
        return None
    follows = min(steps, round(decay * steps / old_steps))
    notes.append(f"lr_decay_start follows --steps: {decay} of {old_steps} steps in {source} -> {follows} of "
                 f"{steps} (pass --lr-decay-start N to set it)")
    return follows


def _preset_values(recipe_cls: type[Recipe], loop: LoopConfig, given: dict[str, Any],
                   notes: list[str]) -> dict[str, Any]:
    """The recipe's CPU preset (its ``cpu_preset``: a smaller generator and crop) where ``--preset`` asks for it,
    or, with ``--preset auto``, where the run trains on a CPU and neither the recipe file nor a flag set any of
    its keys: the paper's network takes minutes a step on a CPU. Keys that were given are kept."""
    preset = recipe_cls.cpu_preset
    if not preset or loop.preset == "paper":
        return {}
    if loop.preset == "auto" and (any(key in given for key in preset) or not _trains_on_cpu(loop.device)):
        return {}
    chosen = {key: value for key, value in preset.items() if key not in given}
    if chosen:
        settings = ", ".join(f"{key.replace('_', '-')} {value}" for key, value in chosen.items())
        notes.append(f"CPU preset: {settings} (the bundled models' CPU settings); pass --preset paper for the "
                     "paper's network")
    return chosen


def _trains_on_cpu(device: str) -> bool:
    if device == "cpu":
        return True
    import torch

    return device == "auto" and not torch.cuda.is_available()
