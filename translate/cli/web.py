"""``translate-app``: the web app on the bundled models and your own, on 127.0.0.1 by default."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from translate.cli.common import ArgumentParser, add_device_argument, add_precision_argument, parse, run_cli


def main(argv: Sequence[str] | None = None) -> int:
    from translate.app_limits import AppLimits

    defaults = AppLimits()
    parser = ArgumentParser(prog="translate-app", description=__doc__)
    parser.add_argument("--models", nargs="+", metavar="DIR", default=[],
                        help="folders of model files (.safetensors or .onnx), or hf://OWNER/NAME, served beside the "
                        "bundled models (listed first, and each tab starts on the first of them)")
    parser.add_argument("--no-bundled", action="store_true",
                        help="serve only the --models folders, without the bundled models")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1; 0.0.0.0 for the network)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default: 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    add_device_argument(parser)
    add_precision_argument(parser)
    parser.add_argument("--max-file-size", default="25mb", metavar="SIZE", help="largest upload (default: 25mb)")
    limits = parser.add_argument_group("limits", "images over their limit are scaled down to it, with a note in the "
                                       "page; clips over theirs are refused")
    for field, unit, what in (("max_mp", "MP", "megapixels of a translation input (style, paired, batch)"),
                              ("max_sr_mp", "MP", "megapixels of a super-resolution input (x4: a 16 times "
                                                  "larger output)"),
                              ("max_video_mp", "MP", "megapixels of a clip's frames, translation"),
                              ("max_video_sr_mp", "MP", "megapixels of a clip's frames, super-resolution"),
                              ("max_video_seconds", "S", "seconds of a clip"),
                              ("max_batch_files", "N", "files in one batch")):
        default = getattr(defaults, field)
        limits.add_argument(f"--{field.replace('_', '-')}", type=type(default), default=default, metavar=unit,
                            help=f"at most this many {what} (default: {default:g})")
    parser.add_argument("--debug", action="store_true",
                        help="show server paths and error details in the page (never on a public server)")
    args = parse(parser, argv)
    if args.no_bundled and not args.models:
        parser.error("--no-bundled leaves no models to serve; name some with --models DIR")

    def body() -> int:
        from translate.hub import fetch_folders
        from translate.web_ui import app_folders, build_app

        app_limits = AppLimits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(AppLimits)})
        folders = app_folders(fetch_folders(args.models), bundled=not args.no_bundled)
        app = build_app(folders, device=args.device, debug=args.debug, limits=app_limits,
                        precision=args.precision)
        print(f"serving on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
        app.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=args.max_file_size,
                   show_error=args.debug, quiet=True)
        return 0

    return run_cli(body)
