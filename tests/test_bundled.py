"""The bundled models: each loads by short name, runs on a real sample, and its card's figures are what its
evaluate command prints (the cheap ones, here)."""

import re
from pathlib import Path

import numpy as np
import pytest

from translate.checkpoint import read_spec
from translate.inference import Translator
from translate.zoo import bundled_models_dir, list_models, resolve_model

ENTRIES, PROBLEMS = list_models()
CARD_FIGURE = re.compile(r"^- `(\w+)`: ([-0-9.]+)", re.MULTILINE)


def card_figures(stem: str) -> dict[str, float]:
    """The machine-checked figures of a card: lines like "- `set5_y_psnr`: 29.91" under its Figures heading."""
    card = bundled_models_dir() / f"{stem.removesuffix('_A2B').removesuffix('_B2A')}.md"
    assert card.is_file(), f"{stem} has no model card"
    return {k: float(v) for k, v in CARD_FIGURE.findall(card.read_text())}


def test_every_bundled_file_is_readable_small_and_has_a_card():
    assert not PROBLEMS
    for entry in ENTRIES:
        # a 256-pixel U-Net (the facades model) is larger by design; its card says why
        assert entry.size_bytes < (60_000_000 if entry.spec.arch == "unet" else 10_000_000), entry.name
        card_figures(entry.name)


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.spec.task != "generation"], ids=lambda e: e.name)
def test_image_models_run_by_short_name(entry, samples):
    from translate.data.io import read_image

    short = entry.name.removesuffix("_A2B").removesuffix("_B2A")
    direction = "BtoA" if entry.name.endswith("_B2A") else "AtoB"
    path = resolve_model(short, direction)
    assert path == entry.path
    image = read_image(samples / "realworld_lq" / "0014.jpg")
    out = Translator.from_file(path, device="cpu")(image.pixels)
    scale = read_spec(path).scale
    assert out.shape == (179 * scale, 179 * scale, 3) and out.min() >= 0 and out.max() <= 1
    assert out.std() > 0.01  # not a blank image


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.spec.task == "super-resolution"], ids=lambda e: e.name)
def test_sr_card_matches_evaluate_sr_on_set5(entry, capsys):
    from translate.cli.evaluate import main_sr

    figures = card_figures(entry.name)
    assert main_sr(["--model", entry.name, "--sets", "Set5", "--device", "cpu"]) == 0  # the card's command
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("Set5")]
    bicubic, model = (next(r for r in rows if r[3] == method) for method in ("bicubic", entry.name))
    bicubic_psnr, model_psnr, model_ssim = float(bicubic[4]), float(model[4]), float(model[5])
    assert model_psnr == pytest.approx(figures["set5_y_psnr"], abs=0.01)
    assert model_ssim == pytest.approx(figures["set5_y_ssim"], abs=0.0001)
    assert model_psnr > bicubic_psnr


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.spec.task == "generation"], ids=lambda e: e.name)
def test_digits_card_matches_evaluate_gan(entry, tmp_path_factory):
    import torch

    from translate.checkpoint import load_model
    from translate.evaluation.digits import measure, reference
    from translate.sampling import class_labels, generate, latents

    figures = card_figures(entry.name)
    net, spec = load_model(entry.path, task="generation")
    z = latents(spec, list(range(1000)))
    labels = class_labels(spec, None, 1000)
    ref = reference(cache_dir=tmp_path_factory.getbasetemp() / "digits-classifier")
    result = measure(generate(net, spec, z, labels), ref, labels)
    for key in ("classes_covered", "class_entropy", "mean_confidence", "label_agreement"):
        if key in figures:
            assert result[key] == pytest.approx(figures[key], abs=0.01), key
    assert torch.isfinite(torch.tensor(result["classifier_fid"]))
    assert np.isfinite(result["precision"])


STYLE_TRAINING_DATA = {"vangogh": ("photos_vangogh/photos", "photos_vangogh/vangogh"),
                       "monet": ("monet_etretat/trainB", "monet_etretat/trainA")}


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.spec.recipe == "cyclegan" and e.name.endswith("_A2B")],
                         ids=lambda e: e.name)
def test_style_card_matches_evaluate_translation_on_unseen_photos(entry, samples):
    """The card's figures on the three horse photos of datasets/samples (never trained on)."""
    from translate.evaluation.translation import load_folder, score, train_classifier

    name = entry.name.removesuffix("_A2B")
    figures = card_figures(entry.name)
    folder_a, folder_b = STYLE_TRAINING_DATA[name]
    classifier = train_classifier(load_folder(samples / folder_a), load_folder(samples / folder_b))
    forward = Translator.from_file(resolve_model(name, "AtoB"), device="cpu")
    backward = Translator.from_file(resolve_model(name, "BtoA"), device="cpu")
    result = score(classifier, forward, backward, load_folder(samples / "horse2zebra"))
    assert result.translated_called_b == pytest.approx(figures["horses_painting_share"], abs=0.05)
    assert result.cycle_l1 == pytest.approx(figures["horses_cycle_l1"], abs=0.002)
    assert result.translated_called_b > result.originals_called_b


FACADES_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "facades" / "test"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.spec.arch == "unet"], ids=lambda e: e.name)
def test_paired_card_matches_evaluate_paired_on_test_pairs(entry, capsys):
    from translate.cli.evaluate import main_paired

    if not FACADES_TEST.is_dir():
        pytest.skip(f"the facades test pairs are not on this machine ({FACADES_TEST}; see ../shared/data/README.md)")
    figures = card_figures(entry.name)
    assert main_paired(["--model", entry.name, "--pairs", str(FACADES_TEST), "--direction", "BtoA",
                        "--max-pairs", "10"]) == 0
    line = capsys.readouterr().out.splitlines()[-1].split()
    l1, sharpness = float(line[1]), float(line[8])
    assert l1 == pytest.approx(figures["test10_l1"], abs=0.0002)
    assert sharpness == pytest.approx(figures["test10_sharpness"], abs=0.0002)
