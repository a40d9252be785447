"""Each adversarial objective against a hand computation on fixed logits."""

import math

import pytest
import torch

from translate.losses import ADVERSARIAL_LOSSES, adversarial_loss, gradient_penalty

REAL = [2.0, -1.0]
FAKE = [0.5, -3.0]


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


LOGISTIC_D = mean(-math.log(sig(r)) for r in REAL) + mean(-math.log(1 - sig(f)) for f in FAKE)
EXPECTED = {
    "minimax": (LOGISTIC_D, mean(math.log(1 - sig(f)) for f in FAKE)),
    "non_saturating": (LOGISTIC_D, mean(-math.log(sig(f)) for f in FAKE)),
    "maximum_likelihood": (LOGISTIC_D, mean(-0.5 * math.exp(math.log(sig(f) / (1 - sig(f)))) for f in FAKE)),
    "lsgan": (mean((r - 1) ** 2 for r in REAL) + mean(f**2 for f in FAKE), mean((f - 1) ** 2 for f in FAKE)),
    "wgan": (mean(FAKE) - mean(REAL), -mean(FAKE)),
    "wgan_gp": (mean(FAKE) - mean(REAL), -mean(FAKE)),
    "hinge": (mean(max(0, 1 - r) for r in REAL) + mean(max(0, 1 + f) for f in FAKE), -mean(FAKE)),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL_LOSSES))
def test_loss_matches_hand_computation(name):
    assert set(EXPECTED) == set(ADVERSARIAL_LOSSES)
    loss = ADVERSARIAL_LOSSES[name]
    d_expected, g_expected = EXPECTED[name]
    real, fake = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    assert loss.d(real, fake).item() == pytest.approx(d_expected, rel=1e-12)
    assert loss.g(fake).item() == pytest.approx(g_expected, rel=1e-12)


def test_one_sided_label_smoothing():
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    smoothed = ADVERSARIAL_LOSSES["non_saturating"].d(real, fake, real_target=0.9).item()
    expected = mean(-(0.9 * math.log(sig(r)) + 0.1 * math.log(1 - sig(r))) for r in REAL) + \
        mean(-math.log(1 - sig(f)) for f in FAKE)
    assert smoothed == pytest.approx(expected, rel=1e-6)


def test_unknown_loss_lists_valid_ones():
    with pytest.raises(KeyError, match="choose one of minimax, non_saturating"):
        adversarial_loss("wasserstein")


def test_gradient_penalty_on_a_linear_critic():
    # C(x) = w . x has gradient w everywhere, so the penalty is (||w|| - 1)^2 exactly.
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1, bias=False))
    with torch.no_grad():
        critic[1].weight.copy_(torch.arange(12.0).view(1, 12) / 10)
    norm = critic[1].weight.norm().item()
    real, fake = torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2)
    penalty = gradient_penalty(critic, real, fake)
    assert penalty.item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    penalty.backward()  # the penalty trains the critic: its gradient reaches the weights
    assert critic[1].weight.grad is not None and critic[1].weight.grad.abs().sum() > 0
