"""evaluate-translation's measure: a domain classifier that calls translated crops B only when they look B."""

import numpy as np
import pytest
import torch
from helpers import tiny_translator
from PIL import Image

from translate.cli.evaluate import main_translation
from translate.evaluation.translation import score, train_classifier
from translate.inference import Translator
from translate.model_spec import ModelSpec

SPEC = ModelSpec(task="translation", arch="resnet", arch_kwargs={}, in_channels=3, out_channels=3, domains=("a", "b"))


def _smooth(seed):
    rng = np.random.default_rng(seed)
    base = rng.random(3) * 0.6 + 0.2
    yy, xx = np.indices((300, 300)) / 300
    return Image.fromarray(np.uint8(255 * np.clip(base + 0.2 * (xx + yy)[..., None] - 0.2, 0, 1)))


def _striped(seed):
    pixels = np.asarray(_smooth(seed), dtype=np.float32) / 255
    stripes = (np.indices((300, 300))[1] // 3 % 2)[..., None] * 0.5
    return Image.fromarray(np.uint8(255 * np.clip(pixels * 0.5 + stripes, 0, 1)))


class AddStripes(torch.nn.Module):
    """A perfect 'translator' for the test domains: works in [-1, 1] like our generators."""

    def forward(self, x):
        unit = (x + 1) / 2
        stripes = (torch.arange(x.shape[3]) // 3 % 2).float() * 0.5
        return (unit * 0.5 + stripes).clamp(0, 1) * 2 - 1


def test_classifier_tells_translated_from_untranslated():
    domain_a, domain_b = [_smooth(i) for i in range(4)], [_striped(i) for i in range(4, 8)]
    classifier = train_classifier(domain_a, domain_b, steps=120)
    test = [_smooth(i) for i in range(20, 23)]
    striper = Translator(AddStripes(), SPEC, torch.device("cpu"), tile=0)
    result = score(classifier, striper, None, test, crops_per_image=16)
    assert result.translated_called_b > 0.9 and result.originals_called_b < 0.1 and result.cycle_l1 is None
    identity = Translator(torch.nn.Identity(), SPEC, torch.device("cpu"), tile=0)
    unchanged = score(classifier, identity, identity, test, crops_per_image=16)
    assert unchanged.translated_called_b < 0.1 and unchanged.cycle_l1 < 0.01


def _folders_and_models(tmp_path):
    for name, make, seeds in (("a", _smooth, range(2)), ("b", _striped, range(2, 4)), ("test", _smooth, range(9, 11))):
        (tmp_path / name).mkdir()
        for i in seeds:
            make(i).save(tmp_path / name / f"{i}.png")
    models = tmp_path / "models"
    models.mkdir()
    tiny_translator(models / "G_A2B.safetensors", ("a", "b"))
    tiny_translator(models / "G_B2A.safetensors", ("b", "a"))
    return models, ["--domainA", str(tmp_path / "a"), "--domainB", str(tmp_path / "b"), "--test",
                    str(tmp_path / "test"), "--classifier-steps", "20"]


def test_command_prints_scores_and_grid(tmp_path, capsys):
    models, folders = _folders_and_models(tmp_path)
    assert main_translation(["--model", str(models), *folders, "--grid", str(tmp_path / "grid.png")]) == 0
    out = capsys.readouterr().out
    assert "crops called b:" in out and "cycle a -> b -> a mean L1" in out
    assert Image.open(tmp_path / "grid.png").size[1] == 2 * 260


def test_grid_compares_models_on_the_same_images(tmp_path):
    models, folders = _folders_and_models(tmp_path)
    tiny_translator(tmp_path / "other.safetensors", ("a", "b"), seed=5)
    grid = tmp_path / "grid.png"
    assert main_translation(["--model", str(models), *folders, "--grid", str(grid), "--grid-images", "1",
                             "--compare", str(tmp_path / "other.safetensors")]) == 0
    pixels = np.asarray(Image.open(grid).convert("RGB"), np.float32)
    assert pixels.shape == (260, 3 * 256 + 2 * 4, 3)  # one row: input | model | compared model
    model, other = pixels[:256, 260:516], pixels[:256, 520:776]
    assert np.abs(model - other).mean() > 1  # two nets, two outputs
    assert main_translation(["--model", str(models), *folders, "--compare", str(models)]) == 2



@pytest.mark.parametrize("model, extra, message", [
    ("G_A2B", ["--reverse", "{models}/nope.safetensors"], "nope.safetensors: no such file"),
    ("G_A2B", ["--reverse", "{models}/G_A2B.safetensors"], "translates a -> b, not back from a -> b"),
    ("G_B2A", [], "translates b -> a, but --domainA is"),
    ("G_A2B", ["--max-images", "0"], "--max-images must be at least 1, got 0"),
])
def test_command_refuses_what_would_give_wrong_figures(tmp_path, capsys, model, extra, message):
    models, folders = _folders_and_models(tmp_path)
    extra = [x.format(models=models) for x in extra]
    assert main_translation(["--model", str(models / f"{model}.safetensors"), *folders, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_hold_out_tests_on_the_last_images_of_domain_a_and_trains_on_the_rest(tmp_path, capsys):
    models, folders = _folders_and_models(tmp_path)
    for i in range(2, 5):
        _smooth(20 + i).save(tmp_path / "a" / f"{i}.png")  # a/ holds 0..4; 3.png and 4.png are held out
    args = folders[: folders.index("--test")] + ["--classifier-steps", "20"]
    assert main_translation(["--model", str(models), *args, "--hold-out", "2"]) == 0
    out = capsys.readouterr().out
    assert f"2 test images from the last 2 of {tmp_path / 'a'}; classifier trained on 3 + 2 real images" in out
    assert main_translation(["--model", str(models), *args]) == 2
    assert "--hold-out N" in capsys.readouterr().err
    assert main_translation(["--model", str(models), *args, "--hold-out", "5"]) == 2
    assert "cannot hold out 5 of its 5 images" in capsys.readouterr().err


def test_cyclegan_hold_out_keeps_the_last_images_out_of_training(tmp_path):
    from translate.data.domains import Domain

    for i in range(4):
        _smooth(i).save(tmp_path / f"{i}.png")
    domain = Domain(tmp_path, hold_out=1)
    assert [p.name for p in domain.files] == ["0.png", "1.png", "2.png"] and domain.held_out[0].name == "3.png"
