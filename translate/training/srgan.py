"""The super-resolution recipe (Ledig et al. 2017). Stage "psnr": SRResNet trained with a pixel loss.
Stage "gan": SRGAN, starting from a psnr model, trained with a content loss (VGG19 relu5_4 features, or
the discriminator's own features where no VGG weights are at hand) plus 1e-3 x the adversarial loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from translate.checkpoint import load_model, read_spec
from translate.data.degrade import DEGRADATIONS
from translate.data.sr_patches import SRPatches
from translate.errors import ConfigError
from translate.losses import VGGPerceptualLoss, d_logistic, g_non_saturating
from translate.model_spec import ModelSpec
from translate.nets import DISCRIMINATORS, GENERATORS
from translate.nets.srresnet import SCALES
from translate.training.config import check_adam, check_choices, check_range, option
from translate.training.recipe import Recipe, TrainContext

PIXEL_LOSSES = {"l1": F.l1_loss, "mse": F.mse_loss}


@dataclass(frozen=True)
class SrganConfig:
    data: tuple[str, ...] = option((), "folders of HR training images (searched recursively), e.g. the 291 set: "
                                       "sr/T91 sr/BSD200; never the test sets")
    scale: int = option(4, "upscaling factor: 2, 3, 4 or 8", choices=SCALES)
    crop: int = option(96, "HR patch size (LR patches are crop / scale)")
    patches_per_image: int = option(100, "random patches per image in one epoch")
    scale_jitter: float = option(1.0, "shrink each HR image by a random factor in [this, 1] before cropping "
                                      "(1: no jitter; VDSR's 291 augmentation goes down to 0.6)")
    degradation: str = option("bicubic", "how LR patches are made: bicubic (clean, as the benchmarks), realistic "
                              "(one pass of blur, bicubic, noise, JPEG) or second-order (two passes of random blur "
                              "kernels, resizes, Gaussian or Poisson noise and JPEG, as photos passed around the web: "
                              "for real-world photos)", choices=DEGRADATIONS)
    n_blocks: int = option(16, "residual blocks in the generator")
    channels: int = option(64, "feature channels in the generator")
    batch_norm: bool = option(False, "batch norm in the residual blocks (SRGAN paper: on; EDSR: off)")
    bicubic_skip: bool = option(False, "add the bicubic upscaled input to the output (learn the residual)")
    pixel_loss: str = option("l1", "pixel loss: l1 or mse", choices=tuple(PIXEL_LOSSES))
    stage: str = option("psnr", "psnr (SRResNet, pixel loss) or gan (SRGAN, from --init)", choices=("psnr", "gan"))
    init: str | None = option(None, "the model file to start the generator from: a psnr-stage model for the gan "
                               "stage (required), or any x-scale model to fine-tune in the psnr stage")
    content_loss: str = option("vgg", "gan stage: vgg (VGG19 relu5_4, needs --vgg-weights) or feature_matching "
                               "(L1 between the discriminator's features of output and HR; no download)",
                               choices=("vgg", "feature_matching"))
    vgg_weights: str | None = option(None, "gan stage: local VGG19 weights (torchvision's vgg19-dcbb9e9d.pth)")
    adv_weight: float = option(1e-3, "gan stage: weight of the adversarial loss")
    pixel_weight: float = option(0.0, "gan stage: weight of an extra pixel loss")
    d_channels: int = option(64, "gan stage: discriminator base channels")
    spectral_norm: bool = option(False, "gan stage: spectral norm in the discriminator")
    lr: float = option(2e-4, "Adam learning rate")
    beta1: float = option(0.9, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")

    def __post_init__(self) -> None:
        check_choices(self)
        if self.crop % self.scale:
            raise ConfigError(f"crop {self.crop} must be a multiple of scale {self.scale}")
        check_range("crop", self.crop, 4 * self.scale)
        if not 0.0 < self.scale_jitter <= 1.0:
            raise ConfigError(f"scale_jitter must be in (0, 1], got {self.scale_jitter}")
        for name in ("patches_per_image", "channels", "d_channels"):
            check_range(name, getattr(self, name), 1)
        for name in ("n_blocks", "adv_weight", "pixel_weight"):
            check_range(name, getattr(self, name), 0)
        check_adam(self.lr, self.beta1, self.beta2)


class SrganRecipe(Recipe):
    name = "srgan"
    config_class = SrganConfig
    ema_nets = ("G",)
    sample_columns = 3
    sample_column_labels = ("bicubic", "model", "high resolution")

    def __init__(self, config: SrganConfig, ctx: TrainContext) -> None:
        super().__init__(config, ctx)
        if not config.data:
            raise ConfigError("--data is required: a folder of HR training images (e.g. ../shared/data/sr/BSD68)")
        self.data = SRPatches(config.data, config.scale, config.crop, config.patches_per_image, config.degradation,
                              config.scale_jitter)
        self.g_kwargs = {"scale": config.scale, "n_blocks": config.n_blocks, "channels": config.channels,
                         "batch_norm": config.batch_norm, "bicubic_skip": config.bicubic_skip}
        generator = None
        stem = "srgan" if config.stage == "gan" else "sr"
        saved = ctx.resume_dir / "models" / f"{stem}_x{config.scale}.safetensors" if ctx.resume_dir else None
        if config.stage == "gan" and not config.init:
            raise ConfigError("--stage gan starts from a psnr-stage model: pass --init MODEL.safetensors")
        if config.init and saved is not None and saved.is_file():
            # resuming: the checkpoint brings the weights and the run's own model file the architecture, so the
            # --init file may since have moved or changed
            self.g_kwargs = dict(read_spec(saved).arch_kwargs)
        elif config.init:  # the gan stage, or a psnr stage fine-tuned from another model (new data, new LR)
            generator, spec = load_model(config.init, task="super-resolution")
            if spec.scale != config.scale:
                raise ConfigError(f"--init {config.init} is a x{spec.scale} model, but --scale is {config.scale}")
            self.g_kwargs = dict(spec.arch_kwargs)  # the architecture comes with the weights
        self.nets = {"G": (generator or GENERATORS["srresnet"](**self.g_kwargs)).train().to(ctx.device)}
        self.optimizers = {"G": ctx.adam(self.nets["G"].parameters(), config.lr, (config.beta1, config.beta2))}
        if config.stage == "gan":
            self.nets["D"] = DISCRIMINATORS["srgan"](channels=config.d_channels,
                                                    spectral_norm=config.spectral_norm).to(ctx.device)
            self.optimizers["D"] = ctx.adam(self.nets["D"].parameters(), config.lr, (config.beta1, config.beta2))
            self.vgg = (VGGPerceptualLoss.from_weights(config.vgg_weights).to(ctx.device)
                        if config.content_loss == "vgg" else None)
        self.pixel_loss = PIXEL_LOSSES[config.pixel_loss]
        # Fixed patches to watch progress on: the first images' seed-0 patches (the same every run).
        views = [self.data[(i % len(self.data.images), 0)] for i in range(4)]
        self.sample_lr = torch.stack([v["lr"] for v in views])
        self.sample_hr = torch.stack([v["hr"] for v in views])

    def dataset(self) -> Dataset:
        return self.data

    def step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        if self.config.stage == "gan":
            return self._gan_step(batch["lr"], batch["hr"])
        with self.ctx.autocast():
            sr = self.train_nets["G"](batch["lr"])
            loss = self.pixel_loss(sr.float(), batch["hr"])
        self.ctx.backward_step(loss, "G")
        return {"pixel": loss.detach()}

    def _gan_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        c, ctx, G, D = self.config, self.ctx, self.train_nets["G"], self.train_nets["D"]
        with ctx.autocast():
            sr = G(lr)
            loss_d = d_logistic(D(hr).float(), D(sr.detach()).float())
        ctx.backward_step(loss_d, "D")
        with ctx.frozen(D):
            with ctx.autocast():
                logits, fake_maps = D(sr, return_features=True)
                if self.vgg is not None:
                    content = self.vgg(sr.float(), hr)
                else:
                    with torch.no_grad():
                        real_maps = D(hr, return_features=True)[1]
                    content = sum(F.l1_loss(f.float(), r.float()) for f, r in zip(fake_maps, real_maps))
                adv = g_non_saturating(logits.float())
                pixel = self.pixel_loss(sr.float(), hr)
                loss_g = content + c.adv_weight * adv + c.pixel_weight * pixel
            ctx.backward_step(loss_g, "G")
        return {"d": loss_d.detach(), "content": content.detach(), "g_adv": adv.detach(), "pixel": pixel.detach()}

    def sample_grid(self) -> torch.Tensor:
        """Rows of (bicubic, model, HR)."""
        lr, hr = self.sample_lr.to(self.ctx.device), self.sample_hr.to(self.ctx.device)
        sr = self.eval_net("G").eval()(lr).float().clamp(0, 1)
        bicubic = F.interpolate(lr, scale_factor=self.config.scale, mode="bicubic", align_corners=False).clamp(0, 1)
        return torch.stack([bicubic, sr, hr], dim=1).flatten(0, 1)

    def model_files(self) -> dict:
        spec = ModelSpec(task="super-resolution", arch="srresnet", arch_kwargs=self.g_kwargs, in_channels=3,
                         out_channels=3, value_range=(0.0, 1.0), scale=self.config.scale, min_multiples=1)
        stem = "srgan" if self.config.stage == "gan" else "sr"
        return {f"{stem}_x{self.config.scale}": (self.eval_net("G"), spec)}
