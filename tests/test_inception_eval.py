"""FID/KID/IS through torch-fidelity's Inception-v3, with randomly initialised weights (the real file cannot be
downloaded here), and the safe loading of the weights file. Inception runs at 299x299 (~6 GFLOP per image), so
every set is a handful of images."""

import math
import pickle
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from translate.cli.evaluate import main_gan
from translate.errors import ModelFileError
from translate.evaluation.digits import DigitClassifier, Reference, split
from translate.evaluation.inception import inception_scores, load_inception

BUNDLED_DIGITS = Path(__file__).parents[1] / "translate" / "weights" / "digits.safetensors"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A random-init Inception-v3 state dict in the standard file's layout (keys and shapes)."""
    folder = tmp_path_factory.mktemp("inception")
    torch.save({}, folder / "empty.pth")
    torch.manual_seed(0)
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict"):  # its __init__ insists on a file
        net = FeatureExtractorInceptionV3("random", ["2048"], feature_extractor_weights_path=str(folder / "empty.pth"))
    # With untouched BatchNorm statistics the activations shrink layer by layer to ~1e-8; one training-mode
    # pass over images like the tested ones (other digits, noise) sets the statistics so that the features
    # are O(1), as with the real weights.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # the running statistics become those of this one batch
    calibration = torch.cat([digits(4, offset=100).repeat(1, 3, 1, 1), torch.rand(2, 3, 16, 16)])
    net.train()
    with torch.no_grad():
        net((calibration * 255).round().to(torch.uint8))
    torch.save(net.state_dict(), folder / "inception.pth")
    return folder / "inception.pth"


@pytest.fixture(scope="module")
def inception(weights):
    return load_inception(weights)


def digits(n: int, offset: int = 0) -> torch.Tensor:
    """n held-out real digits (N, 1, 16, 16) in [0, 1]."""
    return (split()[2][offset:offset + n] + 1) / 2


def test_identical_sets_score_zero(inception):
    images = digits(4)
    scores = inception_scores(inception, images, images.clone())
    assert scores.fid == pytest.approx(0.0, abs=1e-3)
    # KID's unbiased estimate for a set against itself is (2/m)(mean off-diagonal - mean diagonal kernel) for
    # subsets of m images: 0 only for large m; about -0.01 here with m = 4 (against 2.3 for digits vs noise)
    assert abs(scores.kid_mean) < 0.05
    assert math.isfinite(scores.is_mean) and scores.is_mean >= 1.0 and math.isfinite(scores.is_std)


def test_different_sets_score_above_zero(inception):
    noise = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    scores = inception_scores(inception, digits(4), noise)
    assert scores.fid > 1.0 and scores.kid_mean > 0.5
    assert math.isfinite(scores.is_mean) and scores.is_mean >= 1.0


def test_safetensors_weights(weights, inception, tmp_path):
    save_file(torch.load(weights, weights_only=True), tmp_path / "inception.safetensors")
    net = load_inception(tmp_path / "inception.safetensors")
    assert torch.equal(net.fc.weight, inception.fc.weight)


class MakesMarker:
    """Unpickling this with a code-running loader creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_bad_weights_files_give_one_line_errors(tmp_path):
    missing = tmp_path / "nowhere.pth"
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a weights file" * 100)
    marker = tmp_path / "code-ran"
    malicious = tmp_path / "malicious.pth"
    torch.save({"fc.weight": MakesMarker(marker)}, malicious)
    raw_pickle = tmp_path / "raw.pth"
    raw_pickle.write_bytes(pickle.dumps(MakesMarker(marker)))
    wrong_keys = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(3)}, wrong_keys)
    not_a_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], not_a_dict)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    cases = {missing: "pt_inception-2015-12-05", garbage: "not a plain weights file",
             malicious: "not a plain weights file", raw_pickle: "not a plain weights file",
             truncated: "not a readable weights file", wrong_keys: "not the Inception-v3 weights",
             not_a_dict: "not a state dict"}
    for path, problem in cases.items():
        with pytest.raises(ModelFileError) as err:
            load_inception(path)
        message = str(err.value)
        assert message.startswith(f"{path}: ") and problem in message and "\n" not in message, message
    assert "https://" in str(pytest.raises(ModelFileError, load_inception, missing).value)
    assert not marker.exists()


@pytest.fixture
def small_reference(monkeypatch):
    """evaluate-gan's digits classifier untrained and 4 held-out digits: it is not what is tested here, and
    the real one costs seconds to train and 360 Inception passes as the default real set."""
    train_x, train_y, test_x, test_y = split()
    ref = Reference(DigitClassifier().eval(), 0.0, test_x[:4], test_y[:4], train_x[:4], train_y[:4])
    monkeypatch.setattr("translate.evaluation.digits.reference", lambda: ref)


def test_evaluate_gan_inception_with_real_folder(weights, small_reference, tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    for i, image in enumerate(digits(3)):
        Image.fromarray(np.round(image[0].numpy() * 255).astype(np.uint8)).save(real / f"{i}.png")
    code = main_gan([str(BUNDLED_DIGITS), "--n", "20", "--inception-weights", str(weights), "--real-folder", str(real)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"20 samples against 3 real images ({real})" in out
    fid = float(out.split("FID ")[1].split()[0])
    assert math.isfinite(fid) and fid > 0 and "KID " in out and "IS " in out


def test_evaluate_gan_inception_errors(tmp_path, capsys):
    assert main_gan([str(BUNDLED_DIGITS), "--real-folder", str(tmp_path)]) == 2
    assert "needs --inception-weights" in capsys.readouterr().err
    assert main_gan([str(BUNDLED_DIGITS), "--inception-weights", str(tmp_path / "none.pth")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pt_inception-2015-12-05" in err
