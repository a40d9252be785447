"""What only a CUDA machine can check: each recipe's step and resume under bf16 and fp16 (GradScaler), a step that
never waits for the GPU, CUDA-graph compilation, translate --half, ONNX export from a CUDA model, onnxruntime's
CUDA provider and torchrun over NCCL. All skipped without CUDA (see conftest.py); run them with pytest -m gpu."""

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_sr, tiny_translator
from PIL import Image
from test_cyclegan import _config as cyclegan_config
from test_cyclegan import _domains
from test_pix2pix import _twins
from test_sr import _hr_folder, _psnr_model

from translate.checkpoint import load_model, load_state
from translate.errors import UserError
from translate.model_spec import ModelSpec
from translate.nets import GENERATORS
from translate.training.config import LoopConfig
from translate.training.cyclegan import CycleganRecipe
from translate.training.gan import GanConfig, GanRecipe
from translate.training.loop import to_device, train
from translate.training.pix2pix import Pix2pixConfig, Pix2pixRecipe
from translate.training.recipe import TrainContext
from translate.training.srgan import SrganConfig, SrganRecipe

pytestmark = pytest.mark.gpu
TESTS = Path(__file__).parent


def _recipe(name: str, tmp_path: Path):
    if name == "cyclegan":
        return CycleganRecipe, cyclegan_config(*_domains(tmp_path))
    if name == "pix2pix":
        return Pix2pixRecipe, Pix2pixConfig(data=str(_twins(tmp_path / "pairs")), crop=32, load_size=36,
                                            unet_downs=5, ngf=4, ndf=4, min_items=4)
    if name == "srgan":
        return SrganRecipe, SrganConfig(data=str(_hr_folder(tmp_path, [(48, 48)] * 2)), crop=32, stage="gan",
                                        init=str(_psnr_model(tmp_path)), content_loss="feature_matching",
                                        d_channels=8)
    return GanRecipe, GanConfig(arch="dcgan", width=8, latent_dim=8, d_steps=1)


def _cuda_loop(out: Path, **changes) -> LoopConfig:
    values = dict(out=str(out), device="cuda", steps=2, batch_size=2, workers=0, progress=False, tensorboard=False,
                  log_every=1, sample_every=2, checkpoint_every=100, channels_last=True, ema=0.9)
    values.update(changes)
    return LoopConfig(**values)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
@pytest.mark.parametrize("name", ["cyclegan", "pix2pix", "srgan", "gan"])
def test_step_and_resume_on_cuda(tmp_path, name, amp):
    recipe_cls, config = _recipe(name, tmp_path)
    loop = _cuda_loop(tmp_path / "run", amp=amp)
    recipe = train(recipe_cls, config, loop)
    assert all(p.is_cuda for net in recipe.nets.values() for p in net.parameters())
    for opt in recipe.optimizers.values():
        if isinstance(opt, torch.optim.Adam):
            assert opt.param_groups[0]["fused"] is True  # one kernel per update on CUDA
    recipe = train(recipe_cls, config, dataclasses.replace(loop, steps=4), resume=True)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert all(math.isfinite(v) for r in log for k, v in r.items() if k not in ("step", "seconds"))
    state = load_state(tmp_path / "run" / "checkpoint.safetensors")
    assert state["step"] == 4
    if amp == "fp16":  # the scalers' state travels with the checkpoint
        assert all(s["scale"] > 0 for s in state["scalers"].values()), state["scalers"]
    for stem, (net, spec) in recipe.model_files().items():
        loaded, _ = load_model(tmp_path / "run" / "models" / f"{stem}.safetensors", device=torch.device("cuda"))
        assert all(torch.equal(a.float(), b.float()) for a, b in
                   zip(loaded.state_dict().values(), net.state_dict().values()))
        del spec


def test_a_cyclegan_step_never_waits_for_the_gpu(tmp_path):
    """No value comes back to the host inside a step (losses are read every log_every steps): with bf16 and a
    full image pool, three steps run under torch.cuda.set_sync_debug_mode("error")."""
    from torch.utils.data import default_collate

    device = torch.device("cuda")
    ctx = TrainContext(device, torch.bfloat16, channels_last=True, total_steps=10)
    recipe = CycleganRecipe(cyclegan_config(*_domains(tmp_path)), ctx)
    ctx.bind(recipe)
    for net in recipe.nets.values():
        net.to(memory_format=torch.channels_last)
    data = recipe.dataset()
    batch = to_device(default_collate([data[(i, i)] for i in range(2)]), device, True)
    for step in range(3):  # fills the 3-image pools and creates the optimiser state
        recipe.step(batch, step)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(3, 6):
            losses = recipe.step(batch, step)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert all(torch.isfinite(v) for v in losses.values())
    assert recipe.pools["A"].images.shape[0] == 3 and recipe.pools["A"].images.is_cuda


