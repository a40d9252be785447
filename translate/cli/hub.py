"""``export-hub``: a model as a Hugging Face Hub folder (config.json, model.safetensors, README.md card),
ready for `hf upload OWNER/NAME DIR` and for `--model hf://OWNER/NAME` or `--model DIR` here."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from translate.cli.common import ArgumentParser, model_help, parse, run_cli, tell


def find_card(path: Path) -> Path | None:
    """The model card beside a model file: NAME.md, or for one of a pair (NAME_A2B, G_B2A, ...) NAME.md."""
    stem = path.stem
    for end in ("_A2B", "_B2A"):
        stem = stem.removesuffix(end)
    for candidate in (path.with_suffix(".md"), path.with_name(f"{stem}.md")):
        if candidate.is_file():
            return candidate
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="export-hub", description=__doc__)
    parser.add_argument("model", help=model_help("the model to publish"))
    parser.add_argument("--out", required=True, help="the folder to write")
    parser.add_argument("--card", help="a Markdown model card to include (default: NAME.md beside the model)")
    parser.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    args = parse(parser, argv)

    def body() -> int:
        from translate.checkpoint import read_spec
        from translate.errors import ConfigError
        from translate.hub import export_hub
        from translate.zoo import resolve_model, reverse_of

        path = resolve_model(args.model)
        if path.suffix.lower() == ".onnx":
            raise ConfigError(f"{path}: is an ONNX file; export-hub takes the .safetensors model")
        spec = read_spec(path)
        reverse = reverse_of(path) if spec.domains else None
        card = Path(args.card) if args.card else find_card(path)
        if card is not None and not card.is_file():
            raise ConfigError(f"--card {card}: no such file")
        text = card.read_text(encoding="utf-8") if card else None
        name = Path(args.model).name if not args.model.startswith("hf://") else args.model.split("/")[-1]
        written = export_hub(path, Path(args.out), reverse, text, name.removesuffix(".safetensors"), args.overwrite)
        tell(f"wrote {len(written)} files to {args.out}" + (" (both directions)" if reverse else "")
             + (f", card from {card}" if card else ", no card found (pass --card)"), sys.stdout)
        return 0

    return run_cli(body)
