"""Model files and training states: safetensors weights that carry their own description.

A model file is one ``NAME.safetensors`` whose metadata holds the model's :class:`ModelSpec` as JSON,
so :func:`load_model` rebuilds the network from the file alone. A training state (all nets,
optimisers, scalers, EMA copies, RNG states, step, recipe extras) is another single safetensors file:
tensors as tensors, everything else as JSON in its metadata. Keeping each checkpoint in one file
makes the atomic rename cover all of it. Nothing here unpickles anything.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a temporary file there is taken as abandoned
    fcntl = None  # type: ignore[assignment]
from safetensors.torch import save as save_tensors_to_bytes
from torch import nn

from translate import spec_check
from translate.errors import ModelFileError
from translate.model_spec import ModelSpec

MODEL_FORMAT = "gan-translate/model"
STATE_FORMAT = "gan-translate/train-state"
_PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl", ".pickle")
INCOMPLETE = ".incomplete-"
"""In the name of a temporary file being written (".NAME.incomplete-XXXX.tmp"): a person who finds one after a
crash can tell what it is, and later runs remove them (:func:`remove_interrupted_writes`). The writer holds an
advisory lock on it until the rename, which the kernel drops when the writer dies however it dies: a temporary
file nobody holds a lock on was left by a write that will never finish."""
_INTERRUPTED = re.compile(r"^\..+(\.incomplete-[^/]+\.tmp|\.[A-Za-z0-9_]{8}\.tmp|\.tmp-\d+)$")
"""Temporary files of interrupted writes: this version's names, and those older versions left
(".NAME.XXXXXXXX.tmp" from atomic_write, ".NAME.tmp-PID" from write_image)."""
_INCOMPLETE_NAME = re.compile(r"^\..+\.incomplete-[^/]+\.tmp$")



def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, fsync it, then rename it onto `path`.

    Until the rename, an existing `path` stays intact, so a crash at any moment leaves either the
    old complete file or the new complete file, plus at worst a stray temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}{INCOMPLETE}", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        _lock(fd)  # held until the fd closes, after the rename: see INCOMPLETE
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual permissions
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def remove_interrupted_writes(folder: str | Path, older_names: bool = True) -> list[Path]:
    """Delete the temporary files that writes killed before their rename left in `folder` (not recursive);
    returns them. A temporary file a live writer (this process or another) holds locked is left alone.
    older_names: also the names older versions used, which other programs' files may have too: only for
    folders this project owns (run folders), not a user's folder of clips."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = _INTERRUPTED if older_names else _INCOMPLETE_NAME
    found = [p for p in folder.iterdir() if pattern.match(p.name) and p.is_file() and not p.is_symlink()]
    removed = [p for p in found if _abandoned(p)]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def _lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _abandoned(path: Path) -> bool:
    """Whether no live writer holds the temporary file `path` locked (see INCOMPLETE)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        _lock(fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _save_safetensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    # clone + contiguous: safetensors refuses shared or strided storage (tied weights, views).
    owned = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    data = save_tensors_to_bytes(owned, metadata=metadata)
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def check_regular_file(path: Path, what: str = "a .safetensors file") -> None:
    """ModelFileError unless `path` is a regular file (a symlink to one is fine), decided by stat() before
    anything opens it: opening a FIFO blocks until someone writes to it, a device can be endless."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except OSError as err:
        raise ModelFileError(f"{path}: cannot be read ({err.strerror or err})") from None
    if stat.S_ISDIR(mode):
        raise ModelFileError(f"{path}: is a folder, expected {what}")
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise ModelFileError(f"{path}: is {kind}, expected {what}")


def _open_checked(
    path: Path, expected_format: str, with_tensors: bool = True
) -> tuple[dict[str, str], dict[str, torch.Tensor], dict[str, tuple[tuple[int, ...], str]]]:
    """Read metadata, tensor shapes and dtypes ("F32", "I64", ...) (and tensors) of one of our safetensors files,
    or raise ModelFileError."""
    check_regular_file(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as err:
        raise ModelFileError(f"{path}: cannot be read ({err.strerror or err})") from None
    if path.suffix.lower() in _PICKLE_SUFFIXES or head[:2] == b"\x80\x02" or head[:4] == b"PK\x03\x04":
        raise ModelFileError(
            f"{path}: looks like a PyTorch pickle; only .safetensors model files are loaded "
            "(pickles can run code when opened)"
        )
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            names = list(f.keys())
            shapes = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in names}
            tensors = {k: f.get_tensor(k) for k in shapes} if with_tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelFileError(f"{path}: not a readable safetensors file, corrupt or truncated ({problem})") from None
    found = metadata.get("format")
    if found != expected_format:
        if found == STATE_FORMAT:
            raise ModelFileError(f"{path}: is a training state; pass a model file (RUN/models/*.safetensors)")
        if found == MODEL_FORMAT:
            raise ModelFileError(f"{path}: is a model file, not a training state; pass the run folder to --resume")
        raise ModelFileError(f"{path}: a safetensors file without a gan-translate description; not one of our files")
    return metadata, tensors, shapes


def save_model(path: str | Path, net: nn.Module, spec: ModelSpec) -> Path:
    """Write `net`'s weights and `spec` to one safetensors file, atomically."""
    state = net.state_dict()
    return _save_safetensors(Path(path), state, {"format": MODEL_FORMAT, "spec": spec.to_json()})


