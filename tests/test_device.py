"""Device choice: shared by training and serving, explicit, and refusing what CUDA cannot do in one line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from translate.device import check_processes_fit, pick_amp_dtype, pick_device
from translate.errors import ConfigError

REPO = Path(__file__).parent.parent


def test_pick_device_and_precision(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_amp_dtype("auto", torch.device("cpu")) is None
    assert pick_amp_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="no CUDA device is available"):
        pick_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto", local_rank=1) == torch.device("cuda", 1)
    assert pick_device("cpu") == torch.device("cpu")  # an explicit CPU choice holds on a GPU machine


def test_more_processes_than_gpus_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match=r"--nproc_per_node 2 on a node with 1 GPU: start at most 1") as err:
        check_processes_fit(torch.device("cuda", 0), local_world_size=2)
    assert "\n" not in str(err.value)
    check_processes_fit(torch.device("cuda", 0), local_world_size=1)
    check_processes_fit(torch.device("cpu"), local_world_size=8)  # gloo processes share the CPU
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match="node with 2 GPUs"):
        check_processes_fit(torch.device("cuda", 0))


def test_torchrun_on_too_few_gpus_stops_before_any_collective(tmp_path, monkeypatch, capsys):
    """What two ranks on one GPU meet (simulated: CUDA 'present' with one device): a one-line error, exit 2,
    instead of NCCL failing inside the first collective."""
    from toy_recipe import ToyRecipe

    from translate.cli.train import train_main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert train_main(ToyRecipe, ["--out", str(tmp_path / "run"), "--steps", "1", "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "start at most 1 processes per node" in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_serving_loads_no_training_module():
    """Serving (inference, app, translate, export) must run without the training package: it pulls in the data
    augmentation stack and recipes that a deployment does not have or need."""
    code = (
        "import sys, json\n"
        "import translate.inference, translate.web_ui, translate.cli.translate, translate.cli.export\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('translate.training'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []


def test_translating_a_file_loads_no_training_module(tmp_path):
    from helpers import tiny_translator
    from PIL import Image

    model = tiny_translator(tmp_path / "m.safetensors")
    Image.new("RGB", (20, 12), (200, 30, 90)).save(tmp_path / "in.png")
    code = (
        "import sys, json\n"
        "from translate.cli.translate import main\n"
        f"code = main([{str(tmp_path / 'in.png')!r}, '--model', {str(model)!r}, '--device', 'cpu', '--out', "
        f"{str(tmp_path / 'o')!r}])\n"
        "print(json.dumps([code, sorted(m for m in sys.modules if m.startswith('translate.training'))]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == [0, []]
    assert len(list((tmp_path / "o").glob("in_*.png"))) == 1


def test_cuda_graph_compile_modes_are_refused_on_the_cpu(tmp_path, capsys):
    from toy_recipe import ToyRecipe

    from translate.cli.train import train_main

    args = ["--out", str(tmp_path / "run"), "--device", "cpu", "--steps", "1", "--workers", "0"]
    assert train_main(ToyRecipe, [*args, "--compile", "--compile-mode", "reduce-overhead"]) == 2
    err = capsys.readouterr().err
    assert "records CUDA graphs: it needs a CUDA device" in err and err.count("\n") == 1, err
    assert train_main(ToyRecipe, [*args, "--compile-mode", "max-autotune"]) == 2
    assert "pass --compile too" in capsys.readouterr().err


def test_process_group_backend_follows_the_training_device(monkeypatch):
    """A --device cpu run under torchrun on a GPU machine uses gloo: NCCL cannot carry CPU tensors."""
    import torch.distributed as dist

    from translate.training import loop

    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: chosen.append(("set_device", index)))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: chosen.append(backend))
    loop._init_process_group(torch.device("cpu"), 1)
    loop._init_process_group(torch.device("cuda", 1), 1)
    assert chosen == ["gloo", ("set_device", 1), "nccl"]
