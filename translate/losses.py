"""Adversarial objectives as plain functions, in one table.

Each entry of :data:`ADVERSARIAL_LOSSES` pairs the discriminator's loss ``d(real, fake)`` and the
generator's loss ``g(fake)``, both taking the discriminator's raw outputs (logits, or critic scores
for the Wasserstein losses), shape (N,) or (N, ...), and returning a scalar mean. sigma is the
logistic function, so D(x) = sigma(logit) for the probabilistic losses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


def _bce_real(real: torch.Tensor, target: float) -> torch.Tensor:
    # -[t log sigma(l) + (1 - t) log(1 - sigma(l))]; target < 1 is one-sided label smoothing
    return target * F.softplus(-real) + (1.0 - target) * F.softplus(real)


def d_logistic(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """D's loss of the original GAN: -log D(x) - log(1 - D(G(z)))."""
    return _bce_real(real, real_target).mean() + F.softplus(fake).mean()


def g_minimax(fake: torch.Tensor) -> torch.Tensor:
    """G minimises log(1 - D(G(z))): the saturating original (Goodfellow et al. 2014)."""
    return -F.softplus(fake).mean()


def g_non_saturating(fake: torch.Tensor) -> torch.Tensor:
    """G minimises -log D(G(z)) (Goodfellow et al. 2014, the heuristic used in practice)."""
    return F.softplus(-fake).mean()


def g_maximum_likelihood(fake: torch.Tensor) -> torch.Tensor:
    """G minimises -1/2 exp(sigma^-1(D(G(z)))) = -1/2 exp(logit) (Goodfellow 2016 tutorial, eq. 10).

    Logits are capped at 30 so one confident D output cannot overflow the loss to infinity.
    """
    return -0.5 * torch.exp(fake.clamp(max=30.0)).mean()


def d_lsgan(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """D minimises (D(x) - 1)^2 + D(G(z))^2: least squares with a=0, b=c=1 (Mao et al. 2017).

    Mao et al. put a 1/2 before each term; CycleGAN (Zhu et al. 2017) and pix2pix leave it out, and their
    loss weights (lambda_cycle 10) are set against this unhalved form, so it is the one used here.
    """
    return ((real - real_target) ** 2).mean() + (fake**2).mean()


def g_lsgan(fake: torch.Tensor) -> torch.Tensor:
    """G minimises (D(G(z)) - 1)^2 (unhalved, as d_lsgan)."""
    return ((fake - 1.0) ** 2).mean()


def d_wasserstein(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """The critic minimises E[C(G(z))] - E[C(x)] (Arjovsky et al. 2017); label smoothing does not apply."""
    del real_target
    return fake.mean() - real.mean()


def g_wasserstein(fake: torch.Tensor) -> torch.Tensor:
    """G minimises -E[C(G(z))]; also the generator term of the hinge loss."""
    return -fake.mean()


def d_hinge(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """D minimises E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] (Lim & Ye 2017; Miyato et al. 2018)."""
    del real_target
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


class AdversarialLoss(NamedTuple):
    d: Callable[..., torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]


ADVERSARIAL_LOSSES = {
    "minimax": AdversarialLoss(d_logistic, g_minimax),
    "non_saturating": AdversarialLoss(d_logistic, g_non_saturating),
    "maximum_likelihood": AdversarialLoss(d_logistic, g_maximum_likelihood),
    "lsgan": AdversarialLoss(d_lsgan, g_lsgan),
    "wgan": AdversarialLoss(d_wasserstein, g_wasserstein),
    "wgan_gp": AdversarialLoss(d_wasserstein, g_wasserstein),  # plus gradient_penalty() in the recipe
    "hinge": AdversarialLoss(d_hinge, g_wasserstein),
}


def adversarial_loss(name: str) -> AdversarialLoss:
    if name not in ADVERSARIAL_LOSSES:
        raise KeyError(f"unknown loss {name!r}; choose one of {', '.join(ADVERSARIAL_LOSSES)}")
    return ADVERSARIAL_LOSSES[name]


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, **critic_kwargs) -> torch.Tensor:
    """E[(||grad_x C(x_hat)||_2 - 1)^2] at random interpolates x_hat of real and fake (Gulrajani et al. 2017).

    `critic` must be the plain module: DistributedDataParallel does not support the double backward
    through its wrapper; gradients of the penalty still reach the parameters and are synchronised
    with the rest of the critic's loss in the same backward pass.
    """
    alpha = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed, **critic_kwargs)
    scores = scores[0] if isinstance(scores, tuple) else scores
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class VGGPerceptualLoss(nn.Module):
    """MSE between VGG19 feature maps of output and target (Ledig et al. 2017's content loss).

    layer 35 is relu5_4 ("VGG54" in the paper), whose features are divided by 12.75 so the loss has the
    magnitude of a pixel MSE, as the paper does. Inputs (N, 3, H, W) in [0, 1]. The network is frozen.
    """

    def __init__(self, features: nn.Module, layer: int = 35, rescale: float = 1 / 12.75) -> None:
        super().__init__()
        self.features = features[: layer + 1].eval().requires_grad_(False)
        self.rescale = rescale
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    @classmethod
    def from_weights(cls, path: str | None, layer: int = 35) -> VGGPerceptualLoss:
        """VGG19 from a local weights file: torchvision's vgg19-dcbb9e9d.pth (read with weights_only=True, so
        nothing in it can run) or a .safetensors copy. Nothing is downloaded."""
        from pathlib import Path

        from torchvision.models import vgg19

        from translate.errors import ConfigError
        from translate.foreign_weights import read_weights

        if not path:
            raise ConfigError(
                f"the VGG content loss needs VGG19 weights, which cannot be downloaded here: fetch {VGG19_URL} "
                "and pass --vgg-weights PATH, or choose --content-loss feature_matching (no VGG)"
            )
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"{file}: no such VGG19 weights file (expected {VGG19_URL.rsplit('/', 1)[1]})")
        state = read_weights(file)
        net = vgg19(weights=None)
        try:
            net.load_state_dict(state)
        except RuntimeError as err:  # missing, unexpected or mis-shaped entries
            raise ConfigError(f"{file}: not VGG19 weights ({str(err).splitlines()[0][:120]})") from None
        return cls(net.features, layer)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        def feats(x: torch.Tensor) -> torch.Tensor:
            return self.features((x - self.mean) / self.std) * self.rescale

        return F.mse_loss(feats(output), feats(target).detach())