def read_spec(path: str | Path, task: str | tuple[str, ...] | None = None) -> ModelSpec:
    """The spec of a model file, every field checked and checked against the file's tensors and the output
    size it promises (translate.spec_check), without loading the weights. ModelFileError otherwise; also
    when the model is not of `task` (one of them; None accepts any)."""
    path = Path(path)
    from translate.nets import GENERATORS

    metadata, _, shapes = _open_checked(path, MODEL_FORMAT, with_tensors=False)
    spec = ModelSpec.from_json(metadata.get("spec"), path)
    check_task(path, spec, task)
    spec_check.check_network(path, spec, shapes)
    spec_check.check_output(path, spec, GENERATORS[spec.arch](**spec.arch_kwargs).eval())
    return spec


def peek_spec(path: str | Path) -> ModelSpec:
    """The spec of a model file, every field checked but not yet against the network (see :func:`read_spec`):
    enough to choose among files, quickly; load the chosen one with :func:`load_model`, which checks it all."""
    path = Path(path)
    metadata, _, _ = _open_checked(path, MODEL_FORMAT, with_tensors=False)
    return ModelSpec.from_json(metadata.get("spec"), path)


def check_task(path: str | Path, spec: ModelSpec, task: str | tuple[str, ...] | None) -> None:
    """ModelFileError unless the model's task is `task` (or one of them); None accepts any."""
    wanted = (task,) if isinstance(task, str) else task
    if wanted and spec.task not in wanted:
        raise ModelFileError(f"{path}: is a {spec.task} model; this needs a {' or '.join(wanted)} model")


def load_model(
    path: str | Path, task: str | tuple[str, ...] | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelSpec]:
    """Rebuild the network stored in a model file; returns (net in eval mode on `device`, spec).

    task: the task(s) the caller can use; a model of another task raises ModelFileError. The spec and the
    tensors are checked (see :func:`read_spec`) before any weight is loaded.
    """
    from translate.nets import GENERATORS

    path = Path(path)
    metadata, tensors, shapes = _open_checked(path, MODEL_FORMAT)
    spec = ModelSpec.from_json(metadata.get("spec"), path)
    check_task(path, spec, task)
    spec_check.check_network(path, spec, shapes)
    check_finite(path, tensors)
    net = GENERATORS[spec.arch](**spec.arch_kwargs)
    try:
        net.load_state_dict(tensors, strict=True)
    except (TypeError, RuntimeError, ValueError) as err:  # shapes fit; a tensor of a type that cannot be copied
        problem = str(err).splitlines()[0]
        raise ModelFileError(f"{path}: weights do not fit architecture {spec.arch!r} ({problem})") from None
    spec_check.check_output(path, spec, net.eval())
    return net.to(device), spec


def check_finite(path: Path, tensors: Mapping[str, torch.Tensor]) -> None:
    """ModelFileError naming the first tensor that holds a NaN or an infinity: one such value turns every
    output pixel into NaN, which image writers would silently make black."""
    for name in sorted(tensors):
        tensor = tensors[name]
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise ModelFileError(f"{path}: the tensor {name!r} holds {bad} NaN or infinite value{'s' * (bad > 1)}; "
                                 "the file is damaged, or its training diverged")


# Training states -------------------------------------------------------------------------------


def pack(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "t") -> Any:
    """Split a nested state (dicts, lists, tuples, tensors, numbers, strings) into JSON + tensors.

    Tensors are moved into `tensors` under generated names; the returned JSON-able structure refers
    to them. Dicts with non-string keys (optimiser states keyed by parameter index) and tuples are
    tagged so :func:`unpack` restores them exactly.
    """
    if isinstance(obj, torch.Tensor):
        name = f"{prefix}{len(tensors)}"
        tensors[name] = obj
        return {"$tensor": name}
    if isinstance(obj, Mapping):
        items = [[pack(k, tensors), pack(v, tensors)] for k, v in obj.items()]
        if all(isinstance(k, str) and not k.startswith("$") for k in obj):
            return {k: v for k, v in items}
        return {"$dict": items}
    if isinstance(obj, tuple):
        return {"$tuple": [pack(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [pack(v, tensors) for v in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a training state")


def unpack(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`pack`."""
    if isinstance(obj, dict):
        if "$tensor" in obj:
            return tensors[obj["$tensor"]]
        if "$dict" in obj:
            return {unpack(k, tensors): unpack(v, tensors) for k, v in obj["$dict"]}
        if "$tuple" in obj:
            return tuple(unpack(v, tensors) for v in obj["$tuple"])
        return {k: unpack(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack(v, tensors) for v in obj]
    return obj


def save_state(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write a nested training state to one safetensors file, atomically."""
    tensors: dict[str, torch.Tensor] = {}
    packed = pack(dict(state), tensors)
    return _save_safetensors(Path(path), tensors, {"format": STATE_FORMAT, "state": json.dumps(packed)})


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a training state written by :func:`save_state` (tensors on CPU)."""
    path = Path(path)
    metadata, tensors, _ = _open_checked(path, STATE_FORMAT)
    try:
        return unpack(json.loads(metadata["state"]), tensors)
    except (KeyError, ValueError, RecursionError) as err:
        raise ModelFileError(f"{path}: training state is unreadable ({err})") from None