def test_compiled_with_cuda_graphs_trains_and_resumes(tmp_path):
    recipe_cls, config = _recipe("cyclegan", tmp_path)
    loop = _cuda_loop(tmp_path / "run", amp="bf16", steps=3, compile=True, compile_mode="reduce-overhead")
    train(recipe_cls, config, loop)
    train(recipe_cls, config, dataclasses.replace(loop, steps=5), resume=True)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    assert all(math.isfinite(r["cycle"]) for r in log)


def test_translate_half_on_cuda_matches_the_cpu(tmp_path):
    from translate.cli.translate import main

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (60, 84, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    for model in (tiny_translator(tmp_path / "t.safetensors"), tiny_sr(tmp_path / "sr.safetensors")):
        outs = {}
        for name, flags in (("cpu", ["--device", "cpu"]), ("half", ["--device", "cuda", "--half"])):
            assert main([str(tmp_path / "in.png"), "--model", str(model), "--out", str(tmp_path / name / model.stem),
                         "--no-progress", *flags]) == 0
            outs[name] = np.asarray(Image.open(tmp_path / name / model.stem / "in.png"), dtype=np.int16)
        assert outs["cpu"].shape == outs["half"].shape
        assert np.abs(outs["cpu"] - outs["half"]).max() <= 6  # float16 rounding, in 8-bit levels


def _cuda_net():
    torch.manual_seed(0)
    kwargs = {"ngf": 4, "n_blocks": 1, "upsample": "resize"}
    spec = ModelSpec(task="translation", arch="resnet", arch_kwargs=kwargs, in_channels=3, out_channels=3,
                     size_multiple=4, domains=("a", "b"))
    return GENERATORS["resnet"](**kwargs).to("cuda").eval(), spec


def _exporter() -> None:
    for module in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(module, reason=f"ONNX export needs {module}")


def test_onnx_export_from_a_cuda_model(tmp_path):
    _exporter()
    from translate.onnx import OnnxNet, export_onnx, session

    net, spec = _cuda_net()
    path = export_onnx(net, spec, tmp_path / "t.onnx")
    assert next(net.parameters()).is_cuda  # exporting left the caller's net where it was
    x = torch.rand(1, 3, 36, 44) * 2 - 1
    with torch.no_grad():
        expected = net(x.cuda()).cpu()
    got = OnnxNet(session(path, provider="cpu"))(x)
    assert torch.allclose(got, expected, atol=1e-3), (got - expected).abs().max()


def test_onnxruntime_cuda_provider_when_it_loads(tmp_path):
    _exporter()
    from translate.onnx import OnnxNet, export_onnx, session

    net, spec = _cuda_net()
    path = export_onnx(net, spec, tmp_path / "t.onnx")
    try:
        sess = session(path, provider="cuda")
    except UserError as err:
        pytest.skip(f"onnxruntime's CUDA provider does not load here ({err})")
    assert sess.get_providers()[0] == "CUDAExecutionProvider"
    x = torch.rand(1, 3, 40, 40) * 2 - 1
    with torch.no_grad():
        expected = net(x.cuda()).cpu()
    assert torch.allclose(OnnxNet(sess)(x), expected, atol=1e-3)


def _torchrun(tmp_path: Path, processes: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
           str(TESTS / "toy_recipe.py"), "--device", "cuda", "--out", str(tmp_path / "ddp"), "--steps", "6",
           "--batch-size", "2", "--workers", "0", "--no-progress", "--no-tensorboard", "--ema", "0.9"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS.parent)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_torchrun_nccl_on_two_gpus(tmp_path):
    done = _torchrun(tmp_path, 2)
    assert done.returncode == 0, done.stderr[-3000:]
    hashes = [(tmp_path / "ddp" / f"weights-rank{r}.sha256").read_text() for r in (0, 1)]
    assert hashes[0] == hashes[1]
    assert load_state(tmp_path / "ddp" / "checkpoint.safetensors")["world_size"] == 2


def test_torchrun_with_more_processes_than_gpus_says_so(tmp_path):
    count = torch.cuda.device_count()
    done = _torchrun(tmp_path, count + 1)
    assert done.returncode != 0
    assert f"start at most {count} processes per node" in done.stderr, done.stderr[-3000:]
    assert "NCCL" not in done.stderr  # refused before any process group was made
