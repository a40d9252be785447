"""Launcher for a hosted space (e.g. Hugging Face Spaces): serves the models in $MODELS_DIR (a folder or
hf://OWNER/NAME) beside the bundled ones on $HOST:$PORT, with no command-line parsing. HOST defaults to
0.0.0.0, which a space's container needs to be reachable; on a machine of your own use `translate-app`
(loopback by default) or set HOST=127.0.0.1. $PRECISION: auto (default: bf16 on a CPU with bf16
instructions), fp32 or bf16, as translate-app --precision."""

import os

from translate.hub import fetch_folders
from translate.precision import PRECISIONS
from translate.web_ui import app_folders, build_app

if __name__ == "__main__":
    folders = app_folders(fetch_folders([os.environ["MODELS_DIR"]]) if os.environ.get("MODELS_DIR") else None)
    host, port = os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "7860"))
    precision = os.environ.get("PRECISION", "auto")
    if precision not in PRECISIONS:
        raise SystemExit(f"error: PRECISION must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    build_app(folders, precision=precision).launch(server_name=host, server_port=port, max_file_size="25mb")
