"""The CycleGAN recipe (Zhu et al. 2017): two generators and two PatchGAN discriminators trained on unpaired
domains with adversarial, cycle-consistency and identity losses, discriminators fed from image pools."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from translate.data.augment import centre_view
from translate.data.convert import to_tensor
from translate.losses import adversarial_loss
from translate.model_spec import ModelSpec
from translate.nets import DISCRIMINATORS, GENERATORS
from translate.training.config import check_range, option
from translate.training.recipe import Recipe, TrainContext
from translate.training.unpaired import UNPAIRED_CPU_PRESET, UnpairedConfig, load_unpaired


class ImagePool:
    """A history of generated images (Shrivastava et al. 2017) that the discriminators also learn from.

    Until `size` images are stored each query image is stored and returned. Once full, each query image is,
    with probability 1/2, swapped for a random stored one (which is returned; the new image takes its
    place), otherwise returned as is. size 0 disables the pool.

    The images live in one tensor on their device and the coin flips and slot choices are drawn there too,
    as tensor operations: a query never waits for the GPU (no value comes back to the host), so the step
    around it stays asynchronous and can be captured in a CUDA graph.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.count = 0
        self._store: torch.Tensor | None = None

    @property
    def images(self) -> torch.Tensor | list:
        """The stored images, (count, C, H, W)."""
        return [] if self._store is None else self._store[:self.count]

    @images.setter
    def images(self, images: list[torch.Tensor]) -> None:
        """Restore stored images (a resumed run); a pool saved with more images than `size` keeps them all."""
        self.count, self._store = len(images), None
        if images:
            stacked = torch.stack(list(images))
            self._store = stacked.new_empty((max(self.size, self.count), *stacked.shape[1:]))
            self._store[:self.count] = stacked

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) generated images -> (N, C, H, W) images for the discriminator, detached."""
        images = images.detach()
        if self.size == 0:
            return images
        if self._store is None:
            self._store = images.new_empty((self.size, *images.shape[1:]))
        store = self._store
        capacity = store.shape[0]
        out = []
        for image in images:
            image = image[None]
            if self.count < capacity:  # filling: the count is known on the host, no draw needed
                store[self.count:self.count + 1] = image
                self.count += 1
                out.append(image)
                continue
            swap = torch.rand((), device=store.device) < 0.5
            slot = torch.randint(capacity, (1,), device=store.device)
            stored = store.index_select(0, slot)
            kept = image.to(store.dtype)
            out.append(torch.where(swap, stored.to(image.dtype), image))
            store.index_copy_(0, slot, torch.where(swap, kept, stored))
        return torch.cat(out)


@dataclass(frozen=True)
class CycleganConfig(UnpairedConfig):
    discriminator: str = option("patch", "patch or pixel", choices=("patch", "pixel"))
    spectral_norm: bool = option(False, "spectral norm in the discriminators")
    lambda_cycle: float = option(10.0, "weight of the cycle-consistency L1 loss")
    lambda_identity: float = option(0.5, "identity loss weight, as a fraction of lambda_cycle")
    pool_size: int = option(50, "generated images kept for the discriminators (0 = off)")

    def __post_init__(self) -> None:
        self.check_unpaired("CycleGAN", 3 * 2**self.d_layers if self.discriminator == "patch" else 8)
        for name in ("pool_size", "lambda_cycle", "lambda_identity"):
            check_range(name, getattr(self, name), 0)


class CycleganRecipe(Recipe):
    name = "cyclegan"
    config_class = CycleganConfig
    ema_nets = ("G_A2B", "G_B2A")
    lr_decay_from_half = True
    cpu_preset = UNPAIRED_CPU_PRESET
    sample_columns = 3
    sample_column_labels = ("input", "translation", "reconstruction")

    def __init__(self, config: CycleganConfig, ctx: TrainContext) -> None:
        super().__init__(config, ctx)
        data = load_unpaired(config)
        self.domain_a, self.domain_b, self.names, self.data = data.domain_a, data.domain_b, data.names, data.pairs
        self.g_kwargs = config.generator_kwargs
        if config.discriminator == "patch":
            d_kwargs = {"ndf": config.ndf, "n_layers": config.d_layers, "norm": config.norm,
                        "spectral_norm": config.spectral_norm}
        else:
            d_kwargs = {"ndf": config.ndf, "norm": config.norm, "spectral_norm": config.spectral_norm}
        dev = ctx.device
        self.nets = {"G_A2B": GENERATORS["resnet"](**self.g_kwargs).to(dev),
                     "G_B2A": GENERATORS["resnet"](**self.g_kwargs).to(dev),
                     "D_A": DISCRIMINATORS[config.discriminator](**d_kwargs).to(dev),
                     "D_B": DISCRIMINATORS[config.discriminator](**d_kwargs).to(dev)}
        betas = (config.beta1, config.beta2)
        self.optimizers = {
            "G": ctx.adam([*self.nets["G_A2B"].parameters(), *self.nets["G_B2A"].parameters()], config.lr, betas),
            "D": ctx.adam([*self.nets["D_A"].parameters(), *self.nets["D_B"].parameters()], config.lr, betas),
        }
        self.loss = adversarial_loss(config.gan_loss)
        self.pools = {"A": ImagePool(config.pool_size), "B": ImagePool(config.pool_size)}

    def dataset(self) -> Dataset:
        return self.data

    def _joint(self, net: torch.nn.Module, *inputs: torch.Tensor, batchable: bool) -> tuple[torch.Tensor, ...]:
        """net applied to each input. With per-sample normalisation the inputs go through as one batch: the
        same maths in fewer, larger calls (larger matrix products for the Winograd residual blocks)."""
        if not batchable or len(inputs) == 1:
            return tuple(net(x) for x in inputs)
        return net(torch.cat(inputs)).split([x.shape[0] for x in inputs])

    def step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        c, ctx, n = self.config, self.ctx, self.train_nets
        real_a, real_b = batch["A"], batch["B"]
        per_sample = c.norm != "batch"  # batch norm would mix the samples of a joint call
        identity_on = c.lambda_identity > 0
        with contextlib.ExitStack() as frozen:
            frozen.enter_context(ctx.frozen(n["D_A"]))
            frozen.enter_context(ctx.frozen(n["D_B"]))
            with ctx.autocast():
                fake_b, *idt_b = self._joint(n["G_A2B"], real_a, *([real_b] if identity_on else []),
                                             batchable=per_sample)
                fake_a, rec_a, *idt_a = self._joint(n["G_B2A"], real_b, fake_b, *([real_a] if identity_on else []),
                                                    batchable=per_sample)
                (rec_b,) = self._joint(n["G_A2B"], fake_a, batchable=per_sample)
                adv = self.loss.g(n["D_B"](fake_b).float()) + self.loss.g(n["D_A"](fake_a).float())
                cycle = F.l1_loss(rec_a.float(), real_a) + F.l1_loss(rec_b.float(), real_b)
                loss_g = adv + c.lambda_cycle * cycle
                losses = {"g_adv": adv.detach(), "cycle": cycle.detach()}
                if identity_on:
                    identity = F.l1_loss(idt_b[0].float(), real_b) + F.l1_loss(idt_a[0].float(), real_a)
                    loss_g = loss_g + c.lambda_cycle * c.lambda_identity * identity
                    losses["identity"] = identity.detach()
            ctx.backward_step(loss_g, "G")

        pooled_a, pooled_b = self.pools["A"].query(fake_a), self.pools["B"].query(fake_b)
        joint_d = per_sample and not c.spectral_norm  # spectral norm's power iteration runs once per call
        with ctx.autocast():
            real_out, fake_out = self._joint(n["D_A"], real_a, pooled_a, batchable=joint_d)
            d_a = self.loss.d(real_out.float(), fake_out.float())
            real_out, fake_out = self._joint(n["D_B"], real_b, pooled_b, batchable=joint_d)
            d_b = self.loss.d(real_out.float(), fake_out.float())
            loss_d = 0.5 * (d_a + d_b)  # the paper's halving (with Adam it does not change the step size)
        ctx.backward_step(loss_d, "D")
        return {**losses, "d_A": d_a.detach(), "d_B": d_b.detach()}

    def _fixed_views(self) -> tuple[torch.Tensor, torch.Tensor]:
        views = []
        for domain in (self.domain_a, self.domain_b):
            pixels = centre_view(domain.image(0), self.config.crop, self.config.load_size)
            views.append(to_tensor(pixels, (-1.0, 1.0))[None].to(self.ctx.device))
        return views[0], views[1]

    def sample_row_labels(self) -> tuple[str, ...]:
        a, b = self.names
        return (f"{a} -> {b}", f"{b} -> {a}")

    def sample_grid(self) -> torch.Tensor:
        """Rows: A, A->B, A->B->A, then B, B->A, B->A->B."""
        a, b = self._fixed_views()
        g_ab, g_ba = self.eval_net("G_A2B").eval(), self.eval_net("G_B2A").eval()
        fake_b, fake_a = g_ab(a), g_ba(b)
        images = torch.cat([a, fake_b, g_ba(fake_b), b, fake_a, g_ab(fake_a)])
        return (images.float() + 1) / 2

    def model_files(self) -> dict:
        a, b = self.names
        files = {}
        for stem, domains in (("G_A2B", (a, b)), ("G_B2A", (b, a))):
            spec = ModelSpec(task="translation", arch="resnet", arch_kwargs=self.g_kwargs, in_channels=3,
                             out_channels=3, size_multiple=4, domains=domains, min_multiples=2, paired_input=False,
                             direction="AtoB" if stem == "G_A2B" else "BtoA")
            files[stem] = (self.eval_net(stem), spec)
        return files

    def state_dict(self) -> dict:
        return {name: [image.clone() for image in pool.images] for name, pool in self.pools.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, pool in self.pools.items():
            pool.images = [t.to(self.ctx.device) for t in state.get(name, [])]
