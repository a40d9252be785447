"""Finding model files: the bundled folder, user folders, and short names."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from translate.checkpoint import peek_spec, read_spec
from translate.errors import ModelFileError, UserError
from translate.hub import HUB_PREFIX, REVERSE, WEIGHTS, is_hub_folder, model_in_folder, resolve_hub_model
from translate.model_spec import ModelSpec
from translate.spec_check import DIRECTIONS

MODEL_SUFFIXES = (".safetensors",)


def bundled_models_dir() -> Path:
    """The folder of models shipped with the package."""
    return Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    spec: ModelSpec
    size_bytes: int


def list_models(folder: str | Path | None = None) -> tuple[list[ModelEntry], list[str]]:
    """Model files in `folder` (default: the bundled one) and one-line problems with unreadable ones."""
    folder = Path(folder) if folder is not None else bundled_models_dir()
    entries, problems = [], []
    if not folder.is_dir():
        return entries, [f"{folder}: no such folder"]
    for path in sorted(p for p in folder.iterdir() if p.suffix in MODEL_SUFFIXES):
        try:
            entries.append(ModelEntry(path.stem, path, read_spec(path), path.stat().st_size))
        except ModelFileError as err:
            problems.append(str(err))
        except Exception as err:  # noqa: BLE001 - one bad file must not hide its neighbours; it is listed
            problems.append(unexpected(path, err))
    return entries, problems


def unexpected(path: Path, err: Exception) -> str:
    """The one line for a file that failed a folder scan in a way no check foresaw."""
    detail = str(err).splitlines()[0][:160] if str(err) else ""
    return f"{path}: unreadable ({type(err).__name__}{': ' + detail if detail else ''})"


ARROWS = {"AtoB": "A -> B", "BtoA": "B -> A"}


def _specs(paths: list[Path]) -> tuple[list[tuple[Path, ModelSpec]], list[str]]:
    """(path, spec) of each readable model file in `paths`, and one-line problems with the others."""
    found, problems = [], []
    for path in paths:
        try:
            found.append((path, _peek(path)))
        except UserError as err:
            problems.append(str(err))
        except Exception as err:  # noqa: BLE001 - one bad file must not hide its neighbours; it is listed
            problems.append(unexpected(path, err))
    return found, problems


def _peek(path: Path) -> ModelSpec:
    if path.suffix.lower() == ".onnx":
        from translate.onnx import read_spec as onnx_spec
        from translate.onnx import session

        return onnx_spec(session(path, provider="cpu"), path)
    return peek_spec(path)


def pick(where: object, files: list[Path], direction: str, task: str | tuple[str, ...] | None = None) -> Path:
    """The one model among `files` (one folder's, or one short name's) that serves `direction` and `task`
    (one of them; None: any), chosen by the files' specs; ModelFileError naming `where` when none or several do."""
    tasks = (task,) if isinstance(task, str) else task
    found, problems = _specs(files)
    usable = [(path, spec) for path, spec in found if not tasks or spec.task in tasks]
    fits = [path for path, spec in usable if spec.way == direction]
    if len(fits) == 1:
        return fits[0]
    names = ", ".join(path.name for path in (fits or [p for p, _ in usable]))
    if len(fits) > 1:
        raise ModelFileError(f"{where}: holds {len(fits)} {ARROWS[direction]} models ({names}); pass one of the files")
    what = " or ".join(tasks) + " " if tasks else ""
    if usable and direction == "BtoA":
        raise ModelFileError(f"{where}: has one direction only ({names}); drop --direction BtoA")
    if usable:
        raise ModelFileError(f"{where}: holds no {ARROWS[direction]} {what}model, only {names}")
    if found:
        others = ", ".join(f"{path.name} ({spec.task})" for path, spec in found)
        raise ModelFileError(f"{where}: holds no {what}model, only {others}")
    why = f" ({problems[0]}{f'; and {len(problems) - 1} more' if len(problems) > 1 else ''})" if problems else ""
    raise ModelFileError(f"{where}: holds no readable model file{why}")


