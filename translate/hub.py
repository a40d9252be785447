"""Models in the Hugging Face Hub layout, and `hf://OWNER/NAME` model names.

A hub folder holds `config.json` (the model's spec as JSON, plus the network's constructor arguments at
the top level), `model.safetensors` (the weights under the network's state-dict names) and a generated
`README.md` model card. That is the layout huggingface_hub's PyTorchModelHubMixin writes and reads: `class
Net(ResnetGenerator, PyTorchModelHubMixin)` loads it with `Net.from_pretrained(folder)`. Our
model.safetensors also keeps the spec in its metadata, like every model file here, so each command loads
it as any model file; on loading, config.json must agree with it. The reverse direction of a CycleGAN
pair lives in `reverse/`, in the same layout.

`hf://OWNER/NAME` (or `hf://OWNER/NAME@REVISION`) is fetched through huggingface_hub's cache (HF_HOME,
HF_HUB_CACHE), so a model downloads once and later runs need no network; with HF_HUB_OFFLINE=1 only the
cache is read.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

from translate.checkpoint import atomic_write, load_model, read_spec, save_model
from translate.errors import ConfigError, ModelFileError
from translate.model_spec import ModelSpec
from translate.printable import printable

HUB_PREFIX = "hf://"
CONFIG, WEIGHTS, CARD, REVERSE = "config.json", "model.safetensors", "README.md", "reverse"
HUB_FILES = [CONFIG, WEIGHTS, CARD, f"{REVERSE}/{CONFIG}", f"{REVERSE}/{WEIGHTS}"]


def is_hub_folder(path: Path) -> bool:
    return path.is_dir() and (path / CONFIG).is_file()


def model_in_folder(folder: Path, direction: str = "AtoB") -> Path:
    """The model.safetensors of a hub folder (reverse/ for --direction BtoA), checked against config.json."""
    where = folder / REVERSE if direction == "BtoA" else folder
    if direction == "BtoA" and not is_hub_folder(where):
        raise ModelFileError(f"{folder}: holds one direction only (no {REVERSE}/{CONFIG}); drop --direction BtoA")
    weights = where / WEIGHTS
    if not weights.is_file():
        raise ModelFileError(f"{where}: has {CONFIG} but no {WEIGHTS}")
    try:
        text = (where / CONFIG).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{where / CONFIG}: not a gan-translate model config ({err})") from None
    declared = ModelSpec.from_json(text, where / CONFIG)
    if declared != read_spec(weights):
        raise ModelFileError(f"{where}: {CONFIG} and {WEIGHTS} describe different models; re-export the folder")
    return weights


_HUB_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9])?")
"""An owner or a model name as the Hub allows them: ASCII letters, digits, "_", "." and "-", 1 to 96
characters, starting and ending with a letter or digit (no "..", no "--": see parse_hub_name)."""
_REVISION = re.compile(r"[A-Za-z0-9_.\-/]{1,255}")


def parse_hub_name(name: str) -> tuple[str, str | None]:
    """hf://OWNER/NAME[@REVISION] -> ("OWNER/NAME", REVISION or None), each part checked before anything
    reaches huggingface_hub (whose own check raises tracebacks) or the cache's folder names."""
    repo, _, revision = name.removeprefix(HUB_PREFIX).partition("@")
    parts = repo.split("/")
    shown = printable(name if len(name) <= 120 else name[:117] + "...")
    if len(parts) != 2 or not all(parts) or (name.count("@") and not revision):
        raise ModelFileError(f"{shown}: a Hub model is named hf://OWNER/NAME (optionally @REVISION)")
    for part in parts:
        if not _HUB_PART.fullmatch(part) or ".." in part or "--" in part:
            raise ModelFileError(f"{shown}: '{printable(part[:40])}' is not a Hub owner or model name (ASCII letters, "
                                 "digits, _ . -, up to 96, starting and ending with a letter or digit)")
    if revision and (not _REVISION.fullmatch(revision) or ".." in revision or revision.startswith("/")):
        raise ModelFileError(f"{shown}: '{printable(revision[:40])}' is not a revision (a branch, tag or commit)")
    return repo, revision or None


