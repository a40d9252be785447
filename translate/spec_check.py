"""The one validator of model specs, for .safetensors model files and .onnx exports alike.

Model files travel between people, so a spec is untrusted input: every field is checked for type, range and
allowed values (names must be safe as parts of file names: the target domain names output files), and then
against the network itself. The architecture is first built on PyTorch's "meta" device (shapes only, no
memory, so hostile sizes cost nothing) and its parameter names, shapes and types are compared with the file's
tensors before anything is loaded; the real network, whose size the file's tensors then bound, runs once at
the smallest input the spec promises to take, which checks its channels, scale, size multiple and image size:
a spec that lies about them is refused instead of giving a silently wrong output. Every problem is a
ModelFileError of one line naming the file and the field.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from translate.errors import ModelFileError

TASKS = ("translation", "super-resolution", "generation")
IMAGE_TASKS = ("translation", "super-resolution")
DIRECTIONS = ("AtoB", "BtoA")
"""Which way a translator goes among a run's models: from the run's domain A to B, or back."""
MAX_MIN_MULTIPLES = 4
MAX_MIN_SIDE = 2048
"""Bounds of min_multiples and of the smallest side it makes: the output check runs the network at that side."""
MAX_INT = 4096
"""Largest accepted integer in a spec (channels, widths, blocks, sizes): far above any real generator, and
small enough that building the network to check it stays quick."""
MAX_SIZE_MULTIPLE = {"unet": 1024}
"""Largest size multiple per architecture (default 64): a U-Net of 10 levels needs 1024; the others need 4 at
most. The output check runs the network at two multiples, so this also bounds its cost."""
MAX_SCALE = 16
MAX_NAME = 100
MAX_LABELS = 1000
MAX_SPEC_CHARS = 1_000_000
MAX_SPEC_DEPTH = 32
"""Bounds of a spec's JSON text: its length, and how deeply its arrays and objects nest (a spec needs 3; free-form
notes get more). Python's JSON reader recurses once per level, so 100,000 levels would exhaust its stack."""
MIN_VALUE_SPAN = 1e-3
"""Smallest high - low of a value_range, absolute and relative to its larger end (times 1e-2 there): pixels map
linearly onto it, and a span float32 cannot tell 65,536 levels apart in gives a garbage image."""
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')
"""A JSON string (to its end, if unterminated), or a bracket: read left to right, in one pass."""
_UNSAFE_IN_NAMES = set('/\\<>:"|?*')


class SpecError(ValueError):
    """One spec field with a problem; :func:`where` turns it into the user's one line."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def fail(where: object, field: str, problem: str) -> ModelFileError:
    return ModelFileError(f"{where}: model spec field {field!r} {problem}")


def parse(text: Any, where: object) -> dict[str, Any]:
    """The spec's fields from its JSON text, each checked; ModelFileError naming `where` and the field."""
    if not isinstance(text, str):
        raise ModelFileError(f"{where}: model spec is missing")
    if len(text) > MAX_SPEC_CHARS:
        raise ModelFileError(f"{where}: model spec is {len(text):,} characters long, over the limit of "
                             f"{MAX_SPEC_CHARS:,}")
    if nesting(text) > MAX_SPEC_DEPTH:
        raise ModelFileError(f"{where}: model spec nests arrays and objects over {MAX_SPEC_DEPTH} levels deep")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ModelFileError(f"{where}: model spec is not valid JSON") from None
    try:
        return check_fields(data)
    except SpecError as err:
        raise fail(where, err.field, err.problem) from None


def nesting(text: str) -> int:
    """How deeply the arrays and objects of JSON `text` nest (brackets inside strings do not count), read
    without parsing it."""
    depth = deepest = 0
    for token in _JSON_TOKENS.findall(text):
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _int(data: Mapping[str, Any], key: str, low: int, high: int, default: Any = None, required: bool = False) -> Any:
    if key not in data or data[key] is None:
        if required:
            raise SpecError(key, "is missing")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(key, f"must be an integer, got {_show(value)}")
    if not low <= value <= high:
        raise SpecError(key, f"must be in [{low}, {high}], got {value}")
    return value


