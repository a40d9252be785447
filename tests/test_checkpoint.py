"""Model files and training states: exact round trips, clear refusals, crash-safe writes."""

import os
import pickle
from pathlib import Path

import pytest
import torch

from translate.checkpoint import atomic_write, load_model, load_state, read_spec, save_model, save_state
from translate.errors import ModelFileError
from translate.model_spec import ModelSpec
from translate.nets import MLPGenerator

KWARGS = {"latent_dim": 6, "image_size": 4, "channels": 3, "hidden": 8, "n_layers": 2}
CONDITIONAL = {**KWARGS, "n_classes": 2}  # the model files here name two classes


def _spec(**changes) -> ModelSpec:
    values = dict(task="generation", arch="mlp", arch_kwargs=CONDITIONAL, in_channels=6, out_channels=3,
                  latent_dim=6, image_size=4, labels=("a", "b"))
    values.update(changes)
    return ModelSpec(**values)


def _model_file(tmp_path: Path, name: str = "g.safetensors", **changes) -> tuple[Path, MLPGenerator]:
    torch.manual_seed(0)
    net = MLPGenerator(**CONDITIONAL)
    return save_model(tmp_path / name, net, _spec(**changes)), net


def _assert_one_line(err: pytest.ExceptionInfo, path: Path, text: str) -> None:
    message = str(err.value)
    assert str(path) in message and "\n" not in message and text in message, message


def test_save_load_gives_identical_outputs(tmp_path):
    path, net = _model_file(tmp_path)
    loaded, spec = load_model(path, task="generation")
    z, labels = torch.randn(5, 6), torch.tensor([0, 1, 1, 0, 1])
    assert torch.equal(net.eval()(z, labels), loaded(z, labels))
    assert spec == read_spec(path) and spec.labels == ("a", "b") and spec.value_range == (-1.0, 1.0)
    assert not loaded.training


def test_wrong_task(tmp_path):
    path, _ = _model_file(tmp_path)
    with pytest.raises(ModelFileError) as err:
        load_model(path, task="super-resolution")
    _assert_one_line(err, path, "is a generation model; this needs a super-resolution model")


def test_unknown_architecture(tmp_path):
    path, _ = _model_file(tmp_path, arch="stylegan9")
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    _assert_one_line(err, path, "unknown architecture 'stylegan9'")


def test_weights_not_matching_architecture(tmp_path):
    path, _ = _model_file(tmp_path, arch_kwargs={**CONDITIONAL, "hidden": 16})
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    _assert_one_line(err, path, "weights do not fit")


def test_pickle_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for name in ("evil.pth", "evil.safetensors"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(Evil(), protocol=2))
        with pytest.raises(ModelFileError) as err:
            load_model(path)
        _assert_one_line(err, path, "pickle")
    torch.save({"w": torch.ones(2)}, tmp_path / "zip.pth")
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(tmp_path / "zip.pth")
    assert not marker.exists()


def test_truncated_and_garbage_files(tmp_path):
    path, _ = _model_file(tmp_path)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size - 40])
    with pytest.raises(ModelFileError) as err:
        load_model(cut)
    _assert_one_line(err, cut, "corrupt or truncated")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError) as err:
        load_model(junk)
    _assert_one_line(err, junk, "corrupt or truncated")
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "missing.safetensors")


def test_foreign_safetensors_and_training_state_are_told_apart(tmp_path):
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.ones(2)}, foreign)
    with pytest.raises(ModelFileError, match="without a gan-translate description"):
        load_model(foreign)
    state = save_state(tmp_path / "state.safetensors", {"step": 3})
    with pytest.raises(ModelFileError, match="is a training state"):
        load_model(state)
    model, _ = _model_file(tmp_path)
    with pytest.raises(ModelFileError, match="is a model file, not a training state"):
        load_state(model)


def test_state_round_trip_restores_optimizer_and_python_values(tmp_path):
    net = MLPGenerator(**KWARGS)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    net(torch.randn(2, 6)).sum().backward()
    opt.step()
    state = {"step": 7, "opt": opt.state_dict(), "pool": [torch.ones(1, 2)], "pair": (1, "x"),
             "keys": {3: "int key"}, "none": None, "inf": float("inf")}
    loaded = load_state(save_state(tmp_path / "s.safetensors", state))
    assert loaded["step"] == 7 and loaded["pair"] == (1, "x") and loaded["keys"] == {3: "int key"}
    assert loaded["none"] is None and loaded["inf"] == float("inf")
    assert torch.equal(loaded["pool"][0], torch.ones(1, 2))
    restored = torch.optim.Adam(MLPGenerator(**KWARGS).parameters(), lr=5.0)
    restored.load_state_dict(loaded["opt"])
    assert restored.param_groups[0]["lr"] == 1e-3 and restored.param_groups[0]["betas"] == (0.5, 0.999)
    for a, b in zip(opt.state.values(), restored.state.values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["step"], b["step"])


def test_interrupted_write_keeps_last_good_file(tmp_path):
    path = save_state(tmp_path / "ckpt.safetensors", {"step": 1, "w": torch.ones(3)})

    def dies_midway(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt  # killed between write and rename

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, dies_midway)
    assert load_state(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]


def test_stray_temp_file_from_a_killed_process_is_harmless(tmp_path):
    path = save_state(tmp_path / "ckpt.safetensors", {"step": 1})
    (tmp_path / ".ckpt.safetensors.abc123.tmp").write_bytes(b"half a checkpoint")  # SIGKILL before rename
    assert load_state(path)["step"] == 1
    save_state(path, {"step": 2})
    assert load_state(path)["step"] == 2


def test_spec_validation():
    with pytest.raises(ValueError, match="task must be one of"):
        _spec(task="painting")
    with pytest.raises(TypeError):
        _spec(arch_kwargs={"norm": object()})


def test_written_files_get_the_usual_permissions(tmp_path):
    path = save_state(tmp_path / "s.safetensors", {"step": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
