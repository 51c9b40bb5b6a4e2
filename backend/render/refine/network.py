"""The refiner's networks: a U-Net generator with an attention output (Yi et al. 2020 / Pumarola et al.
2018: a colour image C and a mask A; the result is A * C + (1 - A) * coarse render) and the 70x70
PatchGAN discriminator of pix2pix (three stride-2 and two stride-1 4x4 convolutions: a 70 px receptive
field), whose intermediate features also give the feature-matching loss."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

FRAME_CHANNELS = 6  # per frame of the window: composite RGB, face hull, mouth cavity, eye holes
WINDOW = 3  # frames t-1, t, t+1
MEMORY_CHANNELS = 3  # the retrieved real appearance of the mouth and eyes (RGB)


def in_channels() -> int:
    return WINDOW * FRAME_CHANNELS + MEMORY_CHANNELS


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(max(1, min(8, channels // 4)), channels)


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), _norm(cout),
                         nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(cout, cout, 3, 1, 1),
                         _norm(cout), nn.LeakyReLU(0.2, inplace=True))


class Generator(nn.Module):
    """x [B, in_channels, R, R] -> (colour [B,3,R,R] in 0..1, attention [B,1,R,R] in 0..1)."""

    def __init__(self, width: int = 16, levels: int = 4) -> None:
        super().__init__()
        chans = [width * 2 ** min(i, 3) for i in range(levels + 1)]
        self.inc = _block(in_channels(), chans[0], 1)
        self.down = nn.ModuleList(_block(chans[i], chans[i + 1], 2) for i in range(levels))
        self.up = nn.ModuleList(_block(chans[i + 1] + chans[i], chans[i], 1) for i in reversed(range(levels)))
        self.out = nn.Conv2d(chans[0], 4, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = [self.inc(x)]
        for layer in self.down:
            skips.append(layer(skips[-1]))
        h = skips.pop()
        for layer in self.up:
            skip = skips.pop()
            h = layer(torch.cat([F.interpolate(h, size=skip.shape[-2:], mode="nearest"), skip], 1))
        y = self.out(h)
        return torch.sigmoid(y[:, :3]), torch.sigmoid(y[:, 3:4])


def blend(colour: torch.Tensor, attention: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """The attention output at the coarse render's size: colour and mask up-sampled (bilinear) when the
    networks run at a lower resolution, so the real background pixels keep their full sharpness."""
    if colour.shape[-1] != coarse.shape[-1]:
        size = coarse.shape[-2:]
        colour = F.interpolate(colour, size=size, mode="bilinear", align_corners=False)
        attention = F.interpolate(attention, size=size, mode="bilinear", align_corners=False)
    return attention * colour + (1 - attention) * coarse


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN over (condition, image): -> (logits [B,1,h,w], intermediate features)."""

    def __init__(self, cond_channels: int, width: int = 16) -> None:
        super().__init__()
        c = [cond_channels + 3, width, width * 2, width * 4, width * 8]
        layers = []
        for i, stride in enumerate((2, 2, 2, 1)):
            norm = nn.Identity() if i == 0 else _norm(c[i + 1])
            layers.append(nn.Sequential(nn.Conv2d(c[i], c[i + 1], 4, stride, 1), norm, nn.LeakyReLU(0.2, True)))
        self.layers = nn.ModuleList(layers)
        self.head = nn.Conv2d(c[-1], 1, 4, 1, 1)

    def forward(self, cond: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = torch.cat([cond, image], 1)
        feats = []
        for layer in self.layers:
            h = layer(h)
            feats.append(h)
        return self.head(h), feats