def _bool(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise SpecError(key, f"must be true or false, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def safe_name(value: Any, field: str) -> str:
    """`value` if it can be part of a file name on any system: 1..64 characters, no path separators, no
    characters Windows forbids, no control characters, not starting with a dot or a space."""
    if not isinstance(value, str):
        raise SpecError(field, f"must be a string, got {_show(value)}")
    if not 1 <= len(value) <= MAX_NAME:
        raise SpecError(field, f"must be 1 to {MAX_NAME} characters long, got {len(value)}")
    bad = [c for c in value if c in _UNSAFE_IN_NAMES or unicodedata.category(c).startswith("C")]
    if bad or value[0] in ". " or value[-1] in ". ":
        raise SpecError(field, f"{_show(value)} cannot be part of a file name (no / \\ < > : \" | ? *, control "
                               "characters, or dots and spaces at the ends)")
    return value


def _names(data: Mapping[str, Any], key: str, count: int | None) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise SpecError(key, f"must be a list of names, got {_show(value)}")
    if count is not None and len(value) != count:
        raise SpecError(key, f"must hold {count} names, got {len(value)}")
    if not 1 <= len(value) <= MAX_LABELS:
        raise SpecError(key, f"must hold 1 to {MAX_LABELS} names, got {len(value)}")
    names = tuple(safe_name(v, f"{key}[{i}]") for i, v in enumerate(value))
    if len(set(names)) != len(names):
        raise SpecError(key, "has the same name twice")
    return names


def _arch_kwargs(arch: str, value: Any) -> dict[str, Any]:
    """Keyword arguments that the constructor of `arch` takes, each of the type of its default."""
    from translate.nets import GENERATORS

    if not isinstance(value, dict):
        raise SpecError("arch_kwargs", f"must be an object, got {_show(value)}")
    params = inspect.signature(GENERATORS[arch]).parameters
    for key, item in value.items():
        field = f"arch_kwargs.{key}"
        if key not in params or params[key].default is inspect.Parameter.empty:
            raise SpecError(field, f"is not an option of architecture {arch!r} (options: {', '.join(params)})")
        default = params[key].default
        if isinstance(default, bool):
            ok = isinstance(item, bool)
        elif isinstance(default, int):
            ok = isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= MAX_INT
        elif isinstance(default, float):
            ok = isinstance(item, int | float) and not isinstance(item, bool) and 0.0 <= item <= 1.0
        elif isinstance(default, str):
            ok = isinstance(item, str) and 0 < len(item) <= MAX_NAME
        else:
            ok = False
        if not ok:
            kind = {bool: "true or false", int: f"an integer in [0, {MAX_INT}]", float: "a number in [0, 1]",
                    str: "a short string"}.get(type(default), "a supported value")
            raise SpecError(field, f"must be {kind}, got {_show(item)}")
    return dict(value)


def check_fields(data: Any) -> dict[str, Any]:
    """The ModelSpec keyword arguments from a parsed spec, or SpecError for the first bad field.

    Fields this version does not know are dropped (a newer writer may add descriptive ones); every known
    field is checked for type, range and allowed values, and for agreement with the task.
    """
    from translate.nets import GENERATORS

    if not isinstance(data, dict):
        raise SpecError("spec", f"must be a JSON object, got {_show(data)}")
    task = data.get("task")
    if task not in TASKS:
        raise SpecError("task", f"must be one of {', '.join(TASKS)}, got {_show(task)}")
    arch = data.get("arch")
    if not isinstance(arch, str) or arch not in GENERATORS:
        shown = repr(arch[:MAX_NAME]) if isinstance(arch, str) else _show(arch)
        raise SpecError("arch", f"names an unknown architecture {shown} (known: {', '.join(sorted(GENERATORS))});"
                                " it may need a newer gan-translate")
    out: dict[str, Any] = {"task": task, "arch": arch, "arch_kwargs": _arch_kwargs(arch, data.get("arch_kwargs"))}
    out["in_channels"] = _int(data, "in_channels", 1, MAX_INT, required=True)
    out["out_channels"] = _int(data, "out_channels", 1, MAX_INT, required=True)
    if task in IMAGE_TASKS and (out["in_channels"], out["out_channels"]) != (3, 3):
        raise SpecError("in_channels" if out["in_channels"] != 3 else "out_channels",
                        "must be 3 for an image model (RGB in, RGB out)")
    if task == "generation" and out["out_channels"] not in (1, 3):
        raise SpecError("out_channels", f"must be 1 or 3 for a generation model, got {out['out_channels']}")
    out["value_range"] = _value_range(data.get("value_range", [-1.0, 1.0]))
    out["scale"] = _int(data, "scale", 1, MAX_SCALE, default=1)
    if task != "super-resolution" and out["scale"] != 1:
        raise SpecError("scale", f"must be 1 for a {task} model, got {out['scale']}")
    out["size_multiple"] = _int(data, "size_multiple", 1, MAX_SIZE_MULTIPLE.get(arch, 64), default=1)
    out["min_multiples"] = _int(data, "min_multiples", 1, MAX_MIN_MULTIPLES)
    if out["min_multiples"] is not None and out["min_multiples"] * out["size_multiple"] > MAX_MIN_SIDE:
        raise SpecError("min_multiples", f"times size_multiple ({out['size_multiple']}) must be at most "
                                         f"{MAX_MIN_SIDE}, got {out['min_multiples']}")
    out["paired_input"] = _bool(data, "paired_input")
    if out["paired_input"] and task != "translation":
        raise SpecError("paired_input", f"is for translators, not a {task} model")
    direction = data.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise SpecError("direction", f"must be one of {', '.join(DIRECTIONS)}, got {_show(direction)}")
    out["direction"] = direction if task == "translation" else None  # other models go one way
    out["domains"] = _names(data, "domains", 2)
    out["labels"] = _names(data, "labels", None)
    out["latent_dim"] = _int(data, "latent_dim", 1, MAX_INT, required=task == "generation")
    out["image_size"] = _int(data, "image_size", 1, MAX_INT, required=task == "generation")
    if task == "generation" and out["latent_dim"] != out["in_channels"]:
        raise SpecError("latent_dim", f"must equal in_channels ({out['in_channels']}), got {out['latent_dim']}")
    if task != "generation" and out["labels"] is not None:
        raise SpecError("labels", f"class names are for generation models, not a {task} model")
    recipe = data.get("recipe")
    out["recipe"] = None if recipe is None else safe_name(recipe, "recipe")
    out["step"] = _int(data, "step", 0, 2**62)
    version = data.get("version", "unknown")
    if not isinstance(version, str) or not 0 < len(version) <= MAX_NAME:
        raise SpecError("version", f"must be a short string, got {_show(version)}")
    out["version"] = version
    notes = data.get("notes", {})
    if not isinstance(notes, dict):
        raise SpecError("notes", f"must be an object, got {_show(notes)}")
    out["notes"] = notes
    return out


def _value_range(value: Any) -> tuple[float, float]:
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise SpecError("value_range", f"must be [low, high] (two numbers), got {_show(value)}")
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high) and -1e4 <= low < high <= 1e4):
        raise SpecError("value_range", f"must have finite low < high within [-1e4, 1e4], got {_show(value)}")
    if high - low < max(MIN_VALUE_SPAN, 1e-2 * max(abs(low), abs(high))):
        raise SpecError("value_range", f"spans too little for pixel values (at least {MIN_VALUE_SPAN:g}, and "
                                       f"1/100 of its larger end), got {_show(value)}")
    return low, high