def fetch(name: str) -> Path:
    """The local folder of hf://OWNER/NAME from huggingface_hub's cache, downloading it when not there."""
    from huggingface_hub import constants, is_offline_mode, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    repo, revision = parse_hub_name(name)
    try:
        return Path(snapshot_download(repo, revision=revision, allow_patterns=HUB_FILES))
    except RepositoryNotFoundError:
        raise ModelFileError(f"{name}: no such model on the Hugging Face Hub (or it is private and you are not "
                             "logged in: hf auth login)") from None
    except RevisionNotFoundError:
        raise ModelFileError(f"{name}: the Hub model has no revision {revision!r}") from None
    except (LocalEntryNotFoundError, OSError) as err:  # offline, or the Hub cannot be reached, and not cached
        why = "HF_HUB_OFFLINE is set" if is_offline_mode() else f"the Hub cannot be reached ({type(err).__name__})"
        raise ModelFileError(f"{name}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and {why}; "
                             "run once with network access to download it") from None


def fetch_folders(names: list[str] | None) -> list[str] | None:
    """Folders as given, with each hf://OWNER/NAME replaced by its local folder (the app's --models)."""
    return None if names is None else [str(fetch(n)) if n.startswith(HUB_PREFIX) else n for n in names]


def resolve_hub_model(name: str, direction: str = "AtoB") -> Path:
    return model_in_folder(fetch(name), direction)


def model_card(spec: ModelSpec, name: str, card: str | None) -> str:
    """README.md for a hub folder: the metadata block the Hub reads, how to use it, then our card."""
    tags = ["gan-translate", "gan", spec.task, *([spec.recipe] if spec.recipe else [])]
    pipeline = {"translation": "image-to-image", "super-resolution": "image-to-image",
                "generation": "unconditional-image-generation"}[spec.task]
    front = "\n".join(["---", "library_name: gan-translate", f"pipeline_tag: {pipeline}", "tags:",
                       *(f"- {t}" for t in tags), "---", ""])
    what = (f"{spec.domains[0]} -> {spec.domains[1]}" if spec.domains else
            f"x{spec.scale} super-resolution" if spec.task == "super-resolution" else spec.task)
    usage = ("## Files and use\n\n"
             f"A gan-translate model ({what}; architecture `{spec.arch}`). `{CONFIG}` holds its spec (and the "
             f"network's constructor arguments at the top level), `{WEIGHTS}` its weights under the network's "
             "state-dict names" + (f"; `{REVERSE}/` holds the reverse direction" if spec.domains else "") + ".\n\n"
             "```bash\n"
             + ("generate hf://OWNER/NAME --out grid.png\n" if spec.task == "generation" else
                "translate photo.jpg --model hf://OWNER/NAME\n")
             + "```\n")
    return front + (f"{card.strip()}\n\n" if card else f"# {name}\n\n") + usage


def export_hub(model: Path, out: Path, reverse: Path | None = None, card: str | None = None,
               name: str | None = None, overwrite: bool = False) -> list[Path]:
    """Write `model` (and `reverse`, the other direction of a pair, into reverse/) as a hub folder at `out`.
    Each file is written atomically; returns the files written."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; pass a folder")
    if (out / CONFIG).exists() and not overwrite:
        raise ConfigError(f"--out {out}: holds a model already (pass --overwrite to replace it)")
    written = []
    for source, where in ((model, out), (reverse, out / REVERSE)):
        if source is None:
            continue
        net, spec = load_model(source)
        written.append(save_model(where / WEIGHTS, net, spec))
        config = asdict(spec)
        for key, value in spec.arch_kwargs.items():  # what PyTorchModelHubMixin passes to the constructor
            config.setdefault(key, value)
        text = json.dumps(config, indent=2, sort_keys=True) + "\n"
        written.append(atomic_write(where / CONFIG, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8")))
    readme = model_card(read_spec(model), name or model.stem, card)
    written.append(atomic_write(out / CARD, lambda tmp: tmp.write_text(readme, encoding="utf-8")))
    return written
