"""Deterministic, resumable data order shared by single-process and torchrun training."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


class SeededSampler(Sampler[tuple[int, int]]):
    """Yields (dataset index, per-sample seed) for this process's share of one epoch.

    The order depends only on (seed, epoch), so a resumed run sees the same batches as an
    uninterrupted one; `start_batch` skips the batches already consumed in the current epoch. The
    per-sample seed lets datasets draw crops and flips from their own generator, independent of
    worker processes. Epochs are cut to a whole number of global batches (the remainder is dropped).
    """

    def __init__(self, dataset_len: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.dataset_len, self.batch_size = dataset_len, batch_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.batches_per_epoch = dataset_len // (batch_size * world_size)
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"the dataset has {dataset_len} items, fewer than one global batch "
                f"({batch_size} x {world_size} processes)"
            )
        self.epoch, self.start_batch = 0, 0

    def set_position(self, epoch: int, start_batch: int) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.dataset_len, generator=generator).tolist()
        global_batch = self.batch_size * self.world_size
        sample_seeds = np.random.SeedSequence([self.seed, self.epoch]).generate_state(self.dataset_len)
        for b in range(self.start_batch, self.batches_per_epoch):
            first = b * global_batch + self.rank * self.batch_size
            for position in range(first, first + self.batch_size):
                yield order[position], int(sample_seeds[position])
