"""Temporal consistency for video translation: each translated frame blended with the previous output,
moved along the optical flow of the input, wherever that flow can be trusted.

A translator re-invents fine texture in every frame, so as the content moves the texture boils even when the
tone holds still (shared normalisation statistics fix the tone, not this). Following the blind approach
of Bonneel et al. (2015) and Lai et al. (2018), which needs nothing from the model: the flow between two
consecutive INPUT frames says where each pixel was; the previous OUTPUT frame, warped along it, says what the
translation showed there; the two are mixed with a weight that is `strength` where the flow is reliable and
falls to 0 where it is not, so the current frame shows through in occlusions, at the frame's edges, at cuts
and wherever the warped input does not match the current one (lighting changes, fast motion). Averaging
flattens texture, so the blend's fine detail is then scaled back up to the current translation's strength.

Streaming: only the previous frame (input and output) is kept. Flow is OpenCV's DIS on the grey input,
both ways: a pixel whose backward flow the forward flow does not undo is occluded. Motion and reliability
are measured on the input scaled to at most FLOW_SIDE pixels a side (DIS on a full 1080p frame costs
seconds on a CPU) and scaled up to the output, whose size may differ (super-resolution).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from translate.errors import ConfigError

DEFAULT_STRENGTH = 0.8
FLOW_SIDE = 640
DETAIL_SIGMA = 2.0
"""Output pixels: detail is what a Gaussian blur of this radius removes; its strength is compared over 4x it."""
MAX_DETAIL_GAIN = 2.0
INPUT_TOLERANCE = 0.06
"""Mean absolute RGB difference (0..1) between the current input and the warped previous one at which the
blend weight has fallen to exp(-1) of its full value: beyond a few times this the flow is wrong there."""


def opencv() -> Any:
    """cv2, or a ConfigError saying how to do without it."""
    try:
        import cv2
    except ImportError:  # albumentations brings it; a slim serving install (the GPU image) may lack it
        raise ConfigError("--temporal needs OpenCV (pip install opencv-python-headless); pass --temporal 0 "
                          "to translate each frame on its own") from None
    return cv2


def check_strength(strength: float) -> float:
    if not 0.0 <= strength < 1.0:  # 1 would never let the current frame in: the first frame forever
        raise ConfigError(f"--temporal must be at least 0 and below 1, got {strength:g}")
    return float(strength)


class FlowBlend:
    """Call with each input frame (H, W, 3 floats in 0..1) and its translation (sH, sW, C floats in 0..1, any
    scale s) in order; returns the translation blended with the previous result where the motion is reliable."""

    def __init__(self, strength: float = DEFAULT_STRENGTH) -> None:
        self.strength = check_strength(strength)
        self.cv2 = opencv() if self.strength else None
        self.flow = self.cv2.DISOpticalFlow_create(self.cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) if self.cv2 else None
        self.previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        """(grey input as uint8, input, both at most FLOW_SIDE a side, and output) of the frame before."""
        self.grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, source: np.ndarray, translated: np.ndarray) -> np.ndarray:
        if not self.strength:
            return translated
        cv2 = self.cv2
        source = np.ascontiguousarray(source, dtype=np.float32)
        side = max(source.shape[:2])
        if side > FLOW_SIDE:
            size = tuple(max(1, round(n * FLOW_SIDE / side)) for n in source.shape[1::-1])
            source = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(np.round(source * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        previous, self.previous = self.previous, None
        if previous is None or previous[1].shape != source.shape or previous[2].shape != translated.shape:
            # the first frame, or the size changed (the encoder refuses that; nothing to blend with)
            self.previous = (grey, source, translated)
            return translated
        weight, back = self._reliability(grey, source, previous)
        out_h, out_w = translated.shape[:2]
        scale_y, scale_x = out_h / source.shape[0], out_w / source.shape[1]
        if (scale_y, scale_x) != (1, 1):  # flow measured smaller, or super-resolution: scaled to the output
            back = cv2.resize(back, (out_w, out_h), interpolation=cv2.INTER_LINEAR) * np.float32([scale_x, scale_y])
            weight = cv2.resize(weight, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        # bicubic, as the output is warped again every frame and bilinear's blur would pile up; clipped, as
        # its overshoot would pile up too (bright specks after a few frames)
        warped = np.clip(self._warp(previous[2], back, cv2.INTER_CUBIC), 0.0, 1.0)
        weight = (self.strength * weight)[..., None]
        blended = (translated + weight * (warped - translated)).astype(translated.dtype)
        blended = self._keep_detail(blended, translated)
        self.previous = (grey, source, blended)
        return blended

    def _keep_detail(self, blended: np.ndarray, translated: np.ndarray) -> np.ndarray:
        """`blended` with its fine detail scaled up, locally, to the strength of the current translation's.
        Averaging textures that do not line up (the model's grain) flattens them: a blend alone cost a
        tenth of the share of frames the domain classifier called Van Gogh. What is scaled up is the
        blend's own detail, which follows the content, so the grain comes back without its flicker."""
        cv2 = self.cv2
        sigma = DETAIL_SIGMA
        fine = blended - cv2.GaussianBlur(blended, (0, 0), sigma)
        fine_now = translated - cv2.GaussianBlur(translated, (0, 0), sigma)
        energy = cv2.GaussianBlur((fine ** 2).mean(axis=2), (0, 0), 4 * sigma)
        energy_now = cv2.GaussianBlur((fine_now ** 2).mean(axis=2), (0, 0), 4 * sigma)
        gain = np.clip(np.sqrt(energy_now / np.maximum(energy, 1e-8)), 1.0, MAX_DETAIL_GAIN)
        return np.clip(blended + (gain - 1)[..., None] * fine, 0.0, 1.0).astype(blended.dtype)

    def _reliability(self, grey: np.ndarray, source: np.ndarray,
                     previous: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(per-pixel weight in 0..1, backward flow current -> previous frame)."""
        back = self.flow.calc(grey, previous[0], None)
        forth = self.flow.calc(previous[0], grey, None)
        # forward-backward check (Sundaram et al. 2010): going back and then forth should land where we began
        forth_there = self._warp(forth, back, border=np.nan)
        error = np.sum((back + forth_there) ** 2, axis=2)
        allowed = 0.01 * (np.sum(back ** 2, axis=2) + np.sum(forth_there ** 2, axis=2)) + 0.5
        consistent = error <= allowed  # NaN (from outside the frame) compares false
        mismatch = np.abs(source - self._warp(previous[1], back, border=np.nan)).mean(axis=2)
        weight = np.where(consistent, np.exp(-((mismatch / INPUT_TOLERANCE) ** 2)), 0.0)
        return np.nan_to_num(weight, nan=0.0).astype(np.float32), back

    def _warp(self, image: np.ndarray, flow: np.ndarray, interpolation: int | None = None,
              border: float | None = None) -> np.ndarray:
        """`image` (of the previous frame) sampled where `flow` says each current pixel came from; beyond
        its edges `border`, or the edge pixels when None."""
        cv2 = self.cv2
        h, w = flow.shape[:2]
        if (h, w) not in self.grids:
            self.grids[(h, w)] = tuple(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        xs, ys = self.grids[(h, w)]
        warped = cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1],
                           cv2.INTER_LINEAR if interpolation is None else interpolation,
                           borderMode=cv2.BORDER_REPLICATE if border is None else cv2.BORDER_CONSTANT,
                           borderValue=(border or 0.0,) * 4)
        return warped.reshape(image.shape)  # remap drops a single channel's axis


def video_blend(strength: float | None, warn: Callable[[str], None]) -> FlowBlend:
    """The blend for one clip: `strength`, or by default DEFAULT_STRENGTH, which falls back to none (with a
    warning) where OpenCV is missing rather than refusing clips that translate fine frame by frame."""
    if strength is None:
        try:
            opencv()
        except ConfigError:
            warn("OpenCV (cv2) is not installed, so frames are not blended with their neighbours (--temporal 0)")
            return FlowBlend(0.0)
        strength = DEFAULT_STRENGTH
    return FlowBlend(strength)
