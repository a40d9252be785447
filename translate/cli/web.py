"""``translate-app``: the web app on the bundled models (or your own), on 127.0.0.1 by default."""

from __future__ import annotations

from collections.abc import Sequence

from translate.cli.common import ArgumentParser, add_precision_argument, parse, run_cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="translate-app", description=__doc__)
    parser.add_argument("--models", nargs="+", metavar="DIR",
                        help="folders of model files (.safetensors or .onnx), or hf://OWNER/NAME; default: the bundled "
                        "models")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for the network)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add_precision_argument(parser)
    parser.add_argument("--max-file-size", default="25mb", help="largest upload (default 25mb)")
    parser.add_argument("--debug", action="store_true",
                        help="show server paths and error details in the page (never on a public server)")
    args = parse(parser, argv)

    def body() -> int:
        from translate.hub import fetch_folders
        from translate.web_ui import build_app

        app = build_app(fetch_folders(args.models), device=args.device, debug=args.debug,
                        precision=args.precision)
        print(f"serving on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
        app.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=args.max_file_size,
                   show_error=args.debug, quiet=True)
        return 0

    return run_cli(body)
