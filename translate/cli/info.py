"""``translate-info``: versions, devices, usable onnxruntime providers and bundled models."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path

from translate.cli.common import ArgumentParser, parse, run_cli


def onnxruntime_providers() -> tuple[str, list[tuple[str, str]]]:
    """(onnxruntime version, [(provider, status)]) where status says whether a session really loads it.

    onnxruntime-gpu lists CUDA even where its libraries or the GPU are missing and then silently runs on
    the CPU, so each provider is tried on a one-node model and kept only if the session reports it.
    """
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError as err:
        return "not installed", [("-", f"import failed: {err}")]
    import torch

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9).SerializeToString()
    ort.set_default_logger_severity(4)
    options = ort.SessionOptions()
    options.log_severity_level = 4
    results = []
    for provider in ort.get_available_providers():
        if provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider") and not torch.cuda.is_available():
            results.append((provider, "listed, not usable: no CUDA device"))
            continue
        try:
            session = ort.InferenceSession(model, options, providers=[provider])
            ok = provider in session.get_providers()
            results.append((provider, "loads" if ok else "listed, fails to load (falls back to CPU)"))
        except Exception as err:  # noqa: BLE001 - any failure means "does not load"; report it
            results.append((provider, f"listed, fails to load ({str(err).splitlines()[0][:80]})"))
    return ort.__version__, results


def report(models_dir: str | None = None) -> tuple[str, int]:
    import torch
    import torchvision

    from translate import __version__
    from translate.printable import printable
    from translate.zoo import bundled_models_dir, list_models

    lines = [
        f"gan-translate {__version__}",
        f"python        {platform.python_version()} ({platform.machine()})",
        f"torch         {torch.__version__}",
        f"torchvision   {torchvision.__version__}",
    ]
    ort_version, providers = onnxruntime_providers()
    lines.append(f"onnxruntime   {ort_version}")
    lines.append("devices:")
    from translate.precision import describe_cpu

    lines.append(f"  cpu: {os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads; {describe_cpu()}")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            lines.append(f"  cuda:{i}: {p.name}, {p.total_memory / 2**30:.1f} GiB, "
                         f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")
    else:
        lines.append("  cuda: none available")
    lines.append("onnxruntime providers:")
    lines += [f"  {name}: {status}" for name, status in providers]
    folder = models_dir or bundled_models_dir()
    entries, problems = list_models(folder)
    lines.append(f"models in {folder}:")
    if not entries and not problems:
        lines.append("  (none)")
    for e in entries:
        extra = f" x{e.spec.scale}" if e.spec.task == "super-resolution" else ""
        domains = f" {e.spec.domains[0]} -> {e.spec.domains[1]}" if e.spec.domains else ""
        paired = " (paired input)" if e.spec.paired_input else ""
        lines.append(f"  {e.name}: {e.spec.task}{extra}{domains}{paired}, {e.spec.arch}, {e.size_bytes / 1e6:.1f} MB")
    lines += [f"  unreadable: {p}" for p in problems]
    onnx, unreadable = onnx_lines(Path(folder))
    lines += onnx
    return "\n".join(printable(line) for line in lines), len(problems) + unreadable


def onnx_lines(folder: Path) -> tuple[list[str], int]:
    """One line per .onnx export in `folder` (what its metadata says, or why it cannot be read), and the count
    of unreadable ones."""
    from translate.errors import UserError

    lines, unreadable = [], 0
    for path in sorted(folder.glob("*.onnx")) if folder.is_dir() else []:
        try:
            from translate.onnx import read_spec, session

            spec = read_spec(session(path, provider="cpu"), path)
        except ImportError as err:
            lines.append(f"  {path.name}: onnxruntime unavailable ({err})")
            continue
        except UserError as err:
            lines.append(f"  unreadable: {err}")
            unreadable += 1
            continue
        extra = f" x{spec.scale}" if spec.task == "super-resolution" else ""
        domains = f" {spec.domains[0]} -> {spec.domains[1]}" if spec.domains else ""
        domains += " (paired input)" if spec.paired_input else ""
        lines.append(f"  {path.name}: {spec.task}{extra}{domains}, onnx export, {path.stat().st_size / 1e6:.1f} MB")
    return lines, unreadable


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="translate-info", description=__doc__)
    parser.add_argument("--models", metavar="DIR", help="list the model files and .onnx exports in DIR, each with its "
                        "task or why it cannot be read (default: the bundled models)")
    args = parse(parser, argv)

    def body() -> int:
        text, unreadable = report(args.models)
        print(text)  # every line printable already (see report)
        return 2 if unreadable else 0  # an unreadable model file is an error, as in every other command

    return run_cli(body)
