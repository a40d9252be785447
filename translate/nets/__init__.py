"""Network families and the name -> constructor tables that model files and recipes refer to."""

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