def promised_input(spec: Any) -> tuple[int, ...]:
    """The input shape a shape check feeds: batch 1 of latents, or an image of the smallest side inference
    pads to by one size multiple more (an odd number of multiples, not square), which exposes a network
    that needs a larger multiple than the spec says."""
    if spec.task == "generation":
        return (1, spec.latent_dim)
    return (1, spec.in_channels, spec.min_side, spec.min_side + spec.size_multiple)


def promised_output(spec: Any) -> tuple[int, ...]:
    """The output shape the spec promises for :func:`promised_input`."""
    if spec.task == "generation":
        return (1, spec.out_channels, spec.image_size, spec.image_size)
    _, _, h, w = promised_input(spec)
    return (1, spec.out_channels, h * spec.scale, w * spec.scale)


def check_output(where: object, spec: Any, run: Callable[..., Any]) -> None:
    """ModelFileError unless `run` (a network, or a wrapper around one) gives the promised output shape."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _run_promised(spec, run)
            shape, finite = tuple(out.shape), bool(torch.isfinite(out).all())
    except ModelFileError:  # a run stopped for its time limit: its own line
        raise
    except Exception as err:  # noqa: BLE001 - a lying spec can make any layer fail; the user needs one line
        problem = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise ModelFileError(f"{where}: the network fails on an input of the size its spec promises to take "
                             f"({problem}); check scale, size_multiple, channels and sizes in its spec") from None
    if not finite:
        raise ModelFileError(f"{where}: the network's output holds NaN or infinite values (on a plain input of the "
                             "size its spec promises); its weights are damaged or diverged")
    if shape != promised_output(spec):
        raise ModelFileError(
            f"{where}: the network turns a {_dims(promised_input(spec))} input into {_dims(shape)}, but its spec "
            f"promises {_dims(promised_output(spec))}; check scale, size_multiple, channels and image_size in its spec")


@torch.no_grad()
def _run_promised(spec: Any, run: Callable[..., Any]) -> Any:
    if spec.task == "generation":
        z = torch.zeros(promised_input(spec))
        return run(z, torch.zeros(1, dtype=torch.int64)) if spec.labels is not None else run(z)
    return run(torch.zeros(promised_input(spec)))


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
"""safetensors dtype names that load into floating-point parameters (half-precision weights are fine)."""


class _ShapesOnly(TorchFunctionMode):
    """Skips random initialisation of meta tensors, which have no values to fill: PyTorch's meta version of
    normal_ imports its compiler on first use, seconds of start-up for every command."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in (torch.Tensor.normal_, torch.nn.init.normal_):
            tensor = args[0] if args else kwargs.get("tensor")
            if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                return tensor
        return func(*args, **kwargs)


