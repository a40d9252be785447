"""Tiled runs of instance-normalised translators: the untiled run's statistics for every tile, progress per tile."""

import numpy as np
import pytest
import torch
from helpers import tiny_translator

from translate.inference import Translator, _owned, _spans
from translate.nets.norm_stats import SharedNormStats


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


@pytest.mark.parametrize(("tile", "size"), [(96, (120, 160)), (100, (118, 157)), (128, (150, 300))])
def test_tiled_matches_untiled_at_any_tile_size(tmp_path, tile, size):
    """Statistics measured layer by layer over the tiles are the untiled run's, also for sides that are not
    multiples of the tile or of the net's size multiple (4)."""
    path = tiny_translator(tmp_path / "t.safetensors")
    image = _photo(*size)
    whole = Translator.from_file(path, device="cpu", tile=0)(image)
    tiled = Translator.from_file(path, device="cpu", tile=tile, tile_overlap=80)
    assert np.abs(tiled(image) - whole).max() < 1e-4


class _LateFirst(torch.nn.Module):
    """Two instance norms registered in the reverse of the order they run."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.late, self.early = (torch.nn.InstanceNorm2d(4, affine=True) for _ in range(2))
        self.convs = torch.nn.ModuleList(torch.nn.Conv2d(i, o, 3, padding=1, padding_mode="reflect")
                                         for i, o in ((3, 4), (4, 4), (4, 3)))
        for norm in (self.late, self.early):
            torch.nn.init.normal_(norm.weight, 1.0, 0.5)

    def forward(self, x):
        x = torch.relu(self.early(self.convs[0](x)))
        return torch.tanh(self.convs[2](torch.relu(self.late(self.convs[1](x)))))


def test_layers_are_measured_in_the_order_they_run(tmp_path):
    spec = Translator.from_file(tiny_translator(tmp_path / "t.safetensors"), device="cpu").spec
    image = _photo()
    whole = Translator(_LateFirst(), spec, torch.device("cpu"), tile=0)(image)
    tiled = Translator(_LateFirst(), spec, torch.device("cpu"), tile=64, tile_overlap=32)
    assert tiled.shared_norm.layers[0] is tiled.net.late
    assert np.abs(tiled(image) - whole).max() < 1e-4


def test_tiles_cover_once_on_the_nets_grid():
    for length, tile, overlap in [(2048, 1024, 64), (1536, 1024, 64), (157, 100, 80), (1000, 256, 0)]:
        spans = _spans(length, tile, overlap, 4)
        assert spans[0][0] == 0 and spans[-1][1] == length
        assert all(start % 4 == 0 and end - start <= tile for start, end in spans)
        assert all(end - nxt >= overlap for (_, end), (nxt, _) in zip(spans, spans[1:]))
        padded = -(-length // 4) * 4
        owned = _owned(spans, 4, padded)  # the last tile owns the padding the untiled run adds
        assert all(a[1] == b[0] for a, b in zip(owned, owned[1:])) and owned[0][0] == 0 and owned[-1][1] == padded
        assert all(start <= begin < end <= stop for (start, stop), (begin, end) in zip(spans[:-1], owned))
    # equal tiles rather than a last one mostly made of its neighbour's pixels
    assert _spans(2048, 1024, 64, 4) == [(0, 728), (660, 1388), (1320, 2048)]


def test_collect_until_measures_one_layer_and_stops_there():
    torch.manual_seed(0)
    from translate.nets import GENERATORS

    net = GENERATORS["resnet"](ngf=4, n_blocks=1).eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    whole, first = SharedNormStats(net), SharedNormStats(net)
    with torch.no_grad(), whole.collecting():
        net(x)
    calls = []
    handle = whole.layers[1].register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        first.collect_until(first.layers[0], lambda: net(x))
        # the left half of the input's rows and columns: the same quarter at every layer's resolution
        first.collect_until(first.layers[1], lambda: net(x), region=(0.0, 0.5, 0.0, 0.5))
    handle.remove()
    assert not calls  # the net stopped at the layer measured
    for a, b in zip(whole.statistics(whole.layers[0]), first.statistics(first.layers[0])):
        assert torch.allclose(a, b, atol=1e-6)
    with torch.no_grad():
        feature = net.body[:5](x)  # the input of the second norm layer: after the first downsampling conv
    quarter = feature[:, :, :8, :8]
    assert torch.allclose(first.statistics(first.layers[1])[0], quarter.mean((0, 2, 3)), atol=1e-5)


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
    tiles = 3 * 4  # rows start at 0, 24, 48; columns at 0, 24, 48, 72
    units = (len(translator.shared_norm.layers) + 1) * tiles  # a pass per norm layer, then the output's
    assert translator.tiles(120, 92) == units == len(calls)
    assert calls == [(i, units) for i in range(1, units + 1)]
    assert translator.tiles(40, 40) == 1
