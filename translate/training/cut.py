"""The CUT recipe: contrastive unpaired translation (Park et al. 2020, "Contrastive Learning for Unpaired
Image-to-Image Translation").

One generator A -> B and one PatchGAN discriminator, no second generator and no cycle. Content is kept by
PatchNCE: the generator's own encoder embeds patches of the input and of the output at several layers (a
small MLP head per layer, outputs L2-normalised); each output patch must pick out the input patch at the same
place (its positive) among the other sampled patches of that image (negatives), a cross-entropy over
similarities divided by a temperature. CUT adds the same loss on domain-B images passed through the
generator (identity NCE); FastCUT drops it, weights NCE 10x and asks the generator to commute with
horizontal flips instead. Settings from the paper: 256 patches per layer, temperature 0.07, heads of 256
units, LSGAN, Adam 2e-4 (0.5, 0.999); the encoder layers are the RGB pixels, both downsampling convolutions
and the first and fifth residual blocks.

The model file is a plain A -> B translator (``G_A2B``), so serving, export and the app treat it like one
direction of a CycleGAN pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from translate.data.augment import centre_view
from translate.data.convert import to_tensor
from translate.errors import ConfigError
from translate.losses import adversarial_loss
from translate.model_spec import ModelSpec
from translate.nets import DISCRIMINATORS, GENERATORS
from translate.nets.layers import init_normal
from translate.nets.resnet import ResnetGenerator
from translate.training.config import check_range, option
from translate.training.recipe import Recipe, TrainContext
from translate.training.unpaired import UNPAIRED_CPU_PRESET, UnpairedConfig, load_unpaired

# body indices of ResnetGenerator: 0 the padded input (RGB pixels), 4 and 7 the downsampling convolutions,
# 10 the first residual block, 14 the fifth (Park et al. 2020, appendix: patches of 1, 9, 15, 35, 99 pixels)
PAPER_NCE_LAYERS = (0, 4, 7, 10, 14)


@dataclass(frozen=True)
class CutConfig(UnpairedConfig):
    lambda_gan: float = option(1.0, "weight of the adversarial loss")
    lambda_nce: float = option(1.0, "weight of the PatchNCE loss (the paper: 1 for CUT, 10 for FastCUT)")
    nce_identity: bool = option(True, "also PatchNCE between domain-B images and their translation (CUT; "
                                "FastCUT: off)")
    flip_equivariance: bool = option(False, "half the steps translate the mirrored input and compare its "
                                     "mirrored features with the input's (FastCUT)")
    nce_layers: tuple[int, ...] = option(PAPER_NCE_LAYERS, "generator encoder layers whose patches are "
                                         "compared (indices into the ResNet body; 10 + i is residual block i)")
    nce_patches: int = option(256, "patch locations sampled per layer and image")
    nce_temperature: float = option(0.07, "temperature of the PatchNCE softmax")
    nce_head_dim: int = option(256, "units of each layer's 2-layer MLP head (and of the embeddings)")

    def __post_init__(self) -> None:
        self.check_unpaired("CUT", 3 * 2**self.d_layers)
        for name in ("nce_patches", "nce_head_dim"):
            check_range(name, getattr(self, name), 1)
        for name in ("lambda_gan", "lambda_nce"):
            check_range(name, getattr(self, name), 0)
        if not self.nce_temperature > 0:
            raise ConfigError(f"nce_temperature must be positive, got {self.nce_temperature}")
        if not self.nce_layers or len(set(self.nce_layers)) != len(self.nce_layers):
            raise ConfigError(f"nce_layers must be one or more distinct layer indices, got {list(self.nce_layers)}")


class PatchHeads(nn.Module):
    """One 2-layer MLP per encoder layer: (N, C_l, H, W) features and S patch locations -> (N, S, dim) unit
    vectors (the paper's H_l)."""

    def __init__(self, channels: Sequence[int], dim: int) -> None:
        super().__init__()
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(c, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
                                  for c in channels)
        init_normal(self)

    def forward(self, features: Sequence[torch.Tensor], locations: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for mlp, feature, where in zip(self.mlps, features, locations, strict=True):
            patches = feature.flatten(2)[:, :, where].transpose(1, 2)  # (N, S, C)
            out.append(F.normalize(mlp(patches.float()), dim=-1))
        return out


def patch_nce_loss(query: torch.Tensor, key: torch.Tensor, temperature: float) -> torch.Tensor:
    """PatchNCE of one layer: mean over N images and S patches of the cross-entropy of picking key patch s for
    query patch s among the S key patches of the same image.

    query, key: (N, S, D) unit vectors (query from the output, key from the input; no gradient flows into key).
    """
    n, s, _ = query.shape
    logits = torch.bmm(query, key.detach().transpose(1, 2)) / temperature  # (N, S, S); positives on the diagonal
    return F.cross_entropy(logits.flatten(0, 1), torch.arange(s, device=query.device).repeat(n))


class EncodingGenerator(nn.Module):
    """A ResNet generator whose calls return its encoder features too, so the loop's DDP and compile wrappers
    see every call CUT makes. forward(x) -> (output, features); forward(x, encode_only=True) -> features."""

    def __init__(self, generator: ResnetGenerator, layers: Sequence[int]) -> None:
        super().__init__()
        self.generator, self.layers = generator, tuple(layers)

    def forward(self, x: torch.Tensor, encode_only: bool = False):
        if encode_only:
            return self.generator.encode(x, self.layers)
        return self.generator.forward_and_encode(x, self.layers)


class CutRecipe(Recipe):
    name = "cut"
    config_class = CutConfig
    ema_nets = ("G",)
    lr_decay_from_half = True
    cpu_preset = UNPAIRED_CPU_PRESET  # CUT: 200 epochs constant, 200 decaying
    sample_columns = 2

    def __init__(self, config: CutConfig, ctx: TrainContext) -> None:
        super().__init__(config, ctx)
        data = load_unpaired(config)
        self.domain_a, self.domain_b, self.names, self.data = data.domain_a, data.domain_b, data.names, data.pairs
        self.g_kwargs = config.generator_kwargs
        dev = ctx.device
        generator = GENERATORS["resnet"](**self.g_kwargs).to(dev)
        deepest = generator.encoder_depth - 1
        if max(config.nce_layers) > deepest or min(config.nce_layers) < 0:
            raise ConfigError(f"nce_layers must be encoder layers 0 to {deepest} (10 + i is residual block i; "
                              f"n_blocks {config.n_blocks}), got {list(config.nce_layers)}")
        probe = torch.zeros(1, 3, 16, 16, device=dev)
        with torch.no_grad():
            was_training = generator.training
            channels = [f.shape[1] for f in generator.eval().encode(probe, config.nce_layers)]
            generator.train(was_training)
        self.nets = {"G": EncodingGenerator(generator, config.nce_layers),
                     "F": PatchHeads(channels, config.nce_head_dim).to(dev),
                     "D": DISCRIMINATORS["patch"](ndf=config.ndf, n_layers=config.d_layers, norm=config.norm).to(dev)}
        betas = (config.beta1, config.beta2)
        self.optimizers = {
            "G": torch.optim.Adam([*self.nets["G"].parameters(), *self.nets["F"].parameters()], lr=config.lr,
                                  betas=betas),
            "D": torch.optim.Adam(self.nets["D"].parameters(), lr=config.lr, betas=betas),
        }
        self.loss = adversarial_loss(config.gan_loss)
        self.per_sample = config.norm != "batch"  # batch norm would mix the images of a joint call

    def dataset(self) -> Dataset:
        return self.data

    def _generate(self, *inputs: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        """(output, encoder features) of each input; one joint call where the norm is per sample."""
        g = self.train_nets["G"]
        if not self.per_sample or len(inputs) == 1:
            return [g(x) for x in inputs]
        sizes = [x.shape[0] for x in inputs]
        out, features = g(torch.cat(inputs))
        per_feature = [f.split(sizes) for f in features]
        return [(o, [f[i] for f in per_feature]) for i, o in enumerate(out.split(sizes))]

    def _encode(self, *inputs: torch.Tensor) -> list[list[torch.Tensor]]:
        g = self.train_nets["G"]
        if not self.per_sample or len(inputs) == 1:
            return [g(x, encode_only=True) for x in inputs]
        sizes = [x.shape[0] for x in inputs]
        per_feature = [f.split(sizes) for f in g(torch.cat(inputs), encode_only=True)]
        return [[f[i] for f in per_feature] for i in range(len(inputs))]

    def _nce(self, query_features: list[torch.Tensor], key_features: list[torch.Tensor]) -> torch.Tensor:
        """PatchNCE averaged over the layers, patch locations drawn afresh per layer (shared by the batch)."""
        c, heads = self.config, self.train_nets["F"]
        locations = [torch.randperm(k.shape[2] * k.shape[3], device=k.device)[: c.nce_patches] for k in key_features]
        with torch.no_grad():
            keys = heads(key_features, locations)
        queries = heads(query_features, locations)
        losses = [patch_nce_loss(q, k, c.nce_temperature) for q, k in zip(queries, keys)]
        return torch.stack(losses).mean()

    def step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        c, ctx, n = self.config, self.ctx, self.train_nets
        real_a, real_b = batch["A"], batch["B"]
        mirrored = c.flip_equivariance and bool(torch.rand(()) < 0.5)
        source = real_a.flip(3) if mirrored else real_a
        with ctx.autocast():
            results = self._generate(source, *([real_b] if c.nce_identity else []))
        fake_b, source_features = results[0]

        with ctx.autocast():
            real_out, fake_out = self._discriminate(real_b, fake_b.detach())
            loss_d = 0.5 * self.loss.d(real_out.float(), fake_out.float())  # halved as in CycleGAN and CUT
        ctx.backward_step(loss_d, "D")

        with ctx.frozen(n["D"]), ctx.autocast():
            adv = self.loss.g(n["D"](fake_b).float())
            outputs = [fake_b, *([results[1][0]] if c.nce_identity else [])]
            queries = self._encode(*outputs)
            if mirrored:
                # the key is the unmirrored input's encoding; the output's features are mirrored back onto it
                with torch.no_grad():
                    (keys,) = self._encode(real_a)
                nce = self._nce([q.flip(3) for q in queries[0]], keys)
            else:
                nce = self._nce(queries[0], [f.detach() for f in source_features])
            losses = {"g_adv": adv.detach(), "nce": nce.detach()}
            total_nce = nce
            if c.nce_identity:
                nce_idt = self._nce(queries[1], [f.detach() for f in results[1][1]])
                total_nce = 0.5 * (nce + nce_idt)
                losses["nce_idt"] = nce_idt.detach()
            loss_g = c.lambda_gan * adv + c.lambda_nce * total_nce
        ctx.backward_step(loss_g, "G")
        return {**losses, "d": loss_d.detach()}

    def _discriminate(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.train_nets["D"]
        if not self.per_sample:
            return d(real), d(fake)
        real_out, fake_out = d(torch.cat([real, fake])).split([real.shape[0], fake.shape[0]])
        return real_out, fake_out

    def generator(self) -> ResnetGenerator:
        """The generator sampling and the model file use (the EMA copy when there is one)."""
        return self.eval_net("G").generator

    def sample_grid(self) -> torch.Tensor:
        """Rows: A and its translation, then B and the generator's output for it (which identity NCE keeps
        close to B)."""
        views = []
        for domain in (self.domain_a, self.domain_b):
            pixels = centre_view(domain.image(0), self.config.crop, self.config.load_size)
            views.append(to_tensor(pixels, (-1.0, 1.0))[None].to(self.ctx.device))
        g = self.generator().eval()
        images = torch.cat([views[0], g(views[0]), views[1], g(views[1])])
        return (images.float() + 1) / 2

    def model_files(self) -> dict:
        spec = ModelSpec(task="translation", arch="resnet", arch_kwargs=self.g_kwargs, in_channels=3,
                         out_channels=3, size_multiple=4, domains=self.names, min_multiples=2, paired_input=False,
                         direction="AtoB")
        return {"G_A2B": (self.generator(), spec)}
