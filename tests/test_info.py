"""translate-info reports versions, devices, providers that really load, and models with their task."""

from translate.checkpoint import save_model
from translate.cli.info import main
from translate.model_spec import ModelSpec
from translate.nets import MLPGenerator


def test_info_lists_versions_providers_and_models(tmp_path, capsys):
    kwargs = {"latent_dim": 4, "image_size": 4, "channels": 1, "hidden": 8, "n_layers": 1}
    spec = ModelSpec(task="generation", arch="mlp", arch_kwargs=kwargs, in_channels=4, out_channels=1, latent_dim=4,
                     image_size=4)
    save_model(tmp_path / "digits.safetensors", MLPGenerator(**kwargs), spec)
    (tmp_path / "broken.safetensors").write_bytes(b"garbage")
    assert main(["--models", str(tmp_path)]) == 2  # everything listed; the unreadable file makes it an error
    out = capsys.readouterr().out
    import torch

    assert f"torch         {torch.__version__}" in out
    assert "CPUExecutionProvider: loads" in out
    if not torch.cuda.is_available():
        assert "CUDAExecutionProvider: listed, not usable: no CUDA device" in out
    assert "digits: generation, mlp" in out
    assert "unreadable:" in out and "broken.safetensors" in out


def test_info_on_bundled_folder(capsys):
    assert main([]) == 0
    assert "models in" in capsys.readouterr().out


def test_info_lists_onnx_exports(tmp_path, capsys):
    from helpers import tiny_sr

    from translate.cli.export import main as export_main

    model = tiny_sr(tmp_path / "sr_x2.safetensors")
    assert export_main([str(model)]) == 0
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    assert main(["--models", str(tmp_path)]) == 2  # an unreadable file is listed, and the exit code says so
    out = capsys.readouterr().out
    assert "sr_x2.onnx: super-resolution x2, onnx export" in out
    assert "unreadable:" in out and "junk.onnx" in out


def test_export_of_a_bundled_model_goes_to_the_current_folder(tmp_path, monkeypatch, capsys):
    from helpers import tiny_sr

    import translate.zoo
    from translate.cli.export import main as export_main

    bundled = tmp_path / "package" / "weights"
    bundled.mkdir(parents=True)
    tiny_sr(bundled / "sr_x2.safetensors")
    monkeypatch.setattr(translate.zoo, "bundled_models_dir", lambda: bundled)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert export_main(["sr_x2"]) == 0
    assert (work / "sr_x2.onnx").is_file() and not (bundled / "sr_x2.onnx").exists()
