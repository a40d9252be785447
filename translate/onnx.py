"""ONNX export of our generators, verification against PyTorch, and onnxruntime sessions.

Exports use torch 2.x's dynamo-based exporter (``torch.onnx.export(..., dynamo=True)``), which handles every
generator here, including reflection padding, instance norm, PixelShuffle and PReLU, with dynamic batch,
height and width. Files are self-contained (weights inside, no ``.data`` file) and carry the model's spec
as metadata (see export/README.md for the contract).
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from translate import spec_check
from translate.checkpoint import atomic_write, check_regular_file
from translate.errors import ModelFileError, UserError
from translate.inference import recommended_overlap, recommended_tile
from translate.model_spec import ModelSpec
from translate.printable import printable

OPSET = 18
TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}
"""Largest accepted |onnxruntime - PyTorch| on outputs in the model's value range. fp16 keeps about three
decimal digits, and deep generators accumulate rounding, so its bound is looser."""


EXPORTED_OPS = frozenset({
    # what export-onnx writes for every architecture here, fp16 (Cast) and int8 (QDQ) included
    "Add", "Cast", "Concat", "Conv", "ConvTranspose", "DepthToSpace", "DequantizeLinear", "Equal", "Gemm",
    "InstanceNormalization", "LeakyRelu", "MatMul", "Mul", "PRelu", "Pad", "QuantizeLinear", "Relu", "Reshape",
    "Resize", "Softmax", "Tanh", "Transpose", "Unsqueeze",
    # what torch's TorchScript exporter writes for them, and plain operations other exporter versions may use
    "BatchNormalization", "Clip", "Constant", "ConstantOfShape", "Div", "Flatten", "Gather", "Identity", "Max",
    "Min", "Neg", "Pow", "ReduceMean", "Shape", "Sigmoid", "Slice", "Sqrt", "Squeeze", "Sub", "Where",
})
"""The operations (of ONNX's standard domain) a graph may use: none loops, branches or runs code of another
domain. A graph with any other is refused before onnxruntime sees it: control flow (Loop, Scan, If) can run
without end, and other domains are code we do not know. tests/test_onnx.py checks that every export uses
only these."""
CHECK_SECONDS = 30.0
"""Time limit of the run that checks an export against its spec's promises (at the smallest input it
promises to take, a second on any of our models), should a graph of plain operations still be slow."""


def check_graph(path: Path) -> None:
    """ModelFileError unless every node of the .onnx file at `path` is an operation export-onnx writes
    (:data:`EXPORTED_OPS`), with no subgraph and no local function: decided before onnxruntime runs it."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # noqa: BLE001 - protobuf and onnx raise many types for a damaged file
        problem = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise ModelFileError(f"{path}: not a readable ONNX file ({problem})") from None
    if model.functions:
        raise ModelFileError(f"{path}: the graph defines its own functions ({printable(model.functions[0].name[:60])}"
                             "), which export-onnx never writes; refused without running it")
    for node in model.graph.node:
        domain = node.domain if node.domain not in ("", "ai.onnx") else ""
        subgraph = any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)
        if domain or node.op_type not in EXPORTED_OPS or subgraph:
            what = f"{domain}:{node.op_type}" if domain else node.op_type
            raise ModelFileError(f"{path}: the graph uses the operation {printable(what[:80])!s}, which export-onnx "
                                 "never writes (loops, branches and custom operations can run without end); refused "
                                 "without running it")


class ExportError(UserError):
    """An export that failed or did not match PyTorch."""


def metadata(spec: ModelSpec) -> dict[str, str]:
    """ONNX metadata_props: every spec field (JSON-encoded where not a string) plus inference hints."""
    props = {key: value if isinstance(value, str) else json.dumps(value) for key, value in asdict(spec).items()}
    props.update({
        "gan_translate_spec": spec.to_json(),
        "input_layout": "NCHW" if spec.task != "generation" else "NC",
        "input_range": json.dumps(list(spec.value_range)),
        "recommended_tile": str(recommended_tile(spec)),
        "recommended_tile_overlap": str(recommended_overlap(spec)),
    })
    return props


