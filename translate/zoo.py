"""Finding model files: the bundled folder, user folders, and short names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from translate.checkpoint import read_spec
from translate.errors import ModelFileError
from translate.hub import HUB_PREFIX, REVERSE, WEIGHTS, is_hub_folder, model_in_folder, resolve_hub_model
from translate.model_spec import ModelSpec

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
    return entries, problems


DIRECTIONS = ("AtoB", "BtoA")


def other_direction(path: Path) -> Path | None:
    """The other direction's file of a CycleGAN pair (..._A2B <-> ..._B2A, or a hub folder's model and its
    reverse/ model), if the name says which it is."""
    if path.name == WEIGHTS:
        return path.parent.parent / WEIGHTS if path.parent.name == REVERSE else path.parent / REVERSE / WEIGHTS
    for this, other in (("A2B", "B2A"), ("B2A", "A2B")):
        if path.stem.endswith(this):
            return path.with_name(path.stem[: -len(this)] + other + path.suffix)
    return None


def resolve_model(name: str, direction: str = "AtoB", folder: str | Path | None = None) -> Path:
    """A model file from a path, a folder holding G_A2B/G_B2A (a run's models/), or a short name.

    A short name is looked up in `folder` (default: the bundled models): NAME.safetensors, or for a pair of
    translators NAME_A2B / NAME_B2A (picked by `direction`). A folder in the Hugging Face Hub layout and
    hf://OWNER/NAME are read by translate.hub.
    """
    if direction not in DIRECTIONS:
        raise ModelFileError(f"--direction must be AtoB or BtoA, got {direction!r}")
    if name.startswith(HUB_PREFIX):
        return resolve_hub_model(name, direction)
    suffix = "A2B" if direction == "AtoB" else "B2A"
    path = Path(name)
    if is_hub_folder(path):
        return model_in_folder(path, direction)
    if path.is_dir():
        pair = path / f"G_{suffix}.safetensors"
        if pair.is_file():
            return pair
        raise ModelFileError(f"{path}: a folder without G_{suffix}.safetensors; pass a model file")
    if path.suffix.lower() in (".safetensors", ".onnx", ".pth", ".pt", ".ckpt", ".bin") or path.is_file():
        if direction == "BtoA" and path.stem.endswith("A2B"):
            return other_direction(path)
        if direction == "BtoA" and not path.stem.endswith("B2A"):
            raise ModelFileError(f"{path}: --direction BtoA needs the B -> A file (named ..._B2A or G_B2A)")
        return path  # load_model gives the one-line error if it is missing or not ours
    base = Path(folder) if folder is not None else bundled_models_dir()
    for candidate in (base / f"{name}_{suffix}.safetensors", base / f"{name}.safetensors"):
        if candidate.is_file():
            if direction == "BtoA" and candidate.stem == name:
                raise ModelFileError(f"{name}: has one direction only; drop --direction BtoA")
            return candidate
    known = sorted({p.stem.removesuffix("_A2B").removesuffix("_B2A") for p in base.glob("*.safetensors")})
    raise ModelFileError(f"{name}: no such model file or bundled model (bundled: {', '.join(known) or 'none'})")
