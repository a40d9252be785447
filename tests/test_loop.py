"""The shared training loop, driven by a tiny GAN recipe (tests/toy_recipe.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from toy_recipe import ToyConfig, ToyRecipe

from translate.checkpoint import load_model, load_state
from translate.cli.train import train_main
from translate.training.config import LoopConfig
from translate.training.ema import EMA
from translate.training.loop import lr_factor, train

TESTS = Path(__file__).parent


def _loop(out: Path, **changes) -> LoopConfig:
    values = dict(out=str(out), device="cpu", steps=12, batch_size=4, workers=0, log_every=2, sample_every=5,
                  checkpoint_every=100, progress=False, tensorboard=False, ema=0.9, lr_decay_start=4)
    values.update(changes)
    return LoopConfig(**values)


def _everything(run: Path) -> dict:
    state = load_state(run / "checkpoint.safetensors")
    del state["rng"]
    return state


def _assert_same(a, b, where="state"):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_trains_logs_samples_and_saves(tmp_path):
    recipe = train(ToyRecipe, ToyConfig(), _loop(tmp_path / "run", steps=40, ema=0.0))
    run = tmp_path / "run"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(2, 41, 2))
    assert all(torch.isfinite(torch.tensor([r["d"], r["g"]])).all() for r in log)
    assert log[-1]["lr_factor"] < 0.1  # linear decay towards 0 after step 4
    assert log[-1]["d"] < log[0]["d"]  # the discriminator learns to tell the toy pattern from noise
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"step_{s:07d}.png" for s in range(5, 41, 5)]
    net, spec = load_model(run / "models" / "G.safetensors", task="generation")
    assert spec.step == 40 and spec.recipe == "toy"
    z = torch.randn(3, 4)
    assert torch.equal(net(z), recipe.nets["G"].eval()(z))
    assert json.loads((run / "config.json").read_text())["loop"]["steps"] == 40


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_is_bit_identical(tmp_path, workers):
    # constant learning rate: a 6-step first run must follow the same schedule as the 12-step one
    train(ToyRecipe, ToyConfig(), _loop(tmp_path / "straight", workers=workers, lr_decay_start=None))
    train(ToyRecipe, ToyConfig(), _loop(tmp_path / "split", steps=6, workers=workers, lr_decay_start=None))
    assert load_state(tmp_path / "split" / "checkpoint.safetensors")["step"] == 6
    resumed = train(ToyRecipe, ToyConfig(), _loop(tmp_path / "split", workers=workers, lr_decay_start=None),
                    resume=True)
    assert resumed.seen == 12 * 4  # recipe state came back too
    _assert_same(_everything(tmp_path / "straight"), _everything(tmp_path / "split"))


def test_sigint_saves_and_resume_matches_uninterrupted(tmp_path):
    train(ToyRecipe, ToyConfig(), _loop(tmp_path / "straight"))
    train(ToyRecipe, ToyConfig(interrupt_at=6), _loop(tmp_path / "cut"))
    assert load_state(tmp_path / "cut" / "checkpoint.safetensors")["step"] == 7
    train(ToyRecipe, ToyConfig(interrupt_at=6), _loop(tmp_path / "cut"), resume=True)
    _assert_same(_everything(tmp_path / "straight"), _everything(tmp_path / "cut"))


def test_resume_drops_log_lines_after_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    train(ToyRecipe, ToyConfig(), _loop(run, steps=6, log_every=1, lr_decay_start=None))
    with open(run / "log.jsonl", "a") as log:  # as a run killed after logging steps 7 and 8, mid-line
        log.write('{"step": 7, "d": 1.0}\n{"step": 8, "d": 1.0}\n{"step": 9, "d"')
    train(ToyRecipe, ToyConfig(), _loop(run, steps=8, log_every=1, lr_decay_start=None), resume=True)
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))


def test_a_diverged_step_is_never_checkpointed(tmp_path, monkeypatch):
    from translate.training.loop import TrainingDiverged

    run = tmp_path / "run"
    train(ToyRecipe, ToyConfig(), _loop(run, steps=4, log_every=100, checkpoint_every=2, lr_decay_start=None))
    before = (run / "checkpoint.safetensors").read_bytes()
    step = ToyRecipe.step
    monkeypatch.setattr(ToyRecipe, "step", lambda self, batch, i: {**step(self, batch, i), "d": float("nan")})
    with pytest.raises(TrainingDiverged, match="d became nan at step 6"):
        train(ToyRecipe, ToyConfig(), _loop(run, steps=8, log_every=100, checkpoint_every=2, lr_decay_start=None),
              resume=True)
    assert (run / "checkpoint.safetensors").read_bytes() == before


def test_cli_config_file_flags_and_resume(tmp_path, capsys):
    recipe = tmp_path / "toy.toml"
    recipe.write_text('[loop]\nsteps = 4\nbatch_size = 2\nworkers = 0\ntensorboard = false\n[toy]\nlr = 0.01\n')
    out = tmp_path / "run"
    common = ["--no-progress", "--device", "cpu", "--out", str(out)]
    assert train_main(ToyRecipe, ["--config", str(recipe), "--batch-size", "4", *common]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["loop"]["steps"] == 4 and saved["loop"]["batch_size"] == 4 and saved["toy"]["lr"] == 0.01
    # starting again into the same folder is refused; resuming with more steps continues
    assert train_main(ToyRecipe, ["--config", str(recipe), *common]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert train_main(ToyRecipe, ["--resume", str(out), "--steps", "6"]) == 0
    assert load_state(out / "checkpoint.safetensors")["step"] == 6
    assert json.loads((out / "config.json").read_text())["loop"]["batch_size"] == 4
    # a new learning rate given on resume applies (the checkpoint's optimiser state would otherwise keep 0.01)
    assert train_main(ToyRecipe, ["--resume", str(out), "--steps", "7", "--lr", "0.003"]) == 0
    groups = load_state(out / "checkpoint.safetensors")["optimizers"]["G"]["param_groups"]
    assert groups[0]["base_lr"] == 0.003 and groups[0]["lr"] == 0.003


@pytest.mark.parametrize("toml, message", [
    ("[loop]\nstepz = 3\n", "unknown key(s) stepz"),
    ("[loop]\nsteps = 'many'\n", "steps must be int"),
    ("[loop]\nsteps = 0\n", "steps must be at least 1"),
    ("[loop]\namp = 'fp8'\n", "amp must be one of"),
    ("[gan]\narch = 'dcgan'\n", "has no [toy] table"),
    ("steps = [", "invalid TOML"),
])
def test_bad_config_is_one_line_error(tmp_path, capsys, toml, message):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    assert train_main(ToyRecipe, ["--config", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_resume_errors(tmp_path, capsys):
    assert train_main(ToyRecipe, ["--resume", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({"recipe": "cyclegan", "loop": {}, "cyclegan": {}}))
    assert train_main(ToyRecipe, ["--resume", str(tmp_path)]) == 2
    assert "trained by recipe 'cyclegan', not 'toy'" in capsys.readouterr().err
    for damaged, message in (("{bad", "is not valid JSON"), ('{"recipe": "toy"}', "lacks the recipe, loop")):
        (tmp_path / "config.json").write_text(damaged)
        assert train_main(ToyRecipe, ["--resume", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    (tmp_path / "config.json").write_text(json.dumps({"recipe": "toy", "loop": {}, "toy": {}}))
    assert train_main(ToyRecipe, ["--resume", str(tmp_path), "--out", str(tmp_path / "other")]) == 2
    assert "drop --out" in capsys.readouterr().err
    assert train_main(ToyRecipe, ["--resume", str(tmp_path), "--seed", "-1"]) == 2
    assert "seed must be between 0 and 2**40" in capsys.readouterr().err


def test_batch_larger_than_dataset(tmp_path, capsys):
    args = ["--out", str(tmp_path / "r"), "--device", "cpu", "--items", "3", "--batch-size", "4", "--workers", "0"]
    assert train_main(ToyRecipe, args) == 2
    assert "fewer than one global batch" in capsys.readouterr().err


def test_lr_schedule_and_ema_formula():
    assert [lr_factor(s, 10, 6) for s in (0, 5, 6, 8, 9)] == [1.0, 1.0, 1.0, 0.5, 0.25]
    assert lr_factor(7, 10, None) == 1.0
    net = torch.nn.Linear(2, 1)
    ema = EMA(net, decay=0.99)
    before = ema.average.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, step=100)  # decay min(0.99, 101/110) = 0.918...
    d = 101 / 110
    torch.testing.assert_close(ema.average.weight, d * before + (1 - d) * net.weight)
    assert not ema.average.weight.requires_grad


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(TESTS / "toy_recipe.py"), "--device", "cpu", "--out", str(out), "--steps", "6", "--batch-size", "2",
           "--workers", "0", "--no-progress", "--no-tensorboard", "--ema", "0.9", "--sample-every", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS.parent)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    hashes = [(out / f"weights-rank{r}.sha256").read_text() for r in (0, 1)]
    assert hashes[0] == hashes[1]  # DDP kept both replicas identical
    state = load_state(out / "checkpoint.safetensors")
    assert state["step"] == 6 and state["world_size"] == 2 and len(state["rng"]) == 2
    assert [p.name for p in out.glob("*.safetensors")] == ["checkpoint.safetensors"]
    assert done.stderr.count("done: 6 steps") == 1  # only rank 0 reports


@pytest.mark.slow
def test_torchrun_a_nan_on_one_process_stops_both(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(TESTS / "toy_recipe.py"), "--device", "cpu", "--out", str(tmp_path / "ddp"), "--steps", "8",
           "--batch-size", "2", "--workers", "0", "--no-progress", "--no-tensorboard",
           "--log-every", "2", "--nan-at", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS.parent)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode != 0
    assert "d became nan at step 4" in done.stderr  # rank 1, which saw it
    assert "another process's losses became NaN or inf at step 4" in done.stderr  # rank 0 stops too, saying why


def test_a_resumed_run_says_how_many_steps_it_ran(tmp_path, capsys):
    run = tmp_path / "run"
    train(ToyRecipe, ToyConfig(), _loop(run, steps=4, log_every=100, lr_decay_start=None))
    assert "done: 4 steps in" in capsys.readouterr().err
    train(ToyRecipe, ToyConfig(), _loop(run, steps=6, log_every=100, lr_decay_start=None), resume=True)
    assert "done: step 6 (2 steps from 4) in" in capsys.readouterr().err  # it said "done: 6 steps"


def test_sample_grids_name_their_columns_and_rows():
    import numpy as np

    from translate.training.grid_labels import label_grid

    grid = np.ones((2 + 2 * 18, 2 + 3 * 18, 3), np.float32)  # 2 rows x 3 columns of 16-pixel cells
    labelled = label_grid(grid, (16, 16), 3, ("input", "output", "target"), ("a -> b", "b -> a"))
    assert labelled.shape[0] > grid.shape[0] and labelled.shape[1] > grid.shape[1]
    top, left = labelled.shape[0] - grid.shape[0], labelled.shape[1] - grid.shape[1]
    assert (labelled[:top] < 0.5).any() and (labelled[top:, :left] < 0.5).any()  # text drawn in both margins
    assert np.array_equal(labelled[top:, left:], grid)
    assert label_grid(grid, (16, 16), 3) is grid


def test_a_stop_request_is_acknowledged_at_once():
    import signal

    from translate.training.loop import stop_requests

    said = []
    with stop_requests(said.append) as flag:
        os.kill(os.getpid(), signal.SIGINT)
        assert flag["stop"]
        assert len(said) == 1 and said[0].startswith("SIGINT: stopping after this step")


def test_wall_clock_samples_checkpoints_and_estimate_leave_training_unchanged(tmp_path, monkeypatch, capsys):
    import translate.training.loop as loop_module

    train(ToyRecipe, ToyConfig(), _loop(tmp_path / "plain", sample_every=100))
    assert "s a step: step 12 in" in capsys.readouterr().err
    monkeypatch.setattr(loop_module, "FIRST_SAMPLE_MINUTES", 0.0)  # due at once
    train(ToyRecipe, ToyConfig(), _loop(tmp_path / "clock", sample_every=100, checkpoint_minutes=1e-9))
    assert "s a step: step 12 in" in capsys.readouterr().err
    # the early sample comes after the first step; with a scheduled one at step 100, no other but the final one
    assert sorted(p.name for p in (tmp_path / "clock" / "samples").iterdir()) == ["step_0000001.png",
                                                                                   "step_0000012.png"]
    _assert_same(_everything(tmp_path / "plain"), _everything(tmp_path / "clock"))


def test_a_forked_worker_leaves_the_stop_request_to_the_main_process():
    import signal

    from translate.training.loop import stop_requests

    said = []
    with stop_requests(said.append) as flag:
        pid = os.fork()  # as a DataLoader worker is; Ctrl-C reaches the whole process group
        if pid == 0:
            os.kill(os.getpid(), signal.SIGINT)
            os._exit(1 if said or flag["stop"] else 0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0  # the worker neither spoke nor stopped
        assert not said and not flag["stop"]
