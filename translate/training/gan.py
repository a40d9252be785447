"""The GAN recipe: unconditional, conditional (cGAN) and auxiliary-classifier (AC-GAN) image generation
with every classic objective and stabiliser as a config choice."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from translate.data.folders import open_image_source
from translate.errors import ConfigError
from translate.losses import ADVERSARIAL_LOSSES, adversarial_loss, gradient_penalty
from translate.model_spec import ModelSpec
from translate.nets import DISCRIMINATORS, GENERATORS
from translate.nets.dcgan import SIZES as DCGAN_SIZES
from translate.nets.layers import NORMS
from translate.training.config import check_adam, check_choices, check_range, option
from translate.training.recipe import Recipe, TrainContext

ARCHS = ("mlp", "dcgan")
OPTIMIZERS = ("adam", "rmsprop")

# Settings each objective's paper used, applied where the user left a value unset (None).
BASE_DEFAULTS = {"optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "d_steps": 1,
                 "d_norm": "batch"}  # Radford et al. 2016
PAPER_DEFAULTS = {
    "wgan": {"optimizer": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "d_steps": 5},  # Arjovsky et al. 2017
    # Gulrajani et al. 2017: Adam(1e-4, 0, 0.9), 5 critic steps, no batch norm in the critic
    "wgan_gp": {"lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9, "d_steps": 5, "d_norm": "none"},
}


@dataclass(frozen=True)
class GanConfig:
    data: str = option("digits", "'digits' (bundled sample), a digits .csv(.gz), or an image folder "
                       "(class sub-folders give labels)")
    image_size: int = option(16, "generated image size (dcgan: 16, 32 or 64)")
    channels: int = option(1, "image channels: 1 (grayscale) or 3 (RGB)")
    arch: str = option("dcgan", "network family: mlp (original GAN) or dcgan", choices=ARCHS)
    loss: str = option("non_saturating", "adversarial objective", choices=tuple(ADVERSARIAL_LOSSES))
    latent_dim: int = option(64, "size of z")
    width: int = option(64, "dcgan: base channels (ngf = ndf); mlp: hidden units")
    mlp_layers: int = option(2, "mlp: hidden layers in G and D")
    conditional: bool = option(False, "class-conditional G and D (labels concatenated; Mirza & Osindero 2014)")
    acgan: bool = option(False, "class-conditional G and an auxiliary classifier in D (Odena et al. 2017)")
    optimizer: str | None = option(None, "adam or rmsprop (default: the objective's paper)",
                                   choices=OPTIMIZERS)
    lr_g: float | None = option(None, "generator learning rate (default: the objective's paper)")
    lr_d: float | None = option(None, "discriminator learning rate (default: the objective's paper)")
    beta1: float | None = option(None, "Adam beta1 (default: the objective's paper)")
    beta2: float | None = option(None, "Adam beta2 (default: the objective's paper)")
    d_steps: int | None = option(None, "discriminator updates per generator update (n_critic); each loop step "
                                 "is one D update on a fresh batch")
    d_norm: str | None = option(None, "normalisation in D: batch, instance, layer or none", choices=NORMS)
    clip: float = option(0.01, "wgan: clip every critic weight to [-clip, clip]")
    gp_weight: float = option(10.0, "wgan_gp: gradient penalty weight lambda")
    spectral_norm: bool = option(False, "spectral norm on D's layers")
    spectral_norm_g: bool = option(False, "spectral norm on G's layers too")
    self_attention: int = option(0, "dcgan: SAGAN self-attention block at this resolution (0 = none)")
    minibatch_stddev: bool = option(False, "append D's minibatch standard-deviation feature")
    label_smoothing: float = option(0.0, "one-sided: D's target for real images is 1 - this")
    instance_noise: float = option(0.0, "std of Gaussian noise added to D's inputs, annealed to 0")

    def __post_init__(self) -> None:
        check_choices(self)
        if self.loss == "wgan_gp" and self.d_norm == "batch":
            raise ConfigError("wgan_gp penalises each sample's gradient, which batch norm makes depend on the "
                              "whole batch (Gulrajani et al. 2017); use --d-norm layer, instance or none")
        if self.conditional and self.acgan:
            raise ConfigError("choose --conditional or --acgan, not both")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ConfigError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if self.d_steps is not None and self.d_steps < 1:
            raise ConfigError(f"d_steps must be at least 1, got {self.d_steps}")
        if self.arch == "dcgan" and self.image_size not in DCGAN_SIZES:
            raise ConfigError(f"image_size must be one of {', '.join(map(str, DCGAN_SIZES))} for dcgan, "
                              f"got {self.image_size}")
        check_range("image_size", self.image_size, 4)
        for name in ("latent_dim", "width", "mlp_layers"):
            check_range(name, getattr(self, name), 1)
        if self.clip <= 0:
            raise ConfigError(f"clip must be positive, got {self.clip}")
        check_range("gp_weight", self.gp_weight, 0)
        attention_sizes = [2**k for k in range(3, int(math.log2(self.image_size)))]  # D and G's inner resolutions
        if self.self_attention and self.self_attention not in attention_sizes:
            raise ConfigError(f"self_attention must be 0 or one of {', '.join(map(str, attention_sizes))} for "
                              f"image_size {self.image_size}, got {self.self_attention}")
        hp = self.resolved()
        for lr in ("lr_g", "lr_d"):
            check_adam(hp[lr], hp["beta1"], hp["beta2"], lr)

    def resolved(self) -> dict[str, Any]:
        """Optimiser settings after filling unset values from the objective's paper defaults."""
        defaults = {**BASE_DEFAULTS, **PAPER_DEFAULTS.get(self.loss, {})}
        return {k: getattr(self, k) if getattr(self, k) is not None else v for k, v in defaults.items()}


