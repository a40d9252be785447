"""``translate-datasets``: list the public training and benchmark sets, or download and extract some of them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from translate.cli.common import ArgumentParser, parse, run_cli
from translate.download import DATASETS, check_names, dataset_table, download


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="translate-datasets", description=__doc__,
        epilog="Interrupted downloads resume when run again. Licences and sources: datasets/download.md.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="sets to download (see --list)")
    parser.add_argument("--list", action="store_true", help="show the sets, their sizes, layouts and licences")
    parser.add_argument("--root", type=Path, default=Path("datasets/data"),
                        help="folder the sets land in, as ROOT/NAME (default: datasets/data)")
    parser.add_argument("--force", action="store_true", help="download and extract again where ROOT/NAME exists")
    args = parse(parser, argv)
    if not args.list and not args.names:
        parser.error("give dataset names to download, or --list")

    def body() -> int:
        if args.list:
            print(dataset_table())
            return 0
        check_names(args.names)
        for name in args.names:
            if (args.root / name).exists() and not args.force:
                print(f"{name}: already in {args.root / name}, skipped (--force fetches it again)")
                continue
            unverified = "" if DATASETS[name].sha256 else " (no published checksum, so not verified)"
            print(f"{name}: ready in {download(name, args.root, force=args.force)}{unverified}")
        return 0

    return run_cli(body)
