"""A tiny GAN recipe on synthetic 4x4 images, for testing the training loop itself."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from translate.model_spec import ModelSpec
from translate.nets import MLPDiscriminator, MLPGenerator
from translate.training.recipe import Recipe

GEN_KWARGS = {"latent_dim": 4, "image_size": 4, "channels": 1, "hidden": 16, "n_layers": 1}


@dataclass(frozen=True)
class ToyConfig:
    lr: float = 2e-3
    items: int = 32
    interrupt_at: int = -1  # send ourselves SIGINT during this step (tests the stop path)
    nan_at: int = -1  # the process of rank 1 reports a NaN loss at this step (tests that all processes stop)


class ToyData(Dataset):
    """Items are a fixed diagonal pattern plus noise drawn from the sampler's per-item seed."""

    def __init__(self, items: int) -> None:
        self.items = items

    def __len__(self) -> int:
        return self.items

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        index, seed = key
        rng = np.random.default_rng(seed)
        base = np.eye(4, dtype=np.float32) * 1.6 - 0.8
        return torch.from_numpy(base + 0.1 * rng.standard_normal((4, 4), dtype=np.float32))[None]


class ToyRecipe(Recipe):
    name = "toy"
    config_class = ToyConfig
    ema_nets = ("G",)

    def __init__(self, config: ToyConfig, ctx) -> None:
        super().__init__(config, ctx)
        self.nets = {"G": MLPGenerator(**GEN_KWARGS).to(ctx.device),
                     "D": MLPDiscriminator(image_size=4, channels=1, hidden=16, n_layers=1).to(ctx.device)}
        self.optimizers = {k: torch.optim.Adam(n.parameters(), lr=config.lr, betas=(0.5, 0.999))
                           for k, n in self.nets.items()}
        self.seen = 0

    def dataset(self) -> Dataset:
        return ToyData(self.config.items)

    def step(self, batch: torch.Tensor, step: int) -> dict:
        if step == self.config.interrupt_at:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGINT)
        G, D = self.train_nets["G"], self.train_nets["D"]
        z = torch.randn(batch.shape[0], 4, device=self.ctx.device)
        with self.ctx.autocast():
            fake = G(z)
            loss_d = F.softplus(-D(batch)).mean() + F.softplus(D(fake.detach())).mean()
        self.ctx.backward_step(loss_d, "D")
        with self.ctx.frozen(D):
            with self.ctx.autocast():
                loss_g = F.softplus(-D(fake)).mean()
            self.ctx.backward_step(loss_g, "G")
        self.seen += batch.shape[0]
        if step == self.config.nan_at and self.ctx.rank == 1:
            return {"d": float("nan"), "g": loss_g}
        return {"d": loss_d, "g": loss_g}

    def sample_grid(self) -> torch.Tensor:
        z = torch.randn(4, 4, generator=torch.Generator().manual_seed(0)).to(self.ctx.device)
        return (self.eval_net("G")(z) + 1) / 2

    def model_files(self) -> dict:
        spec = ModelSpec(task="generation", arch="mlp", arch_kwargs=GEN_KWARGS, in_channels=4, out_channels=1,
                         latent_dim=4, image_size=4)
        return {"G": (self.eval_net("G"), spec)}

    def state_dict(self) -> dict:
        return {"seen": self.seen}

    def load_state_dict(self, state: dict) -> None:
        self.seen = state["seen"]


if __name__ == "__main__":  # used by the torchrun test: python -m torch.distributed.run ... toy_recipe.py ARGS
    import hashlib

    from translate.cli.train import build_parser, resolve_configs
    from translate.training.loop import train

    args = build_parser(ToyRecipe).parse_args(sys.argv[1:])
    loop, cfg = resolve_configs(ToyRecipe, args)
    recipe = train(ToyRecipe, cfg, loop, resume=args.resume is not None)
    digest = hashlib.sha256()
    for name in sorted(recipe.nets):
        for tensor in recipe.nets[name].state_dict().values():
            digest.update(tensor.detach().cpu().numpy().tobytes())
    import os

    rank = os.environ.get("RANK", "0")
    (__import__("pathlib").Path(loop.out) / f"weights-rank{rank}.sha256").write_text(digest.hexdigest())
