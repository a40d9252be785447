"""Network families and the name -> constructor tables that model files and recipes refer to."""

from torch import nn

from translate.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from translate.nets.mlp import MLPDiscriminator, MLPGenerator
from translate.nets.patchgan import PatchDiscriminator, PixelDiscriminator
from translate.nets.resnet import ResnetGenerator
from translate.nets.srresnet import SRDiscriminator, SRResNet
from translate.nets.unet import UnetGenerator

GENERATORS = {
    "mlp": MLPGenerator,
    "dcgan": DCGANGenerator,
    "srresnet": SRResNet,
    "resnet": ResnetGenerator,
    "unet": UnetGenerator,
}

DISCRIMINATORS = {
    "mlp": MLPDiscriminator,
    "dcgan": DCGANDiscriminator,
    "srgan": SRDiscriminator,
    "patch": PatchDiscriminator,
    "pixel": PixelDiscriminator,
}


def build(table: dict, name: str, **kwargs) -> nn.Module:
    """Construct `table[name](**kwargs)`; an unknown name raises KeyError listing the known ones."""
    if name not in table:
        raise KeyError(f"unknown network {name!r}; choose one of {', '.join(sorted(table))}")
    return table[name](**kwargs)
