"""The pix2pix recipe (Isola et al. 2017): a U-Net generator and a conditional PatchGAN trained on paired
images with an adversarial loss plus lambda * L1 to the target."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from translate.data.augment import centre_view
from translate.data.convert import to_tensor
from translate.data.pairs import AlignedPairs
from translate.errors import ConfigError
from translate.losses import ADVERSARIAL_LOSSES, adversarial_loss
from translate.model_spec import ModelSpec
from translate.nets import DISCRIMINATORS, GENERATORS
from translate.nets.layers import NORMS
from translate.training.config import MAX_LOAD_SIDE, check_adam, check_choices, check_names, check_range, option
from translate.training.recipe import Recipe, TrainContext


@dataclass(frozen=True)
class Pix2pixConfig:
    data: str | None = option(None, "folder with A/ and B/ twin folders, or of side-by-side A|B images")
    direction: str = option("AtoB", "AtoB or BtoA (which half is the input)", choices=("AtoB", "BtoA"))
    names: tuple[str, ...] = option(("A", "B"), "names of the input and output domains, e.g. edges shoes")
    crop: int = option(256, "training crop size (a multiple of 2**unet_downs)")
    load_size: int = option(286, "shorter side before the random crop")
    flip: bool = option(True, "random horizontal flips (the same for both halves)")
    min_items: int = option(0, "at least this many items per epoch (tiny sets)")
    unet_downs: int = option(8, "U-Net levels: 8 for 256 crops (unet_256), 7 for 128")
    ngf: int = option(64, "generator base channels")
    ndf: int = option(64, "discriminator base channels")
    d_layers: int = option(3, "PatchGAN layers (3: 70x70 patches)")
    norm: str = option("instance", "normalisation: instance (default), batch, layer or none. The paper's batch "
                       "norm at batch 1 normalises each image by its own statistics and is run that way at test "
                       "time too; instance norm does exactly that in training and inference alike, whereas batch "
                       "norm in eval mode would switch to running averages the model never trained with",
                       choices=NORMS)
    dropout: float = option(0.5, "dropout in the inner decoder levels (pix2pix's noise; in training only, so "
                            "inference is repeatable)")
    gan_loss: str = option("non_saturating", "adversarial objective", choices=tuple(ADVERSARIAL_LOSSES))
    lambda_l1: float = option(100.0, "weight of the L1 loss to the target")
    lambda_gan: float = option(1.0, "weight of the adversarial loss (0: the L1-only baseline; D is not trained)")
    lr: float = option(2e-4, "Adam learning rate")
    beta1: float = option(0.5, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")

    def __post_init__(self) -> None:
        check_choices(self)
        if self.gan_loss == "wgan_gp":
            raise ConfigError("gan_loss wgan_gp is for train-gan; pix2pix uses non_saturating, lsgan or hinge")
        check_range("unet_downs", self.unet_downs, 5, 10)
        check_range("d_layers", self.d_layers, 1, 6)
        check_range("crop", self.crop, max(2**self.unet_downs, 3 * 2**self.d_layers))
        check_range("load_size", self.load_size, self.crop, MAX_LOAD_SIDE)
        for name in ("ngf", "ndf"):
            check_range(name, getattr(self, name), 1)
        for name in ("min_items", "lambda_l1", "lambda_gan"):
            check_range(name, getattr(self, name), 0)
        check_range("dropout", self.dropout, 0.0, 0.99)
        check_adam(self.lr, self.beta1, self.beta2)
        if self.crop % 2**self.unet_downs:
            raise ConfigError(f"crop {self.crop} must be a multiple of 2**unet_downs = {2**self.unet_downs}")
        if len(self.names) != 2:
            raise ConfigError(f"names must be two domain names, got {list(self.names)}")
        check_names(self.names)


class Pix2pixRecipe(Recipe):
    name = "pix2pix"
    config_class = Pix2pixConfig
    ema_nets = ("G",)
    lr_decay_from_half = True
    cpu_preset = {"ngf": 32}
    sample_columns = 3
    sample_column_labels = ("input", "output", "target")

    def __init__(self, config: Pix2pixConfig, ctx: TrainContext) -> None:
        super().__init__(config, ctx)
        if not config.data:
            raise ConfigError("--data is required: a folder with A/ and B/, or of side-by-side A|B images")
        if not Path(config.data).is_dir():
            raise ConfigError(f"{config.data}: no such folder; fetch a public set with: translate-datasets facades, "
                              "then pass --data datasets/data/facades/train")
        self.data = AlignedPairs(config.data, config.crop, config.load_size, config.flip, config.direction,
                                 config.min_items)
        self.g_kwargs = {"num_downs": config.unet_downs, "ngf": config.ngf, "norm": config.norm,
                         "dropout": config.dropout}
        self.nets = {"G": GENERATORS["unet"](**self.g_kwargs).to(ctx.device),
                     "D": DISCRIMINATORS["patch"](in_channels=6, ndf=config.ndf, n_layers=config.d_layers,
                                                  norm=config.norm).to(ctx.device)}
        betas = (config.beta1, config.beta2)
        self.optimizers = {k: ctx.adam(n.parameters(), config.lr, betas) for k, n in self.nets.items()}
        self.loss = adversarial_loss(config.gan_loss)

    def dataset(self) -> Dataset:
        return self.data

    def step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        ctx, G, D = self.ctx, self.train_nets["G"], self.train_nets["D"]
        a, b = batch["A"], batch["B"]
        if self.config.lambda_gan == 0:
            with ctx.autocast():
                l1 = F.l1_loss(G(a).float(), b)
            ctx.backward_step(self.config.lambda_l1 * l1, "G")
            zero = torch.zeros((), device=l1.device)
            return {"d": zero, "g_adv": zero, "l1": l1.detach()}
        with ctx.autocast():
            fake = G(a)
            loss_d = 0.5 * self.loss.d(D(torch.cat([a, b], 1)).float(), D(torch.cat([a, fake.detach()], 1)).float())
        ctx.backward_step(loss_d, "D")
        with ctx.frozen(D):
            with ctx.autocast():
                adv = self.loss.g(D(torch.cat([a, fake], 1)).float())
                l1 = F.l1_loss(fake.float(), b)
                loss_g = self.config.lambda_gan * adv + self.config.lambda_l1 * l1
            ctx.backward_step(loss_g, "G")
        return {"d": loss_d.detach(), "g_adv": adv.detach(), "l1": l1.detach()}

    def sample_grid(self) -> torch.Tensor:
        """Rows of (input, output, target) for the first pairs."""
        rows = []
        G = self.eval_net("G").eval()
        for a_img, b_img in map(self.data.pair, range(min(4, len(self.data.pairs)))):
            a, b = (to_tensor(centre_view(im, self.config.crop, self.config.load_size), (-1.0, 1.0))[None]
                    .to(self.ctx.device) for im in (a_img, b_img))
            rows += [a, G(a), b]
        return (torch.cat(rows).float() + 1) / 2

    def model_files(self) -> dict:
        spec = ModelSpec(task="translation", arch="unet", arch_kwargs=self.g_kwargs, in_channels=3, out_channels=3,
                         size_multiple=2**self.config.unet_downs, domains=tuple(self.config.names), min_multiples=1,
                         paired_input=True, direction="AtoB")
        return {"G": (self.eval_net("G"), spec)}
