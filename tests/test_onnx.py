"""ONNX export: every generator matches PyTorch in onnxruntime, metadata round-trips, consumers agree."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import swapped_primaries_profile, tiny_generator, tiny_sr, tiny_translator
from PIL import Image

from translate.checkpoint import load_model
from translate.cli.export import main as export_main
from translate.errors import ModelFileError, UserError
from translate.inference import Translator
from translate.model_spec import ModelSpec
from translate.nets import GENERATORS
from translate.onnx import export_onnx, read_spec, session, verify

REPO = Path(__file__).parent.parent
SPECS = {
    "mlp": ({"latent_dim": 4, "image_size": 8, "channels": 1, "hidden": 8, "n_layers": 1, "n_classes": 3},
            {"task": "generation", "latent_dim": 4, "image_size": 8, "labels": ("a", "b", "c"), "in_channels": 4,
             "out_channels": 1}),
    "dcgan": ({"latent_dim": 4, "image_size": 16, "channels": 3, "ngf": 4},
              {"task": "generation", "latent_dim": 4, "image_size": 16, "in_channels": 4}),
    "srresnet": ({"scale": 3, "n_blocks": 1, "channels": 4},
                 {"task": "super-resolution", "scale": 3, "value_range": (0.0, 1.0)}),
    "resnet": ({"ngf": 4, "n_blocks": 1, "upsample": "transpose"},
               {"task": "translation", "size_multiple": 4, "domains": ("a", "b")}),
    "unet": ({"num_downs": 5, "ngf": 4}, {"task": "translation", "size_multiple": 32, "domains": ("a", "b")}),
}


@pytest.mark.parametrize("arch", list(GENERATORS))
def test_every_generator_exports_and_matches(tmp_path, arch):
    assert set(SPECS) == set(GENERATORS)
    kwargs, extra = SPECS[arch]
    torch.manual_seed(0)
    net = GENERATORS[arch](**kwargs).eval()
    spec = ModelSpec(arch=arch, arch_kwargs=kwargs, **{"in_channels": 3, "out_channels": 3, **extra})
    path = export_onnx(net, spec, tmp_path / "m.onnx")
    results = verify(net, spec, path)
    assert len(results) == 2 and all(diff < 1e-4 for _, diff in results)
    sess = session(path, provider="cpu")
    assert read_spec(sess, path) == spec
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["task"] == spec.task and "recommended_tile" in meta
    assert not list(tmp_path.glob("*.data"))  # self-contained
    import onnx

    from translate.onnx import EXPORTED_OPS

    assert {n.op_type for n in onnx.load(str(path)).graph.node} <= EXPORTED_OPS  # what check_graph lets run


def test_fp16_export(tmp_path, capsys):
    model = tiny_translator(tmp_path / "t.safetensors")
    assert export_main([str(model), "--fp16"]) == 0
    out = capsys.readouterr().out
    assert "fp16" in out and (tmp_path / "t-fp16.onnx").is_file()
    import onnx
    from onnx import TensorProto

    model16 = onnx.load(tmp_path / "t-fp16.onnx")
    weights = [i for i in model16.graph.initializer if len(i.dims) == 4]  # the conv kernels
    assert weights and all(i.data_type == TensorProto.FLOAT16 for i in weights)
    assert model16.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT  # float32 at the boundary


@pytest.mark.parametrize("make, calibration", [(tiny_translator, "photos_vangogh/photos"), (tiny_sr, "sr/Set5")])
def test_int8_export_is_quantised_close_to_torch_and_runs(tmp_path, capsys, samples, make, calibration):
    import onnx

    from translate.onnx_int8 import MIN_PSNR_DB

    model = make(tmp_path / "m.safetensors")
    assert export_main([str(model), "--int8", str(samples / calibration)]) == 0
    out = capsys.readouterr().out
    psnr = float(out.split("PSNR >= ")[1].split(" dB")[0])
    assert psnr >= MIN_PSNR_DB
    path = tmp_path / "m-int8.onnx"
    graph = onnx.load(path).graph
    int8_weights = [i for i in graph.initializer if len(i.dims) == 4 and i.data_type == onnx.TensorProto.INT8]
    assert int8_weights and any(n.op_type == "QuantizeLinear" for n in graph.node)
    sess = session(path, provider="cpu")
    assert read_spec(sess, path) == load_model(model)[1]  # the spec survives quantisation
    assert "int8" in sess.get_modelmeta().custom_metadata_map["quantization"]
    image = np.random.default_rng(0).random((37, 29, 3), dtype=np.float32)
    result = Translator.from_file(path)(image)
    scale = read_spec(sess, path).scale
    assert result.shape == (37 * scale, 29 * scale, 3) and result.min() >= 0 and result.max() <= 1


def test_int8_export_errors(tmp_path, capsys, samples):
    translator, generator = tiny_translator(tmp_path / "t.safetensors"), tiny_generator(tmp_path / "g.safetensors")
    (tmp_path / "empty").mkdir()
    (tmp_path / "tiny").mkdir()
    Image.new("RGB", (1, 1)).save(tmp_path / "tiny" / "dot.png")
    Image.new("RGB", (31, 300)).save(tmp_path / "tiny" / "strip.png")
    cases = [
        ([str(translator), "--int8", str(tmp_path / "tiny")], "no image of at least 32x32 pixels to calibrate with"),
        ([str(translator), "--int8", str(samples / "sr/Set5"), "--fp16"], "pick one"),
        ([str(generator), "--int8", str(samples / "sr/Set5")], "image-to-image models"),
        ([str(translator), "--int8", str(tmp_path / "missing")], "no such folder"),
        ([str(translator), "--int8", str(tmp_path / "empty")], "no images found"),
    ]
    for argv, message in cases:
        assert export_main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not list(tmp_path.glob("*.onnx"))


def test_onnx_backend_matches_torch_on_odd_sizes(tmp_path):
    model = tiny_translator(tmp_path / "t.safetensors")
    assert export_main([str(model)]) == 0
    rng = np.random.default_rng(0)
    for h, w in ((37, 53), (1, 1), (5, 3)):
        image = rng.random((h, w, 3), dtype=np.float32)
        a = Translator.from_file(model, device="cpu")(image)
        b = Translator.from_file(tmp_path / "t.onnx", provider="cpu")(image)
        assert a.shape == b.shape == (h, w, 3) and b.min() >= 0 and b.max() <= 1
        if h > 1:  # a 1x1 image pads to a constant one, where instance norm divides ~0 by ~0 in both
            assert np.abs(a - b).max() < 1e-4


def test_torch_free_consumer_matches_translate(tmp_path, samples):
    from translate.cli.translate import main as translate_main

    model = tiny_sr(tmp_path / "sr.safetensors")
    assert export_main([str(model), "--out", str(tmp_path / "sr.onnx")]) == 0
    source = samples / "realworld_lq" / "0014.jpg"
    ours = tmp_path / "ours"
    assert translate_main(["--device", "cpu", str(source), "--model", str(tmp_path / "sr.onnx"), "--out", str(ours),
                           "--tile", "64", "--no-progress"]) == 0
    theirs = tmp_path / "theirs.png"
    done = subprocess.run([sys.executable, str(REPO / "export" / "onnx_translate.py"), str(tmp_path / "sr.onnx"),
                           str(source), str(theirs), "--tile", "64"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    a = np.asarray(Image.open(ours / "0014_x2.png"), dtype=int)
    b = np.asarray(Image.open(theirs), dtype=int)
    assert a.shape == b.shape == (179 * 2, 179 * 2, 3)
    assert np.abs(a - b).max() <= 1 and (a != b).mean() < 0.001



def test_torch_free_consumer_reads_colour_profiles_as_translate_does(tmp_path, samples):
    import importlib.util

    from translate.data.io import read_image

    loader = importlib.util.spec_from_file_location("onnx_translate", REPO / "export" / "onnx_translate.py")
    consumer = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(consumer)
    tagged = tmp_path / "tagged.png"  # a colour profile other than sRGB: both convert the pixels to sRGB
    Image.open(samples / "realworld_lq" / "0014.jpg").save(tagged, icc_profile=swapped_primaries_profile())
    theirs, _, _ = consumer.read(str(tagged))
    ours = read_image(tagged).pixels
    plain = read_image(samples / "realworld_lq" / "0014.jpg").pixels
    assert np.abs(theirs - ours).max() <= 1 / 255 + 1e-6 and np.abs(theirs - plain).mean() > 0.05


def test_torch_free_consumer_reads_16bit_gray_and_refuses_bad_input(tmp_path):
    model = tiny_sr(tmp_path / "sr.safetensors")
    assert export_main([str(model), "--out", str(tmp_path / "sr.onnx")]) == 0

    def consume(source, *extra):
        return subprocess.run([sys.executable, str(REPO / "export" / "onnx_translate.py"), str(tmp_path / "sr.onnx"),
                               str(source), str(tmp_path / "out.png"), *extra], capture_output=True, text=True)

    gray16 = np.full((12, 10), 20000, np.uint16)  # about 0.31 of full scale
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    done = consume(tmp_path / "g16.png")
    assert done.returncode == 0, done.stderr
    ours = Translator.from_file(tmp_path / "sr.onnx", provider="cpu")(np.full((12, 10, 3), 20000 / 65535, np.float32))
    out = np.asarray(Image.open(tmp_path / "out.png"), dtype=np.float32) / 255
    assert out.ndim == 2 and np.abs(out - ours.mean(axis=2)).max() < 0.02  # gray, and not clipped to white

    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    for source, extra, message in ((tmp_path / "broken.png", [], "broken.png: not a readable image"),
                                   (tmp_path / "g16.png", ["--tile", "16"], "must be larger than the tile overlap")):
        done = consume(source, *extra)
        assert done.returncode != 0 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_generation_model_exports_with_labels(tmp_path):
    model = tiny_generator(tmp_path / "g.safetensors", labels=("0", "1", "2"))
    assert export_main([str(model)]) == 0
    net, spec = load_model(model)
    from translate.onnx import OnnxNet

    onnx_net = OnnxNet(session(tmp_path / "g.onnx", provider="cpu"))
    z, labels = torch.randn(3, 8), torch.tensor([2, 0, 1])
    with torch.no_grad():
        assert torch.allclose(onnx_net(z, labels), net(z, labels), atol=1e-5)


def test_bad_onnx_files(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a readable ONNX file|onnxruntime cannot load it"):
        session(junk)
    with pytest.raises(ModelFileError, match="no such file"):
        session(tmp_path / "missing.onnx")
    if not torch.cuda.is_available():
        model = tiny_translator(tmp_path / "t.safetensors")
        export_main([str(model)])
        with pytest.raises(UserError, match="CUDA provider does not load"):
            session(tmp_path / "t.onnx", provider="cuda")


def test_foreign_onnx_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9),
              tmp_path / "foreign.onnx")
    with pytest.raises(ModelFileError, match="without a gan-translate spec"):
        Translator.from_file(tmp_path / "foreign.onnx")


def test_export_never_writes_over_the_model(tmp_path, capsys):
    model = tiny_translator(tmp_path / "t.safetensors")
    before = model.read_bytes()
    assert export_main([str(model), "--out", str(model)]) == 2
    err = capsys.readouterr().err
    assert "must end in .onnx" in err and err.count("\n") == 1, err
    assert model.read_bytes() == before
    (tmp_path / "file").write_text("x")
    assert export_main([str(model), "--out", str(tmp_path / "file" / "t.onnx")]) == 2  # a file where a folder goes
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert export_main([str(model)]) == 0
    assert export_main([str(tmp_path / "t.onnx")]) == 2
    assert "is an ONNX file already" in capsys.readouterr().err


def test_export_leaves_the_callers_net_as_it_was(tmp_path):
    """Exporting used to turn the caller's net to float32 on the CPU in place (a CUDA or half model moved)."""
    net, spec = load_model(tiny_translator(tmp_path / "t.safetensors"))
    net = net.double().train()
    export_onnx(net, spec, tmp_path / "t.onnx")
    assert all(p.dtype == torch.float64 for p in net.parameters()) and net.training
    x = torch.rand(1, 3, 20, 24, dtype=torch.float64) * 2 - 1
    got = torch.from_numpy(session(tmp_path / "t.onnx", provider="cpu").run(None, {"input": x.float().numpy()})[0])
    assert torch.allclose(got.double(), net.eval()(x), atol=1e-4)
