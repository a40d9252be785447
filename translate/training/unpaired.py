"""What the unpaired recipes (CycleGAN, CUT) share: two image domains, their options and checks, and how the
domains are found and named; the ResNet generator's and PatchGAN's options, the adversarial loss and Adam's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from translate.data.domains import Domain, UnalignedPairs
from translate.errors import ConfigError
from translate.losses import ADVERSARIAL_LOSSES
from translate.nets.layers import NORMS
from translate.nets.resnet import UPSAMPLES
from translate.training.config import MAX_LOAD_SIDE, check_adam, check_choices, check_names, check_range, option


@dataclass(frozen=True)
class UnpairedDataConfig:
    """The data options of an unpaired recipe; its config class derives from this one."""

    domainA: str | None = option(None, "folder of domain A images, the inputs (searched recursively), e.g. photos")  # noqa: N815
    domainB: str | None = option(None, "folder of domain B images, e.g. vangogh")  # noqa: N815
    dataroot: str | None = option(None, "alternatively a folder with trainA/ and trainB/ (the public sets)")
    names: tuple[str, ...] = option((), "names of domains A and B in the model files, e.g. photo monet (default: "
                                    "the folders' names, or the two halves of a dataroot named like horse2zebra)")
    crop: int = option(256, "training crop size (a multiple of 4)")
    load_size: int = option(286, "shorter side before cropping")
    scale_jitter: float = option(1.0, "scale the shorter side by up to this factor more (single-image domains)")
    flip: bool = option(True, "random horizontal flips")
    min_items: int = option(200, "at least this many items per epoch (tiny domains)")
    hold_out: int = option(0, "keep the last N images of domain A (sorted by name) out of training as a test set; "
                              "evaluate-translation --hold-out N tests on the same images")

    def check_data(self, min_crop: int) -> None:
        """ConfigError for data options that cannot work; `min_crop`: what the discriminator needs."""
        check_range("crop", self.crop, max(8, min_crop))  # PatchGAN: its last norm needs 2x2 values
        if self.crop % 4:
            raise ConfigError(f"crop must be a multiple of 4, got {self.crop}")
        check_range("scale_jitter", self.scale_jitter, 1.0)
        check_range("load_size", self.load_size, self.crop, int(MAX_LOAD_SIDE / self.scale_jitter))
        for name in ("min_items", "hold_out"):
            check_range(name, getattr(self, name), 0)
        if self.names and len(self.names) != 2:
            raise ConfigError(f"names must be two domain names, got {list(self.names)}")
        check_names(self.names)

    def domain_folders(self) -> tuple[Path, Path]:
        if self.dataroot:
            if self.domainA or self.domainB:
                raise ConfigError("give --dataroot or --domainA/--domainB, not both")
            return Path(self.dataroot) / "trainA", Path(self.dataroot) / "trainB"
        if not (self.domainA and self.domainB):
            raise ConfigError("give --domainA and --domainB (image folders), or --dataroot with trainA/ and trainB/")
        return Path(self.domainA), Path(self.domainB)


UNPAIRED_CPU_PRESET = {"crop": 128, "load_size": 256, "ngf": 32, "n_blocks": 6, "upsample": "resize"}
"""The bundled vangogh's network and crop: random 128 crops of images scaled to 256, a generator with half the
paper's channels (ngf 32), 6 blocks and resize-convolutions (no checkerboard): about 15x fewer operations a step
than the paper's 256 crops, ngf 64 and 9 blocks."""


@dataclass(frozen=True)
class UnpairedConfig(UnpairedDataConfig):
    """The options of an unpaired recipe's nets (ResNet generators, PatchGAN discriminators) and optimiser,
    beside its data; its config class derives from this one and calls :meth:`check_unpaired`."""

    ngf: int = option(64, "generator base channels")
    n_blocks: int = option(9, "generator residual blocks (6 for 128 crops, 9 for 256 in the paper)")
    norm: str = option("instance", "normalisation: instance, batch, layer or none", choices=NORMS)
    upsample: str = option("transpose", "generator upsampling: transpose (reference) or resize (no checkerboard)",
                           choices=UPSAMPLES)
    ndf: int = option(64, "discriminator base channels")
    d_layers: int = option(3, "PatchGAN layers (3: 70x70 patches)")
    gan_loss: str = option("lsgan", "adversarial objective", choices=tuple(ADVERSARIAL_LOSSES))
    lr: float = option(2e-4, "Adam learning rate of every net")
    beta1: float = option(0.5, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")

    @property
    def generator_kwargs(self) -> dict[str, object]:
        """The ResnetGenerator arguments these options give (also what its model files' spec records)."""
        return {"ngf": self.ngf, "n_blocks": self.n_blocks, "norm": self.norm, "upsample": self.upsample}

    def check_unpaired(self, recipe: str, min_crop: int) -> None:
        """ConfigError for options that cannot work; `recipe` names it in messages, `min_crop`: what its
        discriminator needs."""
        check_choices(self)
        if self.gan_loss == "wgan_gp":
            raise ConfigError(f"gan_loss wgan_gp is for train-gan ({recipe} has no gradient penalty); use lsgan, "
                              "non_saturating or hinge")
        check_range("d_layers", self.d_layers, 1, 6)
        self.check_data(min_crop)
        for name in ("ngf", "ndf"):
            check_range(name, getattr(self, name), 1)
        check_range("n_blocks", self.n_blocks, 0)
        check_adam(self.lr, self.beta1, self.beta2)


@dataclass
class UnpairedData:
    domain_a: Domain
    domain_b: Domain
    names: tuple[str, str]
    pairs: UnalignedPairs


def load_unpaired(config: UnpairedDataConfig) -> UnpairedData:
    """The two domains (domain A less its held-out images), their names and the training pairs."""
    folder_a, folder_b = config.domain_folders()
    for folder in (folder_a, folder_b):
        if not folder.is_dir():
            hint = (f"; the public set can be fetched with: translate-datasets {folder.parent.name}"
                    if folder.name in ("trainA", "trainB") else "; pass a folder of images")
            raise ConfigError(f"{folder}: no such folder{hint}")
    domain_a, domain_b = Domain(folder_a, hold_out=config.hold_out), Domain(folder_b)
    if config.names:
        names = tuple(config.names)
    elif config.dataroot:  # trainA/trainB say nothing; the set's name ("horse2zebra") is better
        left, _, right = Path(config.dataroot).name.partition("2")
        names = (left or "A", right or "B")
    else:
        names = (domain_a.name, domain_b.name)
    pairs = UnalignedPairs(domain_a, domain_b, config.crop, config.load_size, config.scale_jitter, config.flip,
                           config.min_items)
    return UnpairedData(domain_a, domain_b, names, pairs)
