"""The one precision switch: honest detection of bf16 CPUs (mocked both ways), what auto picks for serving
and for training, float32 exactly as before, bf16 weights cast once at load, and the bf16 quality bounds of
the bundled models on a few small images."""

import numpy as np
import pytest
import torch
from helpers import tiny_sr, tiny_translator
from torch import nn

from translate import precision
from translate.checkpoint import load_model, save_model
from translate.data.convert import to_pixels, to_tensor
from translate.data.io import read_image
from translate.data.resize import bicubic_resize
from translate.device import pick_amp_dtype
from translate.evaluation.metrics import psnr, rgb_to_y
from translate.inference import Translator
from translate.model_spec import ModelSpec
from translate.nets import GENERATORS
from translate.nets.channels_last import SingleImageInstanceNorm
from translate.zoo import bundled_models_dir

CPU = torch.device("cpu")


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx512f", "amx_tile", "amx_bf16"}))


@pytest.fixture
def plain_cpu(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"sse4_2", "avx2", "fma"}))


def test_detection_reads_the_cpu_flags(monkeypatch):
    for flags, found in (({"amx_bf16", "avx512_bf16"}, "AMX"), ({"avx512f", "avx512_bf16"}, "AVX-512 BF16"),
                         ({"fp", "asimd", "bf16"}, "Arm BF16"), ({"avx512f", "avx512bw", "avx2"}, None), (set(), None)):
        monkeypatch.setattr(precision, "_cpu_flags", lambda f=frozenset(flags): f)
        assert precision.cpu_bf16() == found
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)  # no oneDNN: nothing uses them
    assert precision.cpu_bf16() is None


def test_auto_serves_bf16_only_on_a_bf16_cpu(bf16_cpu, monkeypatch):
    chosen = precision.serving_precision("auto", CPU)
    assert chosen.name == "bf16" and "AMX" in chosen.line()
    assert precision.serving_precision("auto", CPU, {"bf16": False}).name == "fp32"  # the spec's opt-out
    assert precision.serving_precision("fp32", CPU).name == "fp32"
    assert precision.serving_precision("auto", torch.device("cuda")).name == "fp32"
    assert pick_amp_dtype("auto", CPU) is None  # training stays float32 on the CPU
    assert "bf16" in precision.describe_cpu()
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx2"}))
    chosen = precision.serving_precision("auto", CPU)
    assert chosen.name == "fp32" and "no bf16 instructions" in chosen.reason
    assert "emulated" in precision.serving_precision("bf16", CPU).reason  # asked for: given, with the truth


def test_training_takes_precision_and_still_amp():
    from translate.cli.common import given_flags
    from translate.cli.train import build_parser
    from translate.training.config import LoopConfig
    from translate.training.cyclegan import CycleganRecipe

    parser = build_parser(CycleganRecipe)
    for argv, mode in ((["--precision", "fp32"], "fp32"), (["--amp", "off"], "off"), (["--amp", "bf16"], "bf16")):
        amp = given_flags(parser.parse_args(argv), LoopConfig)["amp"]
        assert amp == mode
        assert pick_amp_dtype(amp, CPU) == (torch.bfloat16 if mode == "bf16" else None)


def _today(net: nn.Module, spec: ModelSpec, pixels: np.ndarray) -> np.ndarray:
    """The float32 path as it was before the switch: float32 weights, channels-last for super-resolution
    only, the input (a multiple of the size multiple: no padding) straight through."""
    fmt = torch.channels_last if spec.task == "super-resolution" else torch.contiguous_format
    net = net.to(dtype=torch.float32, memory_format=fmt).eval()
    with torch.inference_mode():
        x = to_tensor(pixels, spec.value_range)[None].contiguous(memory_format=fmt)
        return to_pixels(net(x).float()[0], spec.value_range)


@pytest.mark.parametrize("make", [tiny_translator, tiny_sr])
def test_fp32_is_bit_identical_to_before(tmp_path, make, bf16_cpu):
    path = make(tmp_path / "m.safetensors")
    pixels = np.random.default_rng(0).random((24, 32, 3), dtype=np.float32)
    translator = Translator.from_file(path, device="cpu", precision="fp32")
    assert translator.precision.name == "fp32"
    assert not any(isinstance(m, SingleImageInstanceNorm) for m in translator.net.modules())
    assert np.array_equal(translator(pixels), _today(*load_model(path), pixels))


