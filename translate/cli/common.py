"""Shared command-line plumbing: one-line errors and flags generated from config dataclasses."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from translate.errors import UserError, os_error
from translate.printable import printable


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line usage errors (the full usage is one --help away) and descriptions taken from
    module docstrings without their reStructuredText quotes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("description"):
            kwargs["description"] = kwargs["description"].replace("``", "")
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {printable(message)} (see --help)\n")


def one_line(err: Exception) -> str:
    """The message of `err`. An error raised in a DataLoader worker comes back re-raised with the worker's
    whole traceback as its message; its last line ("module.Class: message") holds the message itself."""
    text = str(err)
    if "Original Traceback" in text:
        last = text.strip().splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return text


def tell(line: str, file: typing.TextIO | None = None) -> None:
    """Print one line (to stderr by default) with the control characters of the names in it escaped."""
    print(printable(line), file=file or sys.stderr)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that what is running unwinds: temporary files are removed, and
    the loop that was stopped says what it stopped (a BaseException, like KeyboardInterrupt, so that no
    `except Exception` takes it for an error of one input)."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def run_cli(body: Callable[[], int]) -> int:
    """Run a command body; user errors become one line on stderr and exit code 2, Ctrl-C exit 130, SIGTERM
    exit 143 (each after the line saying so)."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (a test runner's, an embedding app's): leave signals alone
        previous = None
    try:
        return body()
    except Terminated:
        print("terminated (SIGTERM)", file=sys.stderr)
        return 143
    except UserError as err:
        tell(f"error: {one_line(err)}")
        return 2
    except OSError as err:  # a folder that cannot be created, a full disk, no permission: one line, no traceback
        tell(f"error: {os_error(err)}")
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


DEVICES = ("auto", "cpu", "cuda")
MODEL_NAMES = ("a bundled name (vangogh), a model file (.safetensors or .onnx), a run's models/ folder, a Hugging "
               "Face Hub folder or hf://OWNER/NAME[@REVISION]")
"""What every --model (or MODEL argument) accepts; its help names the kind of model and then this."""


def model_help(kind: str) -> str:
    """The help of a command's model argument: `kind` (e.g. "the translation or super-resolution model"),
    then the shared list of what names one."""
    return f"{kind}: {MODEL_NAMES}"


def add_device_argument(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """--device, the same in every command (the train-* commands take it from the loop's config)."""
    parser.add_argument("--device", default=default, choices=DEVICES,
                        help=f"where PyTorch models run: auto (CUDA when there is a GPU), cpu or cuda "
                        f"(default: {default})")


def add_precision_argument(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """The serving commands' --precision (translate.precision): one flag, one meaning, in each of them."""
    parser.add_argument("--precision", default=default, choices=("auto", "fp32", "bf16"),
                        help="arithmetic of PyTorch models: auto (bf16 on a CPU with bf16 instructions, AMX or "
                        "AVX-512 BF16, unless the model's spec keeps it in fp32; fp32 elsewhere), fp32 (exactly "
                        f"as before) or bf16 (default: {default})")


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, title: str) -> None:
    """Add one ``--field-name`` flag per field of `cls`, defaulting to None (= not given)."""
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint, meta = hints[f.name], f.metadata
        text = meta.get("help", "")
        kwargs: dict[str, Any] = {"dest": f"{cls.__name__}.{f.name}", "default": None,
                                  "help": text if "(default:" in text else f"{text} (default: {_show(f)})"}
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) is tuple:
            kwargs.update(nargs="+", type=typing.get_args(hint)[0], metavar=f.name.upper())
        else:
            kwargs.update(type=hint)
            if "choices" in meta:  # argparse then shows them: --device {auto,cpu,cuda}
                kwargs["choices"] = meta["choices"]
            else:
                kwargs["metavar"] = f.name.upper()
        group.add_argument(f"--{f.name.replace('_', '-')}", *meta.get("aliases", ()), **kwargs)


def _show(f: dataclasses.Field) -> Any:
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]


def given_flags(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of `cls` that were given on the command line."""
    prefix = f"{cls.__name__}."
    return {k[len(prefix):]: v for k, v in vars(args).items() if k.startswith(prefix) and v is not None}


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    return parser.parse_args(list(argv) if argv is not None else None)
