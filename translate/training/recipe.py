"""What a training recipe provides, and the context the loop hands it.

A recipe builds its networks and optimisers and defines one training step; the loop
(:mod:`translate.training.loop`) owns devices, precision, distribution, EMA, schedules, logging,
sampling and checkpoints. Adding a model family means adding a recipe, not touching the loop: train/README.md
lists the files a recipe owns, and the table in :mod:`translate.training.recipes` makes its command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from translate.model_spec import ModelSpec


def unwrap(net: nn.Module) -> nn.Module:
    """The plain module under torch.compile and DistributedDataParallel wrappers."""
    net = getattr(net, "_orig_mod", net)
    return getattr(net, "module", net) if isinstance(net, nn.parallel.DistributedDataParallel) else net


@dataclass
class TrainContext:
    """Device, precision and distribution facts, plus helpers a recipe's step uses.

    `autocast()` wraps forward passes; `backward_step(loss, name)` does zero_grad, (scaled) backward
    and the optimiser step of optimiser `name`; `frozen(net)` wraps a step that must not produce
    gradients for `net` (a discriminator during the generator's step) and skips DDP's gradient sync
    for it.
    """

    device: torch.device
    amp_dtype: torch.dtype | None = None
    rank: int = 0
    world_size: int = 1
    channels_last: bool = False
    total_steps: int = 0
    resume_dir: Path | None = None
    """The run folder being resumed (its checkpoint replaces the recipe's initial weights), else None."""
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    scalers: dict[str, torch.amp.GradScaler] = field(default_factory=dict)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def bind(self, recipe: Recipe) -> None:
        """Take the recipe's optimisers, with a gradient scaler each (active for fp16 only), and let the recipe
        train its plain nets until the loop wraps them for DDP or compile."""
        self.optimizers = recipe.optimizers
        self.scalers = {name: torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
                        for name in recipe.optimizers}
        recipe.train_nets = dict(recipe.nets)

    def adam(self, params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
        """Adam as every recipe uses it. On CUDA it is the fused kernel (one launch per step for all parameters,
        and with fp16 the gradient scaler's inf check stays on the device); on the CPU it is the default
        implementation, so CPU runs are bit-identical to earlier versions."""
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=self.device.type == "cuda" or None)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def backward_step(self, loss: torch.Tensor, optimizer: str) -> None:
        opt, scaler = self.optimizers[optimizer], self.scalers[optimizer]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    @contextlib.contextmanager
    def frozen(self, net: nn.Module) -> Iterator[None]:
        plain = unwrap(net)
        flags = [p.requires_grad for p in plain.parameters()]
        plain.requires_grad_(False)
        ddp = getattr(net, "_orig_mod", net)
        sync_off = ddp.no_sync() if isinstance(ddp, nn.parallel.DistributedDataParallel) else contextlib.nullcontext()
        try:
            with sync_off:
                yield
        finally:
            for p, flag in zip(plain.parameters(), flags):
                p.requires_grad_(flag)


class Recipe:
    """Base class of training recipes.

    Subclasses set `name` and `config_class`, and in ``__init__`` fill `self.nets` (plain modules on
    `ctx.device`) and `self.optimizers`. The loop then sets `self.train_nets`: the same nets, wrapped
    for DDP/compile where used. `step` runs forward passes on `train_nets` (so gradients are
    synchronised across processes) and uses `self.nets` where the plain module is needed (gradient
    penalties); sampling and saving use :meth:`eval_net` (the EMA copy when there is one) and must
    not call `train_nets`, because only the main process samples.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    ema_nets: ClassVar[tuple[str, ...]] = ()
    """Names of the nets the loop keeps an EMA of when ``--ema`` is set."""
    lr_decay_from_half: ClassVar[bool] = False
    """Without an lr_decay_start, decay linearly to 0 over the second half of the steps (the schedule of
    CycleGAN and pix2pix) instead of keeping the learning rate constant."""
    cpu_preset: ClassVar[Mapping[str, Any]] = {}
    """Recipe settings for a CPU (a smaller generator or crop), used by ``--preset cpu`` and, on a CPU, by
    ``--preset auto`` when none of these keys is given (translate.training.config)."""
    sample_columns: ClassVar[int | None] = None
    """Images per row of the sample grid (None: a square grid)."""
    sample_column_labels: ClassVar[tuple[str, ...]] = ()
    """Captions of the sample grid's columns (e.g. input, output, target), written above them."""

    def sample_row_labels(self) -> tuple[str, ...]:
        """Captions of the sample grid's rows, written at their left (none by default)."""
        return ()

    def __init__(self, config: Any, ctx: TrainContext) -> None:
        self.config, self.ctx = config, ctx
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.train_nets: dict[str, nn.Module] = {}
        self.ema: dict[str, nn.Module] = {}

    def dataset(self) -> Dataset:
        """A map-style dataset indexed by (index, seed) keys (see SeededSampler)."""
        raise NotImplementedError

    def step(self, batch: Any, step: int) -> Mapping[str, torch.Tensor | float]:
        """One training iteration on `batch` (already on the device); returns named scalar losses."""
        raise NotImplementedError

    def sample_grid(self) -> torch.Tensor:
        """A few outputs to look at, (N, C, H, W) with values in [0, 1]."""
        raise NotImplementedError

    def model_files(self) -> dict[str, tuple[nn.Module, ModelSpec]]:
        """Generators to save as model files: {file stem: (net, spec)}."""
        raise NotImplementedError

    def update_count(self, name: str, steps: int) -> int:
        """How many optimiser updates net `name` has had after `steps` loop steps. The loop's EMA averages
        only after real updates (a GAN generator skips the critic-only steps) and warms up by this count."""
        return steps

    def eval_net(self, name: str) -> nn.Module:
        return self.ema.get(name, self.nets[name])

    def state_dict(self) -> dict[str, Any]:
        """Recipe state beyond nets and optimisers (e.g. image pools) for exact resume."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state
