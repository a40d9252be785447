"""Tiled runs of instance-normalised translators: one set of statistics for every tile, progress per tile."""

import numpy as np
import torch
from helpers import tiny_translator

from translate.inference import Translator


def _photo(h=120, w=160):
    """A smooth gradient with some texture: tiles of it have different means, as in a real photo's sky."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    noise = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
    return np.clip(np.stack([xx / w, yy / h, 1 - xx / w], axis=2) * 0.8 + 0.2 * noise, 0, 1)


def test_tiles_share_statistics_so_tiled_matches_untiled(tmp_path):
    path = tiny_translator(tmp_path / "t.safetensors")
    image = _photo()
    whole = Translator.from_file(path, device="cpu", tile=0)(image)
    # overlap / 4 (the part of an overlap that is dropped) covers the tiny net's receptive radius of 20 pixels
    tiled = Translator.from_file(path, device="cpu", tile=100, tile_overlap=88)
    assert tiled.shared_norm and len(tiled.shared_norm.layers) > 0
    assert np.abs(tiled(image) - whole).max() < 1e-4
    tiled.shared_norm.layers = []  # each tile its own statistics: what every tiled run did before
    assert np.abs(tiled(image) - whole).max() > 1e-2


def test_shared_statistics_leave_the_net_untouched(tmp_path):
    path = tiny_translator(tmp_path / "t.safetensors")
    translator = Translator.from_file(path, device="cpu", tile=48, tile_overlap=40)
    x = torch.rand(1, 3, 32, 32)
    before = translator.net(x)
    translator(_photo())
    assert torch.equal(translator.net(x), before)
    assert all("forward" not in layer.__dict__ for layer in translator.shared_norm.layers)


def test_progress_counts_tiles(tmp_path):
    path = tiny_translator(tmp_path / "t.safetensors")
    translator = Translator.from_file(path, device="cpu", tile=48, tile_overlap=16)
    calls = []
    translator(_photo(92, 120), lambda done, total: calls.append((done, total)))
    tiles = 3 * 4  # rows start at 0, 32, 44; columns at 0, 32, 64, 72
    assert translator.tiles(120, 92) == 1 + tiles == len(calls)  # a statistics pass, then each tile
    assert calls == [(i, 1 + tiles) for i in range(1, 2 + tiles)]
    assert translator.tiles(40, 40) == 1
