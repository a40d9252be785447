"""generate: seeded grids, interpolation strips and latent arithmetic."""

import numpy as np
import pytest
import torch

from translate.checkpoint import save_model
from translate.cli.generate import main
from translate.data.io import read_image
from translate.model_spec import ModelSpec
from translate.nets import DCGANGenerator
from translate.sampling import arithmetic, interpolation, latents, slerp

KWARGS = {"latent_dim": 8, "image_size": 16, "channels": 1, "ngf": 8}


def _model(tmp_path, labels=None):
    torch.manual_seed(0)
    kwargs = {**KWARGS, "n_classes": len(labels) if labels else 0}
    spec = ModelSpec(task="generation", arch="dcgan", arch_kwargs=kwargs, in_channels=8, out_channels=1,
                     latent_dim=8, image_size=16, labels=labels)
    net = DCGANGenerator(**kwargs)
    net(torch.randn(4, 8), torch.arange(4) % 3 if labels else None)  # give batch norm some running statistics
    return save_model(tmp_path / "g.safetensors", net.eval(), spec)


def test_grid_is_deterministic_for_a_seed(tmp_path):
    model = _model(tmp_path)
    for name in ("a.png", "b.png"):
        assert main([str(model), "--out", str(tmp_path / name), "--n", "9", "--seed", "3"]) == 0
    a, b = read_image(tmp_path / "a.png").pixels, read_image(tmp_path / "b.png").pixels
    assert np.array_equal(a, b)
    cell = 16 * 4  # zoomed to 64-pixel cells
    assert a.shape[0] == 3 * cell + 4 * 8 and a.shape[1] == a.shape[0]
    assert main([str(model), "--out", str(tmp_path / "c.png"), "--n", "9", "--seed", "4"]) == 0
    assert not np.array_equal(a, read_image(tmp_path / "c.png").pixels)


def test_conditional_labels(tmp_path, capsys):
    model = _model(tmp_path, labels=("cat", "dog", "fox"))
    assert main([str(model), "--out", str(tmp_path / "g.png"), "--n", "6", "--zoom", "1"]) == 0
    assert read_image(tmp_path / "g.png").pixels.shape[1] == 3 * 16 + 4 * 2  # one column per class
    assert main([str(model), "--out", str(tmp_path / "d.png"), "--label", "dog"]) == 0
    assert main([str(model), "--out", str(tmp_path / "x.png"), "--label", "cow"]) == 2
    assert "not one of this model's classes (cat, dog, fox)" in capsys.readouterr().err


def test_interpolation_and_arithmetic(tmp_path):
    spec = ModelSpec(task="generation", arch="dcgan", arch_kwargs=KWARGS, in_channels=8, out_channels=1,
                     latent_dim=8)
    a, b = latents(spec, [1, 2])
    for spherical in (False, True):
        path = interpolation(spec, 1, 2, 5, spherical)
        assert path.shape == (5, 8)
        torch.testing.assert_close(path[0], a)
        torch.testing.assert_close(path[-1], b)
    a, b = a / a.norm(), b / b.norm()  # on the unit sphere slerp bisects the angle and keeps the norm
    mid = slerp(a, b, 0.5)
    assert mid.norm().item() == pytest.approx(1.0, abs=1e-5)
    angle = lambda u, v: torch.arccos(torch.dot(u, v) / (u.norm() * v.norm()))  # noqa: E731
    torch.testing.assert_close(angle(a, mid), angle(mid, b))
    result = arithmetic(spec, "1,2 - 3 + 4,5,6")
    groups = [latents(spec, [1, 2]).mean(0), latents(spec, [3])[0], latents(spec, [4, 5, 6]).mean(0)]
    torch.testing.assert_close(result[-1], groups[0] - groups[1] + groups[2])
    assert result.shape == (4, 8)
    assert main([str(_model(tmp_path)), "--out", str(tmp_path / "i.png"), "--interpolate", "1", "2",
                 "--spherical", "--steps", "7", "--zoom", "1"]) == 0
    assert read_image(tmp_path / "i.png").pixels.shape[1] == 7 * 16 + 8 * 2


@pytest.mark.parametrize("args, message", [
    (["--label", "3"], "not class-conditional"),
    (["--arithmetic", "1,x - 2"], "is not a list of seeds"),
    (["--arithmetic", "1 - - 2"], "expected seed groups"),
    (["--interpolate", "1", "2", "--steps", "1"], "--steps must be at least 2"),
    (["--zoom", "-1"], "--zoom must be at least 1, got -1"),
])
def test_bad_requests(tmp_path, capsys, args, message):
    assert main([str(_model(tmp_path)), "--out", str(tmp_path / "o.png"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_wrong_task_model(tmp_path, capsys):
    from translate.nets import SRResNet

    kwargs = {"scale": 2, "n_blocks": 1, "channels": 4}
    sr = save_model(tmp_path / "sr.safetensors", SRResNet(**kwargs),
                    ModelSpec(task="super-resolution", arch="srresnet", arch_kwargs=kwargs, in_channels=3,
                              out_channels=3, scale=2))
    assert main([str(sr), "--out", str(tmp_path / "o.png")]) == 2
    assert "needs a generation model" in capsys.readouterr().err


def test_bundled_name(tmp_path):
    assert main(["digits", "--label", "7", "--n", "2", "--out", str(tmp_path / "d.png")]) == 0
    assert (tmp_path / "d.png").is_file()


def test_a_strip_of_a_conditional_model_has_a_row_per_class(tmp_path):
    """`--interpolate 3 7` names seeds: without --label a conditional model draws the strip once per class
    (it drew ten pictures of class 0); with --label, one row of that class."""
    model = _model(tmp_path, labels=("cat", "dog", "fox"))
    assert main([str(model), "--out", str(tmp_path / "s.png"), "--interpolate", "3", "7", "--steps", "5",
                 "--zoom", "1"]) == 0
    strip = read_image(tmp_path / "s.png").pixels
    assert strip.shape[:2] == (3 * 16 + 4 * 2, 5 * 16 + 6 * 2)
    rows = [strip[2 + i * 18:2 + i * 18 + 16] for i in range(3)]
    assert not np.allclose(rows[0], rows[1]) and not np.allclose(rows[1], rows[2])
    assert main([str(model), "--out", str(tmp_path / "d.png"), "--interpolate", "3", "7", "--steps", "5",
                 "--zoom", "1", "--label", "dog"]) == 0
    one = read_image(tmp_path / "d.png").pixels
    assert one.shape[0] == 16 + 2 * 2 and np.allclose(one[2:18], rows[1], atol=1 / 255)
