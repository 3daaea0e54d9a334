"""Networks of the translators: CycleGAN's ResNet generator and PatchGAN discriminator, and the
small segmentation net that VR-Goggles' semantic loss uses. Kept apart from the training loop."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from torch import Tensor, nn


class ResnetBlock(nn.Module):
    """Two reflect-padded 3x3 convolutions with instance norm and a skip connection."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


UPSAMPLING = ("transpose", "resize")


def _up(cin: int, cout: int, upsample: str) -> list[nn.Module]:
    """One x2 upsampling step: CycleGAN's transposed convolution, or resize-then-convolve (nearest
    x2, then a reflect-padded 3x3 convolution), which has no checkerboard (Odena et al., 2016)."""
    if upsample == "transpose":
        return [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)]
    if upsample == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    raise ValueError(f"upsample must be one of {', '.join(UPSAMPLING)}, got {upsample!r}")


def encoder_points(n_blocks: int, n_down: int = 2) -> tuple[str, ...]:
    """The names of the encoder features :meth:`Generator.encode` gives, in forward order: ``input``
    (the frame itself), ``down1``.. (each stride-2 convolution's output, before its norm) and
    ``block1``.. (each residual block's output).

    >>> encoder_points(3)
    ('input', 'down1', 'down2', 'block1', 'block2', 'block3')
    """
    return ("input", *(f"down{k}" for k in range(1, n_down + 1)), *(f"block{k}" for k in range(1, n_blocks + 1)))


class Generator(nn.Module):
    """What every generator shares: its total stride, the ``architecture`` entry it is saved as,
    and :meth:`encode`, its encoder's features by name (CUT's PatchNCE reads them)."""

    name: str
    ngf: int
    n_blocks: int
    n_down: int
    upsample: str

    @property
    def stride(self) -> int:
        """Total downsampling factor; shifts below it are what the shift loss regularises."""
        return 2**self.n_down

    def architecture(self) -> dict:
        """The translator file's ``architecture`` entry (what ``build_generator`` reads back)."""
        return {"name": self.name, "ngf": self.ngf, "n_blocks": self.n_blocks, "n_down": self.n_down,
                "upsample": self.upsample}

    def encoder_points(self) -> tuple[str, ...]:
        """The feature names :meth:`encode` takes (see :func:`encoder_points`)."""
        return encoder_points(self.n_blocks, self.n_down)

    def encode(self, x: Tensor, points: Sequence[str]) -> list[Tensor]:
        """The encoder's features at ``points`` (names of :meth:`encoder_points`), in that order,
        computed by the generator's own layers and only as deep as the deepest point asked for.

        >>> import torch
        >>> [f.shape[1:] for f in ResnetGenerator(ngf=4, n_blocks=2).encode(torch.zeros(1, 3, 16, 16),
        ...                                                                 ["input", "down2", "block1"])]
        [torch.Size([3, 16, 16]), torch.Size([16, 4, 4]), torch.Size([16, 4, 4])]
        """
        unknown = [p for p in points if p not in self.encoder_points()]
        if unknown:
            raise ValueError(f"unknown encoder feature(s) {', '.join(unknown)}; this generator has "
                             f"{', '.join(self.encoder_points())}")
        wanted, found = set(points), {}
        for name, feature in self._encoder(x):
            if name in wanted:
                found[name] = feature
                if len(found) == len(wanted):
                    break
        return [found[p] for p in points]

    def _encoder(self, x: Tensor) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(name, feature)`` for each of :meth:`encoder_points`, lazily, in forward order."""
        raise NotImplementedError


class ResnetGenerator(Generator):
    """CycleGAN's generator: 7x7 stem, ``n_down`` stride-2 downsamplings, residual blocks, mirrored
    upsampling (``transpose``, or ``resize`` then convolve), tanh output in [-1, 1]. Total stride
    ``2 ** n_down`` (the shift loss uses it).

    >>> import torch
    >>> ResnetGenerator(ngf=8, n_blocks=1)(torch.zeros(1, 3, 16, 16)).shape
    torch.Size([1, 3, 16, 16])
    >>> ResnetGenerator(ngf=8, n_blocks=1, upsample="resize")(torch.zeros(1, 3, 16, 16)).shape
    torch.Size([1, 3, 16, 16])
    """

    name = "resnet"

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 32, n_blocks: int = 6,
                 n_down: int = 2, upsample: str = "transpose") -> None:
        super().__init__()
        self.ngf, self.n_blocks, self.n_down, self.upsample = ngf, n_blocks, n_down, upsample
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), nn.InstanceNorm2d(ngf),
                                   nn.ReLU(True)]
        ch = ngf
        for _ in range(n_down):
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), nn.InstanceNorm2d(ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [*_up(ch, ch // 2, upsample), nn.InstanceNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def _encoder(self, x: Tensor) -> Iterator[tuple[str, Tensor]]:
        yield "input", x
        down = block = 0
        for m in self.model:
            x = m(x)
            if isinstance(m, nn.Conv2d) and m.stride != (1, 1):
                down += 1
                yield f"down{down}", x
            elif isinstance(m, ResnetBlock):
                block += 1
                yield f"block{block}", x
                if block == self.n_blocks:
                    return


class UnetGenerator(Generator):
    """A U-Net generator: the ResNet generator's stem, downsamplings and residual blocks, with each
    upsampling (resize-then-convolve by default) fed the encoder's features of the same scale as well
    (skip connections), so fine structure such as a small far chair need not pass the bottleneck.

    >>> import torch
    >>> UnetGenerator(ngf=8, n_blocks=1)(torch.zeros(2, 3, 16, 16)).shape
    torch.Size([2, 3, 16, 16])
    """

    name = "unet"

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 32, n_blocks: int = 3,
                 n_down: int = 2, upsample: str = "resize") -> None:
        super().__init__()
        self.ngf, self.n_blocks, self.n_down, self.upsample = ngf, n_blocks, n_down, upsample
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), nn.InstanceNorm2d(ngf),
                                  nn.ReLU(True))
        chans = [ngf * 2**k for k in range(n_down + 1)]
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[k], chans[k + 1], 3, stride=2, padding=1), nn.InstanceNorm2d(chans[k + 1]),
                          nn.ReLU(True)) for k in range(n_down))
        self.blocks = nn.Sequential(*(ResnetBlock(chans[-1]) for _ in range(n_blocks)))
        self.up = nn.ModuleList(
            nn.Sequential(*_up(chans[k + 1] * (1 if k == n_down - 1 else 2), chans[k], upsample),
                          nn.InstanceNorm2d(chans[k]), nn.ReLU(True)) for k in reversed(range(n_down)))
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(2 * ngf, out_channels, 7), nn.Tanh())

    def forward(self, x: Tensor) -> Tensor:
        import torch

        skips = [self.stem(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = self.blocks(skips.pop())
        for up in self.up:
            y = torch.cat([up(y), skips.pop()], 1)
        return self.head(y)

    def _encoder(self, x: Tensor) -> Iterator[tuple[str, Tensor]]:
        yield "input", x
        x = self.stem(x)
        for k, down in enumerate(self.down, 1):
            x = down[0](x)  # the stride-2 convolution, then its norm and ReLU
            yield f"down{k}", x
            x = down[1:](x)
        for k, block in enumerate(self.blocks, 1):
            x = block(x)
            yield f"block{k}", x


GENERATORS: dict[str, type[Generator]] = {"resnet": ResnetGenerator, "unet": UnetGenerator}


def make_generator(name: str = "resnet", ngf: int = 12, n_blocks: int = 3, n_down: int = 2,
                   upsample: str | None = None) -> Generator:
    """A generator by architecture name (``resnet`` or ``unet``); ``upsample`` defaults to the
    architecture's own (``transpose`` for resnet, as CycleGAN; ``resize`` for unet)."""
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; use one of {', '.join(GENERATORS)}")
    kwargs = {} if upsample is None else {"upsample": upsample}
    return GENERATORS[name](ngf=ngf, n_blocks=n_blocks, n_down=n_down, **kwargs)