def reverse_of(path: Path) -> Path | None:
    """The other direction of a translator pair: the translator beside `path` whose spec goes the other way
    between the same domains (a hub folder's reverse/ model), or None when there is none."""
    if path.name == WEIGHTS:
        other = path.parent.parent / WEIGHTS if path.parent.name == REVERSE else path.parent / REVERSE / WEIGHTS
        return other if other.is_file() else None
    spec = _peek(path)
    if spec.task != "translation":
        return None
    back = tuple(reversed(spec.domains)) if spec.domains else None
    beside = sorted(p for p in path.parent.glob(f"*{path.suffix}") if p.is_file() and p.resolve() != path.resolve())
    found, _ = _specs(beside)
    matches = [p for p, s in found if s.task == "translation" and s.way != spec.way and s.domains == back]
    if len(matches) > 1:
        raise ModelFileError(f"{path}: {len(matches)} files beside it go back ({', '.join(p.name for p in matches)}); "
                             "pass one with --reverse")
    return matches[0] if matches else None


def resolve_model(name: str, direction: str = "AtoB", folder: str | Path | None = None,
                  task: str | tuple[str, ...] | None = None) -> Path:
    """A model file from a path, a folder of model files (a run's models/), or a short name.

    A folder's model is the one its specs say serves `direction` and `task` (one of them; None: any). A model
    file given with direction "BtoA" is the reverse translator beside it (:func:`reverse_of`) unless its spec
    goes B -> A itself. A short name is looked up in `folder` (default: the bundled models): NAME.safetensors,
    or the pair NAME_A2B / NAME_B2A, one picked by its spec. A folder in the Hugging Face Hub layout and
    hf://OWNER/NAME are read by translate.hub.
    """
    if direction not in DIRECTIONS:
        raise ModelFileError(f"--direction must be AtoB or BtoA, got {direction!r}")
    if name.startswith(HUB_PREFIX):
        return resolve_hub_model(name, direction)
    path = Path(name)
    if is_hub_folder(path):
        return model_in_folder(path, direction)
    bundled = _short_name_files(name, folder) if len(path.parts) == 1 else []
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in MODEL_SUFFIXES and p.is_file())
        if bundled and not files:  # a folder of images named like a model does not hide it
            print(f"note: {name}/ in this folder holds no model file; using the bundled {name}", file=sys.stderr)
            return pick(name, bundled, direction, task)
        if bundled:
            print(f"note: using the folder {name}/ here, not the bundled model {name}", file=sys.stderr)
        return pick(path, files, direction, task)
    if path.suffix.lower() in (".safetensors", ".onnx", ".pth", ".pt", ".ckpt", ".bin") or path.is_file():
        if direction == "AtoB":
            return path  # load_model gives the one-line error if it is missing or not ours
        spec = _peek(path)
        if spec.way == "BtoA" or (path.name == WEIGHTS and path.parent.name == REVERSE):  # a hub folder's reverse
            return path
        reverse = reverse_of(path)
        if reverse is None:
            goes = f"goes {' -> '.join(spec.domains)}" if spec.domains else f"is a one-way {spec.task} model"
            raise ModelFileError(f"{path}: {goes}; --direction BtoA needs the B -> A file, and none is beside it")
        return reverse
    if bundled:
        return pick(name, bundled, direction, task)
    base = Path(folder) if folder is not None else bundled_models_dir()
    known = sorted({p.stem.removesuffix("_A2B").removesuffix("_B2A") for p in base.glob("*.safetensors")})
    raise ModelFileError(f"{name}: no such model file or bundled model (bundled: {', '.join(known) or 'none'})")


def _short_name_files(name: str, folder: str | Path | None) -> list[Path]:
    """The files short name `name` stands for in `folder` (default: the bundled models): NAME.safetensors or the
    pair NAME_A2B / NAME_B2A."""
    base = Path(folder) if folder is not None else bundled_models_dir()
    files = [base / f"{name}{end}.safetensors" for end in ("", "_A2B", "_B2A")]
    return [f for f in files if f.is_file()]
