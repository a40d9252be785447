"""Every command's --help: each option explained, the options several commands share spelled the same."""

import argparse
import importlib
import tomllib
from pathlib import Path

import pytest

from translate.cli import common

SCRIPTS = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]["scripts"]


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def _parser(command: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser `command` builds, caught as it starts parsing."""
    module, function = SCRIPTS[command].split(":")
    main = getattr(importlib.import_module(module), function)

    def caught(self, *args, **kwargs):
        raise _Parsed(self)

    monkeypatch.setattr(common.ArgumentParser, "parse_args", caught)
    with pytest.raises(_Parsed) as parsed:
        main([])
    return parsed.value.parser


@pytest.mark.parametrize("command", sorted(SCRIPTS))
def test_every_option_is_explained_once(command, monkeypatch):
    parser = _parser(command, monkeypatch)
    assert parser.description and "``" not in parser.description
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[0] if action.option_strings else action.dest
        assert action.help and action.help.strip(), f"{command} {name} has no help"
        assert action.help.count("(default:") <= 1, f"{command} {name}: {action.help}"


@pytest.mark.parametrize("command", sorted(SCRIPTS))
def test_shared_options_read_the_same_everywhere(command, monkeypatch):
    actions = {a.option_strings[0]: a for a in _parser(command, monkeypatch)._actions if a.option_strings}
    device = actions.get("--device")
    if device is not None:
        assert tuple(device.choices) == common.DEVICES, command
        assert "auto (CUDA when there is a GPU), cpu or cuda" in device.help, command
    precision = actions.get("--precision")
    # training has more modes (fp16); an export's precision is the arithmetic of the file it writes
    if precision is not None and not command.startswith("train-") and command != "export-onnx":
        assert tuple(precision.choices) == ("auto", "fp32", "bf16"), command
    model = actions.get("--model") or next((a for a in _parser(command, monkeypatch)._actions
                                            if a.dest == "model" and not a.option_strings), None)
    if model is not None and command != "translate-app":
        assert common.MODEL_NAMES in model.help, command


def test_the_serving_commands_take_the_shared_options(monkeypatch):
    for command in ("translate", "evaluate-sr", "evaluate-translation", "evaluate-paired", "translate-app"):
        actions = {a.option_strings[0] for a in _parser(command, monkeypatch)._actions if a.option_strings}
        assert {"--device", "--precision"} <= actions, command
