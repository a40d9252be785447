"""The ResNet image-to-image generator of CycleGAN (Johnson et al. 2016; Zhu et al. 2017).

7x7 stem, two stride-2 downsamples, residual blocks with reflection padding, two upsamples, 7x7 output and
tanh. Upsampling is a transposed convolution (the reference) or nearest-neighbour resize followed by a 3x3
convolution ("resize"), which avoids checkerboard artefacts (Odena et al. 2016). Inputs and outputs in
[-1, 1]; height and width must be multiples of 4.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from translate.nets.layers import init_normal, norm_layer
from translate.nets.winograd import Conv3x3

UPSAMPLES = ("transpose", "resize")


class ResnetBlock(nn.Module):
    def __init__(self, channels: int, norm: str, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), Conv3x3(channels, channels, bias=norm != "batch"),
                                   norm_layer(norm, channels), nn.ReLU(inplace=True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), Conv3x3(channels, channels, bias=norm != "batch"),
                   norm_layer(norm, channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """(N, in_channels, H, W) in [-1, 1] -> (N, out_channels, H, W) in [-1, 1]; H, W multiples of 4."""

    size_multiple = 4

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", upsample: str = "transpose", dropout: float = 0.0) -> None:
        super().__init__()
        if upsample not in UPSAMPLES:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLES)}, got {upsample!r}")
        bias = norm != "batch"  # batch norm's shift makes a conv bias redundant
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   norm_layer(norm, ngf), nn.ReLU(inplace=True)]
        width = ngf
        for _ in range(2):
            layers += [nn.Conv2d(width, width * 2, 3, stride=2, padding=1, bias=bias), norm_layer(norm, width * 2),
                       nn.ReLU(inplace=True)]
            width *= 2
        layers += [ResnetBlock(width, norm, dropout) for _ in range(n_blocks)]
        self.encoder_depth = len(layers)  # body[:encoder_depth] is the encoder whose activations encode() taps
        for _ in range(2):
            if upsample == "transpose":
                layers.append(nn.ConvTranspose2d(width, width // 2, 3, stride=2, padding=1, output_padding=1,
                                                  bias=bias))
            else:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                           Conv3x3(width, width // 2, bias=bias)]
            layers += [norm_layer(norm, width // 2), nn.ReLU(inplace=True)]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def encode(self, x: torch.Tensor, layers: Sequence[int]) -> list[torch.Tensor]:
        """The activations after each of `layers` (indices into `body`, each below `encoder_depth`), in that
        order; the layers after the deepest one are not run. With the default layout, 0 is the reflection-padded
        input, 4 and 7 the two downsampling convolutions, 10 + i the i-th residual block (from 0)."""
        return self._run(x, layers, max(layers, default=-1) + 1)[1]

    def forward_and_encode(self, x: torch.Tensor, layers: Sequence[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The output (as :meth:`forward`) and the activations of :meth:`encode`, from one pass."""
        return self._run(x, layers, len(self.body))

    def _run(self, x: torch.Tensor, layers: Sequence[int], stop: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        wanted = set(layers)
        outside = sorted(i for i in wanted if not 0 <= i < self.encoder_depth)
        if outside:
            raise ValueError(f"encoder layers are 0 to {self.encoder_depth - 1}, got {outside}")
        taps: dict[int, torch.Tensor] = {}
        for i in range(stop):
            x = self.body[i](x)
            if i in wanted:
                # an in-place ReLU after it (perhaps behind an Identity, norm "none") would overwrite the tap
                taps[i] = x.clone() if self._overwritten_later(i) else x
        return x, [taps[i] for i in layers]

    def _overwritten_later(self, index: int) -> bool:
        later = next((m for m in self.body[index + 1:] if not isinstance(m, nn.Identity)), None)
        return isinstance(later, nn.ReLU) and later.inplace
