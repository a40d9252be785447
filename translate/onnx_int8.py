"""Static int8 quantisation of an exported image generator, for faster CPU inference with onnxruntime.

Convolutions dominate our generators; onnxruntime runs them in int8 (QDQ format: QuantizeLinear /
DequantizeLinear pairs around each quantised op) when their weights are quantised per output channel and
their activations per tensor, with activation ranges measured on calibration images. The ranges must come
from images like those the model will see (photos for a photo translator, low-resolution images for
super-resolution): noise would set them wrong. The result is checked against PyTorch on those images by
PSNR, not by a max difference, since int8 moves every pixel a little.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from translate.checkpoint import atomic_write
from translate.data.convert import to_tensor
from translate.data.io import list_images, read_image
from translate.errors import ConfigError
from translate.evaluation.metrics import psnr
from translate.model_spec import ModelSpec

MIN_PSNR_DB = 30.0
"""Lowest accepted PSNR (dB, pixels in [0, 1]) of the int8 output against PyTorch on the calibration images:
at 30 dB the difference is hard to see. The bundled sr_x4 gives 37.5 dB (calibrated on Set5); the bundled
vangogh only 20.8 dB, so its int8 export is refused. That is the model, not the quantiser: vangogh draws its
fine brush texture from pixel-level detail. On its earlier 3600-step version, noise of one 8-bit step on the
input alone moved the output to 30.6 dB (sr_x4: 49.4 dB), quantising nothing but the first convolution
already gave 30.4 dB, and other calibration methods (percentile, entropy) or quantising the convolutions
only did not help (25.1-25.5 dB against 25.2)."""
CALIBRATION_CROP = 256
MAX_CALIBRATION_IMAGES = 16
MIN_CALIBRATION_SIDE = 32
"""Smaller images are skipped: a few pixels give activation ranges that pass the check on themselves
(a 1x1 image did, at 60 dB) and then clip real images (17 dB)."""


def calibration_inputs(folder: str | Path, spec: ModelSpec) -> list[np.ndarray]:
    """Network inputs (1, C, H, W) float32 in the model's value range from up to 16 images of `folder`.

    Each image is centre-cropped to at most 256x256 and to a multiple of the model's size multiple.
    """
    if spec.task == "generation":
        raise ConfigError("--int8 is for image-to-image models; a generation model takes noise, not images")
    m = max(spec.size_multiple, 1)
    smallest = max(spec.min_side, MIN_CALIBRATION_SIDE)
    inputs = []
    for path in list_images(folder)[:MAX_CALIBRATION_IMAGES]:
        pixels = read_image(path, mode="L" if spec.in_channels == 1 else "RGB").pixels
        h, w = (min(CALIBRATION_CROP, side) // m * m for side in pixels.shape[:2])
        if h < smallest or w < smallest:
            print(f"note: {path} is too small to calibrate with (under {smallest}x{smallest} pixels); skipped")
            continue
        top, left = (pixels.shape[0] - h) // 2, (pixels.shape[1] - w) // 2
        inputs.append(to_tensor(pixels[top:top + h, left:left + w], spec.value_range)[None].numpy())
    if not inputs:
        raise ConfigError(f"{folder}: no image of at least {smallest}x{smallest} pixels to calibrate with")
    return inputs


def quantize_int8(fp32_path: str | Path, out: str | Path, inputs: list[np.ndarray]) -> Path:
    """Write an int8 (QDQ) copy of the fp32 ONNX file `fp32_path` at `out`, keeping its metadata."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter({"input": x} for x in inputs)

        def get_next(self) -> dict | None:
            return next(self.feeds, None)

    source = onnx.load(str(fp32_path))
    quant_logger = logging.getLogger()  # the quantiser logs a warning for every 1-D norm weight it skips
    level = quant_logger.level
    quant_logger.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
            quantize_static(str(prepared), str(quantized), Feeds(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
            model = onnx.load(str(quantized))
    finally:
        quant_logger.setLevel(level)
    del model.metadata_props[:]
    model.metadata_props.extend(source.metadata_props)
    entry = model.metadata_props.add()
    entry.key, entry.value = "quantization", "int8 static QDQ: weights per channel, activations per tensor"
    model.producer_name = source.producer_name
    data = model.SerializeToString()
    return atomic_write(out, lambda tmp: tmp.write_bytes(data))


def psnr_against_torch(net: nn.Module, spec: ModelSpec, path: str | Path, inputs: list[np.ndarray]) -> float:
    """The lowest PSNR (dB, pixels in [0, 1]) of onnxruntime's output against PyTorch's over `inputs`."""
    from translate.onnx import session

    sess = session(path, provider="cpu")
    net = net.float().eval().cpu()
    low, high = spec.value_range
    worst = float("inf")
    for x in inputs:
        with torch.no_grad():
            expected = net(torch.from_numpy(x)).numpy()
        got = sess.run(None, {"input": x})[0]
        worst = min(worst, psnr(got, expected, peak=high - low))
    return worst