class PatchDiscriminator(nn.Module):
    """PatchGAN: a grid of real/fake scores. ``n_layers`` stride-2 convolutions; with the default
    2 each score sees a 34 x 34 patch, sized for 64 x 64 frames (the reference's 3 sees 70 x 70)."""

    def __init__(self, in_channels: int = 3, ndf: int = 32, n_layers: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for i in range(1, n_layers):
            nxt = ndf * min(2**i, 8)
            layers += [nn.Conv2d(ch, nxt, 4, stride=2, padding=1), nn.InstanceNorm2d(nxt), nn.LeakyReLU(0.2, True)]
            ch = nxt
        nxt = ndf * min(2**n_layers, 8)
        layers += [nn.Conv2d(ch, nxt, 4, stride=1, padding=1), nn.InstanceNorm2d(nxt), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(nxt, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU(True))


class SegNet(nn.Module):
    """A small U-Net for per-pixel classes (trained on sim labels), input in [-1, 1].

    >>> import torch
    >>> SegNet(n_classes=5, width=8)(torch.zeros(2, 3, 16, 16)).shape
    torch.Size([2, 5, 16, 16])
    """

    def __init__(self, n_classes: int = 5, width: int = 16) -> None:
        super().__init__()
        w = width
        self.enc1 = nn.Sequential(_conv(3, w), _conv(w, w))
        self.enc2 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))
        self.enc3 = nn.Sequential(_conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w))
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.dec2 = _conv(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec1 = _conv(2 * w, w)
        self.head = nn.Conv2d(w, n_classes, 1)
        self.notes: dict = {}  # how it was trained (e.g. which checkpoint a judge kept); saved with it

    def forward(self, x: Tensor) -> Tensor:
        import torch

        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([self.up2(e3), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """CycleGAN's initialisation: N(0, 0.02) convolutions, N(1, 0.02) norm scales, zero biases."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net