def check_network(where: object, spec: Any, tensors: Mapping[str, tuple[tuple[int, ...], str]]) -> None:
    """Build `spec`'s network on the meta device and check it against the file's tensors ({name: (shape,
    safetensors dtype)}); ModelFileError naming `where` otherwise. Then :func:`check_output` on the real
    network, which these checks bound to the size of the file's tensors."""
    from translate.nets import GENERATORS

    try:
        # hostile sizes (0 channels) make PyTorch warn; the checks below turn them into one clear error
        with torch.device("meta"), _ShapesOnly(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = GENERATORS[spec.arch](**spec.arch_kwargs).eval()
    except Exception as err:  # noqa: BLE001 - the constructors raise many types for values they refuse
        problem = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise fail(where, "arch_kwargs", f"cannot build a {spec.arch!r} network ({problem})") from None
    expected = {name: tuple(t.shape) for name, t in net.state_dict().items()}
    shapes = {name: tuple(shape) for name, (shape, _) in tensors.items()}
    missing = sorted(set(expected) - set(shapes))
    extra = sorted(set(shapes) - set(expected))
    wrong = sorted(n for n in set(expected) & set(shapes) if expected[n] != tuple(shapes[n]))
    for names, what in ((missing, "lacks the tensor"), (extra, "has an unexpected tensor"), (wrong, "has the tensor")):
        if names:
            detail = f" of shape {_dims(tuple(shapes[names[0]]))}, expected {_dims(expected[names[0]])}" if what == \
                "has the tensor" else ""
            more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
            raise ModelFileError(f"{where}: weights do not fit architecture {spec.arch!r} with its spec's arch_kwargs: "
                                 f"{what} {names[0]!r}{detail}{more}")
    floats = {name for name, t in net.state_dict().items() if t.is_floating_point()}
    wrong_type = sorted(n for n, (_, dtype) in tensors.items() if (n in floats) != (dtype in FLOAT_DTYPES))
    if wrong_type:
        name = wrong_type[0]
        raise ModelFileError(f"{where}: weights do not fit architecture {spec.arch!r}: the tensor {name!r} is of type "
                             f"{tensors[name][1]}, expected {'a float type' if name in floats else 'an integer type'}")
    if spec.task == "generation" and getattr(net, "n_classes", 0) != len(spec.labels or ()):
        raise fail(where, "labels", f"names {len(spec.labels or ())} classes, but the network has "
                                    f"{getattr(net, 'n_classes', 0)}")
