"""Finding model files: the bundled folder, user folders, and short names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from translate.checkpoint import ModelSpec, read_spec
from translate.errors import ModelFileError

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
