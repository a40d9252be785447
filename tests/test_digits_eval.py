"""evaluate-gan's offline measures: sane on real digits, damning on a collapsed generator."""

import numpy as np
import pytest

from translate.checkpoint import save_model
from translate.cli.evaluate import main_gan
from translate.evaluation.digits import frechet_distance, measure, precision_recall, reference
from translate.model_spec import ModelSpec
from translate.nets import DCGANGenerator


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def ref(home):
    return reference(cache_dir=home / ".cache" / "gan-translate")  # the cache evaluate-gan uses with HOME=home


def test_classifier_is_accurate(ref):
    assert ref.test_accuracy > 0.95 and len(ref.test_labels) == 360


def test_real_digits_cover_every_class(ref):
    same = measure((ref.test_images + 1) / 2, ref, requested=ref.test_labels)
    assert same["classifier_fid"] < 1e-6 and same["precision"] == 1.0 and same["recall"] == 1.0
    other = measure((ref.train_images + 1) / 2, ref, requested=ref.train_labels)  # the real row of evaluate-gan
    assert other["classes_covered"] == 10 and other["class_entropy"] > 2.2 and other["mean_confidence"] > 0.9
    assert other["label_agreement"] > 0.95 and 0 < other["classifier_fid"] < 10
    assert other["precision"] > 0.8 and other["recall"] > 0.8


def test_collapsed_generator_is_caught(ref):
    collapsed = ((ref.test_images[:1] + 1) / 2).repeat(200, 1, 1, 1)
    m = measure(collapsed, ref)
    assert m["classes_covered"] == 1 and m["class_entropy"] == 0.0
    assert m["recall"] < 0.2 and m["classifier_fid"] > 100


def test_frechet_and_precision_recall_by_hand():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 2))
    b = a + np.array([3.0, 4.0])  # same covariance, mean moved by 5
    assert frechet_distance(a, b) == pytest.approx(25.0, rel=1e-6)
    far = a + 100.0
    assert precision_recall(a, far) == (0.0, 0.0)
    assert precision_recall(a, a.copy()) == (1.0, 1.0)


def test_evaluate_gan_command(tmp_path, capsys, monkeypatch, ref, home):
    monkeypatch.setenv("HOME", str(home))  # reuse the classifier the fixture trained
    kwargs = {"latent_dim": 8, "image_size": 16, "channels": 1, "ngf": 8}
    spec = ModelSpec(task="generation", arch="dcgan", arch_kwargs=kwargs, in_channels=8, out_channels=1,
                     latent_dim=8, image_size=16)
    model = save_model(tmp_path / "g.safetensors", DCGANGenerator(**kwargs).eval(), spec)
    assert main_gan([str(model), "--n", "50"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "untrained G" in out and "classifier_fid" in out
    real_row = next(line for line in out.splitlines() if line.startswith("real (training split)")).split()
    assert 0 < float(real_row[-3]) < 100  # 50 real digits against the held-out ones: not 0 (FID is biased at 50)
    assert main_gan(["digits", "--n", "20"]) == 0  # a bundled name
    assert "\ndigits " in capsys.readouterr().out
    rgb = ModelSpec(task="generation", arch="dcgan", arch_kwargs={**kwargs, "channels": 3}, in_channels=8,
                    out_channels=3, latent_dim=8, image_size=16)
    save_model(tmp_path / "rgb.safetensors", DCGANGenerator(**{**kwargs, "channels": 3}), rgb)
    assert main_gan([str(tmp_path / "rgb.safetensors")]) == 2
    assert "grayscale digits generator" in capsys.readouterr().err


def test_damaged_cache_is_trained_again(tmp_path, ref, home):
    cached = next((home / ".cache" / "gan-translate").glob("digits-classifier-*.safetensors"))
    copy = tmp_path / "cache" / cached.name
    copy.parent.mkdir()
    copy.write_bytes(cached.read_bytes()[:100])  # as a run killed while writing it would have left it
    again = reference(cache_dir=copy.parent)
    assert again.test_accuracy == pytest.approx(ref.test_accuracy, abs=0.03)
    assert copy.stat().st_size == cached.stat().st_size