def _example(net: nn.Module, spec: ModelSpec) -> tuple[tuple[torch.Tensor, ...], dict, list[str]]:
    if spec.task == "generation":
        z = torch.randn(2, spec.latent_dim)
        batch = torch.export.Dim("batch", min=1, max=4096)
        if spec.labels:
            labels = torch.zeros(2, dtype=torch.int64)
            return (z, labels), {"z": {0: batch}, "labels": {0: batch}}, ["z", "labels"]
        return (z,), {"z": {0: batch}}, ["z"]
    m = max(spec.size_multiple, 1)
    side = m * max(1, min(8, 512 // m))  # 8 multiples, or one for the U-Net's 256
    x = torch.rand(1, spec.in_channels, side, side)
    low, high = spec.value_range
    x = x * (high - low) + low
    name = "x" if "x" in _forward_params(net) else _forward_params(net)[0]
    dims = {0: torch.export.Dim("batch", min=1, max=64), 2: torch.export.Dim("height", min=1, max=16384),
            3: torch.export.Dim("width", min=1, max=16384)}
    return (x,), {name: dims}, ["input"]


def _forward_params(net: nn.Module) -> list[str]:
    import inspect

    return list(inspect.signature(net.forward).parameters)


def export_onnx(net: nn.Module, spec: ModelSpec, out: str | Path, fp16: bool = False) -> Path:
    """Export `net` to a self-contained ONNX file at `out` with `spec` as metadata (atomically)."""
    import onnx

    net = copy.deepcopy(net).float().eval().cpu()  # the caller's net stays on its device and dtype
    args, dynamic, input_names = _example(net, spec)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(net, args, dynamo=True, external_data=False, dynamic_shapes=dynamic,
                                        input_names=input_names, output_names=["output"], opset_version=OPSET,
                                        verbose=False)
        model = program.model_proto
    except Exception as err:  # noqa: BLE001 - the exporter raises many types; the user needs one line
        raise ExportError(f"{spec.arch}: ONNX export failed ({str(err).splitlines()[0][:200]})") from None
    if fp16:
        model = _to_fp16(model)
    for key, value in metadata(spec).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "gan-translate"
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    return atomic_write(out, lambda tmp: tmp.write_bytes(data))


def _to_fp16(model: Any) -> Any:
    """Weights and arithmetic in float16; inputs and outputs stay float32, so callers need not change."""
    from onnxconverter_common import float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns for every weight that float16 rounds to 0 or to its limits
        return float16.convert_float_to_float16(model, keep_io_types=True)


def session(path: str | Path, provider: str = "auto", threads: int = 0) -> Any:
    """An onnxruntime InferenceSession on CUDA when it really loads, else the CPU.

    provider: "auto" (CUDA if torch sees a GPU and the provider loads, otherwise CPU with a one-line notice
    when CUDA was expected), "cpu", or "cuda" (an error when CUDA cannot be used: no silent fallback).
    threads: intra-op threads (0 = onnxruntime's default, one per physical core).
    """
    import onnxruntime as ort

    path = Path(path)
    check_regular_file(path, "an .onnx file")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    want_cuda = provider == "cuda" or (provider == "auto" and torch.cuda.is_available())
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if want_cuda else ["CPUExecutionProvider"]
    if want_cuda and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # CUDA/cuDNN libraries from the nvidia-* wheels that torch installed
    check_graph(path)
    try:
        sess = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise ModelFileError(f"{path}: onnxruntime cannot load it ({str(err).splitlines()[0][:200]})") from None
    if want_cuda and "CUDAExecutionProvider" not in sess.get_providers():
        if provider == "cuda":
            raise UserError(f"{path}: --provider cuda, but onnxruntime's CUDA provider does not load here")
        print(f"note: onnxruntime's CUDA provider does not load here; {printable(path.name)} runs on the CPU",
              file=sys.stderr)
    return sess


def read_spec(sess: Any, path: str | Path) -> ModelSpec:
    """The spec an .onnx export carries, every field checked (translate.spec_check), and checked against the
    graph by one run at the smallest input size the spec promises to take: an export whose spec lies about
    its scale, size multiple or channels is refused rather than giving a wrong image. ModelFileError."""
    props = sess.get_modelmeta().custom_metadata_map
    if "gan_translate_spec" not in props:
        raise ModelFileError(f"{path}: an ONNX file without a gan-translate spec; export it with export-onnx")
    spec = ModelSpec.from_json(props["gan_translate_spec"], path)
    spec_check.check_output(path, spec, OnnxNet(sess, time_limit=CHECK_SECONDS, where=path))
    return spec


class OnnxNet:
    """Calls an onnxruntime session like a torch module: torch tensors in, torch tensors out.

    time_limit: seconds after which a run is stopped (onnxruntime's terminate flag) with a ModelFileError
    naming `where`; None: no limit."""

    def __init__(self, sess: Any, time_limit: float | None = None, where: object = "the ONNX model") -> None:
        self.sess, self.time_limit, self.where = sess, time_limit, where
        self.names = [i.name for i in sess.get_inputs()]

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        feeds = {name: t.detach().cpu().numpy() for name, t in zip(self.names, inputs) if t is not None}
        if self.time_limit is None:
            return torch.from_numpy(self.sess.run(None, feeds)[0]).float()
        import onnxruntime as ort

        options = ort.RunOptions()
        options.log_severity_level = 4  # a failing check run is reported in one line, not also in onnxruntime's log
        timer = threading.Timer(self.time_limit, setattr, (options, "terminate", True))
        timer.start()
        try:
            out = self.sess.run(None, feeds, options)
        except Exception:
            if options.terminate:
                raise ModelFileError(f"{self.where}: the graph ran over {self.time_limit:g} s on the smallest input "
                                     "its spec promises to take; refused") from None
            raise
        finally:
            timer.cancel()
        return torch.from_numpy(out[0]).float()


def verify(net: nn.Module, spec: ModelSpec, path: str | Path, fp16: bool = False) -> list[tuple[str, float]]:
    """Compare onnxruntime (CPU) with PyTorch on two input sizes; returns [(case, max |difference|)].

    Raises ExportError when a difference is above TOLERANCE.
    """
    sess = session(path, provider="cpu")
    onnx_net = OnnxNet(sess)
    net = net.float().eval().cpu()
    generator = torch.Generator().manual_seed(0)
    results = []
    if spec.task == "generation":
        cases = [(f"batch {n}", (torch.randn(n, spec.latent_dim, generator=generator),)) for n in (1, 5)]
        if spec.labels:
            cases = [(name, (z, torch.arange(len(z)) % len(spec.labels))) for name, (z,) in cases]
    else:
        m = max(spec.size_multiple, 1)
        low, high = spec.value_range
        sizes = ((16 * m, 16 * m), (12 * m, 20 * m)) if m <= 16 else ((m, m), (m, 2 * m))  # U-Net: m = 256
        cases = [(f"{h}x{w}", (torch.rand(1, spec.in_channels, h, w, generator=generator) * (high - low) + low,))
                 for h, w in sizes]
    bound = TOLERANCE["fp16" if fp16 else "fp32"] * (spec.value_range[1] - spec.value_range[0])
    for name, inputs in cases:
        with torch.no_grad():
            expected = net(*inputs).float()
        got = onnx_net(*inputs)
        diff = float((got - expected).abs().max())
        results.append((name, diff))
        if not diff <= bound:
            raise ExportError(
                f"{path}: onnxruntime differs from PyTorch by {diff:.2e} on {name} (tolerance {bound:.0e})"
            )
    return results
