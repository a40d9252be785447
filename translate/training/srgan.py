"""The super-resolution recipe. Stage "psnr": SRResNet trained with a pixel loss (Ledig et al. 2017)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from translate.checkpoint import ModelSpec
from translate.data.folders import SRPatches
from translate.errors import ConfigError
from translate.nets import GENERATORS
from translate.nets.srresnet import SCALES
from translate.training.config import check_choice, option
from translate.training.recipe import Recipe, TrainContext

PIXEL_LOSSES = {"l1": F.l1_loss, "mse": F.mse_loss}


@dataclass(frozen=True)
class SrganConfig:
    data: str | None = option(None, "folder of HR training images (searched recursively); never Set5/Set14")
    scale: int = option(4, "upscaling factor: 2, 3, 4 or 8", choices=SCALES)
    crop: int = option(96, "HR patch size (LR patches are crop / scale)")
    patches_per_image: int = option(100, "random patches per image in one epoch")
    n_blocks: int = option(16, "residual blocks in the generator")
    channels: int = option(64, "feature channels in the generator")
    batch_norm: bool = option(False, "batch norm in the residual blocks (SRGAN paper: on; EDSR: off)")
    bicubic_skip: bool = option(False, "add the bicubic upscaled input to the output (learn the residual)")
    pixel_loss: str = option("l1", "pixel loss: l1 or mse", choices=tuple(PIXEL_LOSSES))
    lr: float = option(2e-4, "Adam learning rate")
    beta1: float = option(0.9, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ConfigError(f"scale must be one of {', '.join(map(str, SCALES))}, got {self.scale}")
        check_choice("pixel_loss", self.pixel_loss, tuple(PIXEL_LOSSES))
        if self.crop % self.scale:
            raise ConfigError(f"crop {self.crop} must be a multiple of scale {self.scale}")


class SrganRecipe(Recipe):
    name = "srgan"
    config_class = SrganConfig

    def __init__(self, config: SrganConfig, ctx: TrainContext) -> None:
        super().__init__(config, ctx)
        if not config.data:
            raise ConfigError("--data is required: a folder of HR training images (e.g. ../shared/data/sr/BSD68)")
        self.data = SRPatches(config.data, config.scale, config.crop, config.patches_per_image)
        self.g_kwargs = {"scale": config.scale, "n_blocks": config.n_blocks, "channels": config.channels,
                         "batch_norm": config.batch_norm, "bicubic_skip": config.bicubic_skip}
        self.nets = {"G": GENERATORS["srresnet"](**self.g_kwargs).to(ctx.device)}
        self.optimizers = {"G": torch.optim.Adam(self.nets["G"].parameters(), lr=config.lr,
                                                 betas=(config.beta1, config.beta2))}
        self.pixel_loss = PIXEL_LOSSES[config.pixel_loss]
        # Fixed patches (centre crops of the first images) to watch progress on.
        views = [self.data[(i % len(self.data.images), 0)] for i in range(4)]
        self.sample_lr = torch.stack([v["lr"] for v in views])
        self.sample_hr = torch.stack([v["hr"] for v in views])

    def dataset(self) -> Dataset:
        return self.data

    def step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        with self.ctx.autocast():
            sr = self.train_nets["G"](batch["lr"])
            loss = self.pixel_loss(sr.float(), batch["hr"])
        self.ctx.backward_step(loss, "G")
        return {"pixel": loss.detach()}

    def sample_grid(self) -> torch.Tensor:
        """Rows of (bicubic, model, HR)."""
        lr, hr = self.sample_lr.to(self.ctx.device), self.sample_hr.to(self.ctx.device)
        sr = self.eval_net("G").eval()(lr).float().clamp(0, 1)
        bicubic = F.interpolate(lr, scale_factor=self.config.scale, mode="bicubic", align_corners=False).clamp(0, 1)
        return torch.stack([bicubic, sr, hr], dim=1).flatten(0, 1)

    def model_files(self) -> dict:
        spec = ModelSpec(task="super-resolution", arch="srresnet", arch_kwargs=self.g_kwargs, in_channels=3,
                         out_channels=3, value_range=(0.0, 1.0), scale=self.config.scale)
        return {f"sr_x{self.config.scale}": (self.eval_net("G"), spec)}