class GanRecipe(Recipe):
    name = "gan"
    config_class = GanConfig
    ema_nets = ("G",)

    def __init__(self, config: GanConfig, ctx: TrainContext) -> None:
        super().__init__(config, ctx)
        self.data = open_image_source(config.data, config.image_size, config.channels)
        self.class_names = tuple(getattr(self.data, "class_names", ()))
        self.n_classes = len(self.class_names) if (config.conditional or config.acgan) else 0
        if (config.conditional or config.acgan) and self.n_classes < 2:
            raise ConfigError(f"{config.data}: --conditional/--acgan need labelled data (class sub-folders)")
        self.hp = config.resolved()
        self.g_kwargs, d_kwargs = self._net_kwargs()
        self.nets = {"G": GENERATORS[config.arch](**self.g_kwargs).to(ctx.device),
                     "D": DISCRIMINATORS[config.arch](**d_kwargs).to(ctx.device)}
        self.optimizers = {"G": self._optimizer("G", self.hp["lr_g"]), "D": self._optimizer("D", self.hp["lr_d"])}
        self.loss = adversarial_loss(config.loss)
        self.sample_z = torch.randn(100 if self.n_classes else 64, config.latent_dim,
                                    generator=torch.Generator().manual_seed(1234))
        self.last_g: dict[str, torch.Tensor] = {}
        if ctx.is_main:
            settings = ", ".join(f"{k} {v}" for k, v in self.hp.items())
            print(f"[gan] {config.arch} {config.loss}: {settings}", file=sys.stderr)

    def _net_kwargs(self) -> tuple[dict, dict]:
        c = self.config
        g = {"latent_dim": c.latent_dim, "image_size": c.image_size, "channels": c.channels,
             "n_classes": self.n_classes, "spectral_norm": c.spectral_norm_g}
        d = {"image_size": c.image_size, "channels": c.channels, "spectral_norm": c.spectral_norm,
             "n_classes": self.n_classes if c.conditional else 0, "aux_classes": self.n_classes if c.acgan else 0}
        if c.arch == "mlp":
            g.update(hidden=c.width, n_layers=c.mlp_layers)
            d.update(hidden=c.width, n_layers=c.mlp_layers)
            if c.minibatch_stddev or c.self_attention:
                raise ConfigError("--minibatch-stddev and --self-attention need --arch dcgan")
        else:
            g.update(ngf=c.width, self_attention=c.self_attention)
            d.update(ndf=c.width, norm=self.hp["d_norm"], minibatch_stddev=c.minibatch_stddev,
                     self_attention=c.self_attention)
        return g, d

    def _optimizer(self, net: str, lr: float) -> torch.optim.Optimizer:
        params = self.nets[net].parameters()
        if self.hp["optimizer"] == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        return self.ctx.adam(params, lr, (self.hp["beta1"], self.hp["beta2"]))

    def dataset(self) -> Dataset:
        return self.data

    def _noisy(self, x: torch.Tensor, step: int) -> torch.Tensor:
        if self.config.instance_noise <= 0:
            return x
        sigma = self.config.instance_noise * max(0.0, 1.0 - step / max(1, self.ctx.total_steps))
        return x + sigma * torch.randn_like(x)

    def step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        c, ctx = self.config, self.ctx
        G, D = self.train_nets["G"], self.train_nets["D"]
        real, labels = batch["image"], batch["label"]
        n = real.shape[0]
        z = torch.randn(n, c.latent_dim, device=ctx.device)
        # fakes of the batch's own classes: D cannot tell them apart by class frequency, and the gradient
        # penalty blends a real image with a fake of the same class
        fake_labels = labels if self.n_classes else None
        d_real_labels = labels if c.conditional else None
        d_fake_labels = fake_labels if c.conditional else None

        with ctx.autocast():
            fake = G(z, fake_labels)
            real_out = D(self._noisy(real, step), d_real_labels)
            fake_out = D(self._noisy(fake.detach(), step), d_fake_labels)
            (real_logits, real_aux), (fake_logits, fake_aux) = _split(real_out), _split(fake_out)
            loss_d = self.loss.d(real_logits.float(), fake_logits.float(), real_target=1.0 - c.label_smoothing)
            losses = {"d": loss_d.detach()}
            if c.acgan:
                aux = F.cross_entropy(real_aux.float(), labels) + F.cross_entropy(fake_aux.float(), fake_labels)
                loss_d = loss_d + aux
                losses["d_aux"] = aux.detach()
        if c.loss == "wgan_gp":
            penalty = gradient_penalty(self.nets["D"], real, fake, labels=d_real_labels)
            loss_d = loss_d + c.gp_weight * penalty
            losses["gp"] = penalty.detach()
        ctx.backward_step(loss_d, "D")
        if c.loss == "wgan":
            with torch.no_grad():
                for p in self.nets["D"].parameters():
                    p.clamp_(-c.clip, c.clip)

        if (step + 1) % self.hp["d_steps"] == 0:
            with ctx.frozen(D):
                with ctx.autocast():
                    logits, aux_logits = _split(D(self._noisy(fake, step), d_fake_labels))
                    loss_g = self.loss.g(logits.float())
                    if c.acgan:
                        loss_g = loss_g + F.cross_entropy(aux_logits.float(), fake_labels)
                ctx.backward_step(loss_g, "G")
            self.last_g = {"g": loss_g.detach()}
        return {**losses, **self.last_g}

    def update_count(self, name: str, steps: int) -> int:
        return steps // self.hp["d_steps"] if name == "G" else steps

    @property
    def sample_columns(self) -> int | None:  # one column per class for conditional models
        return self.n_classes or None

    def sample_grid(self) -> torch.Tensor:
        G = self.eval_net("G").eval()
        z = self.sample_z.to(self.ctx.device)
        labels = torch.arange(len(z), device=self.ctx.device) % self.n_classes if self.n_classes else None
        return (G(z, labels).float() + 1) / 2

    def model_files(self) -> dict:
        c = self.config
        spec = ModelSpec(task="generation", arch=c.arch, arch_kwargs=self.g_kwargs, in_channels=c.latent_dim,
                         out_channels=c.channels, latent_dim=c.latent_dim, image_size=c.image_size,
                         labels=self.class_names if self.n_classes else None, min_multiples=1)
        return {"G": (self.eval_net("G"), spec)}


def _split(out: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
    return out if isinstance(out, tuple) else (out, None)