def test_bf16_weights_are_cast_once_at_load(tmp_path, bf16_cpu):
    translator = Translator.from_file(tiny_translator(tmp_path / "m.safetensors"), device="cpu", precision="auto")
    assert translator.precision.name == "bf16"
    params = list(translator.net.parameters())
    assert all(p.dtype == torch.bfloat16 for p in params)
    conv = next(m for m in translator.net.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    where = [p.data_ptr() for p in params]
    pixels = np.random.default_rng(0).random((20, 28, 3), dtype=np.float32)
    first = translator(pixels)
    assert first.dtype == np.float32 and first.shape == pixels.shape
    assert np.array_equal(translator(pixels), first)
    assert [p.data_ptr() for p in translator.net.parameters()] == where  # the same tensors: nothing re-cast


def test_spec_can_keep_a_model_in_fp32(tmp_path, bf16_cpu):
    torch.manual_seed(0)
    kwargs = {"ngf": 4, "n_blocks": 1, "upsample": "resize"}
    spec = ModelSpec(task="translation", arch="resnet", arch_kwargs=kwargs, in_channels=3, out_channels=3,
                     size_multiple=4, notes={"bf16": False})
    path = save_model(tmp_path / "m.safetensors", GENERATORS["resnet"](**kwargs), spec)
    translator = Translator.from_file(path, device="cpu", precision="auto")
    assert translator.precision.name == "fp32" and "quality bound" in translator.precision.reason


def test_single_image_instance_norm_matches_and_keeps_the_layout():
    torch.manual_seed(0)
    plain = nn.InstanceNorm2d(6, affine=True)
    nn.init.normal_(plain.weight, 1.0, 0.3)
    nn.init.normal_(plain.bias, 0.0, 0.3)
    swapped = SingleImageInstanceNorm(6, affine=True)
    swapped.load_state_dict(plain.state_dict())
    x = (torch.randn(1, 6, 9, 11) * 3 + 1).contiguous(memory_format=torch.channels_last)
    y = swapped(x)
    assert torch.allclose(y, plain(x), atol=1e-5) and y.is_contiguous(memory_format=torch.channels_last)
    two = torch.randn(2, 6, 9, 11)
    assert torch.allclose(swapped(two), plain(two), atol=1e-6)  # other batches: instance norm itself


def test_cli_precision_flag(tmp_path, capsys, plain_cpu, monkeypatch):
    from PIL import Image

    from translate.cli.translate import main

    model = tiny_translator(tmp_path / "m.safetensors")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    outputs = {}
    for name, argv in (("auto", []), ("fp32", ["--precision", "fp32"])):
        assert main(["--device", "cpu", str(tmp_path / "p.png"), "--model", str(model), "--out",
                     str(tmp_path / name), "--no-progress", "--verbose", *argv]) == 0
        assert "fp32 (" in capsys.readouterr().err
        outputs[name] = (tmp_path / name / "p_paintings.png").read_bytes()
    assert outputs["auto"] == outputs["fp32"]  # no bf16 instructions: auto is float32, byte for byte
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert main(["--device", "cpu", str(tmp_path / "p.png"), "--model", str(model), "--out", str(tmp_path / "b"),
                 "--no-progress", "--verbose"]) == 0
    assert "bf16 (auto: this CPU computes bf16 with AVX-512 BF16)" in capsys.readouterr().err


def test_app_footer_says_the_precision(bf16_cpu):
    from translate.web_ui import device_line

    assert device_line("cpu", "auto").endswith("bf16 (auto: this CPU computes bf16 with AMX)")
    assert "fp32" in device_line("cpu", "fp32")


def _crop(path, side: int) -> np.ndarray:
    pixels = read_image(path).pixels
    return pixels[:side, :side]


@pytest.mark.parametrize("name", ["vangogh_A2B", "monet_B2A", "facades", "sr_x4"])
def test_bundled_models_keep_their_bf16_bounds(name, samples):
    """Serving's bounds for bf16 against float32, on small images: translators >= 40 dB PSNR,
    super-resolution <= 0.05 dB Y-PSNR lost (benchmarks/bf16_quality.py measures the full sets)."""
    path = bundled_models_dir() / f"{name}.safetensors"
    runs = {p: Translator.from_file(path, device="cpu", precision=p) for p in ("fp32", "bf16")}
    if name == "sr_x4":
        hr = _crop(samples / "sr" / "Set5" / "butterfly.png", 96)
        lr = bicubic_resize(hr, (24, 24))
        y_hr = rgb_to_y(hr)
        scores = {p: psnr(y_hr, rgb_to_y(np.round(np.clip(t(lr), 0, 1) * 255) / 255), border=4)
                  for p, t in runs.items()}
        assert scores["fp32"] - scores["bf16"] <= 0.05
        return
    image = samples / ("facade_labels/drawn_0.png" if name == "facades" else "horse2zebra/0.png")
    x = _crop(image, 256 if name == "facades" else 64)
    assert psnr(runs["fp32"](x), runs["bf16"](x), peak=1.0) >= 40.0


def test_export_takes_the_precision_flag_and_says_what_to_pick(tmp_path, capsys):
    from translate.cli.export import main as export_main

    model = tiny_translator(tmp_path / "t.safetensors")
    assert export_main([str(model), "--precision", "fp16"]) == 0
    assert "fp16" in capsys.readouterr().out and (tmp_path / "t-fp16.onnx").is_file()
    with pytest.raises(SystemExit):
        export_main(["--help"])
    assert "Which to pick for a CPU" in capsys.readouterr().out
