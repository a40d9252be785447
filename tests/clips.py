"""Real video clips for tests and benchmarks: camera moves across a photo (a pan and zoom, a tilt, a zoom,
a handheld shot), with an audio tone."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


def pan_zoom_frames(photo: Path, frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """(H, W, 3) uint8 views of `photo`: a window of the output's aspect ratio that drifts from the left to
    the right edge while it narrows from 90% to 60% of the photo's height (zooming in)."""
    image = Image.open(photo).convert("RGB")
    w, h = image.size
    views = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        crop_h = h * (0.9 - 0.3 * t)
        crop_w = min(w, crop_h * size[0] / size[1])
        left, top = (w - crop_w) * t, (h - crop_h) * 0.5
        box = (left, top, left + crop_w, top + crop_h)
        views.append(np.asarray(image.resize(size, Image.Resampling.BICUBIC, box=box)))
    return views


MOVES = ("pan", "tilt", "zoom", "handheld")


def camera_frames(photo: Path, frames: int, size: tuple[int, int], move: str = "pan",
                  seed: int = 0) -> list[np.ndarray]:
    """(H, W, 3) uint8 views of `photo` as a camera making `move` would film it, through a window of the
    output's aspect ratio (`fit`: the largest that fits the photo):
    - pan: pan_zoom_frames;
    - tilt: 80% of fit, centred across, from the top edge to the bottom one, so the composition changes
      (sky, then ground, in a portrait landscape photo);
    - zoom: from fit down to 30% of it, its centre drifting from the photo's towards a point 15% of the
      photo right and down of it;
    - handheld: 70% of fit, held at the centre with a shake (a damped random walk of 1-pixel steps in the
      photo) and sensor noise (Gaussian, 2 levels), both drawn from `seed`."""
    if move == "pan":
        return pan_zoom_frames(photo, frames, size)
    if move not in MOVES:
        raise ValueError(f"move must be one of {MOVES}, got {move!r}")
    image = Image.open(photo).convert("RGB")
    w, h = image.size
    fit_h = min(h, w * size[1] / size[0])
    rng = np.random.default_rng(seed)
    shake = np.zeros(2)
    views = []
    for t in np.linspace(0.0, 1.0, frames):
        if move == "tilt":
            crop_h = 0.8 * fit_h
            centre = (w / 2, crop_h / 2 + (h - crop_h) * t)
        elif move == "zoom":
            crop_h = fit_h * (1 - 0.7 * t)
            centre = (w * (0.5 + 0.15 * t), h * (0.5 + 0.15 * t))
        else:
            crop_h = 0.7 * fit_h
            shake = 0.8 * shake + rng.normal(0.0, 1.0, 2)
            centre = (w / 2 + shake[0], h / 2 + shake[1])
        crop_w = crop_h * size[0] / size[1]
        left = min(max(centre[0] - crop_w / 2, 0.0), w - crop_w)
        top = min(max(centre[1] - crop_h / 2, 0.0), h - crop_h)
        view = np.asarray(image.resize(size, Image.Resampling.BICUBIC, box=(left, top, left + crop_w, top + crop_h)))
        if move == "handheld":
            view = np.clip(view + rng.normal(0.0, 2.0, view.shape), 0, 255).round().astype(np.uint8)
        views.append(view)
    return views


def write_clip(path: Path, views: list[np.ndarray], fps: int = 12, tone_hz: float | None = 440.0,
               sample_rate: int = 16000, codec: str = "libx264", rotation: int = 0, fmt: str | None = None,
               pix_fmt: str = "yuv420p", crf: int = 10) -> Path:
    """An H.264 clip of `views` at `fps` (yuv420p needs even sides; yuv444p takes any; crf 0 with yuv444p:
    every frame decodes the same whatever clip holds it) with, unless tone_hz is None, a mono AAC sine tone
    as long as the video. Written by PyAV."""
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream(codec, rate=fps)
        video.height, video.width = views[0].shape[:2]
        video.pix_fmt = pix_fmt
        if codec == "libx264":
            video.options = {"crf": str(crf)}
        if rotation:
            video.set_display_rotation(rotation)
        audio = out.add_stream("aac", rate=sample_rate, layout="mono") if tone_hz else None
        for i, view in enumerate(views):
            frame = av.VideoFrame.from_ndarray(view, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            n = round(len(views) / fps * sample_rate)
            tone = (0.3 * np.sin(2 * np.pi * tone_hz * np.arange(n) / sample_rate)).astype(np.float32)
            for start in range(0, n, 1024):
                frame = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
                frame.sample_rate, frame.pts = sample_rate, start
                out.mux(audio.encode(frame))
            out.mux(audio.encode(None))
    return path


def frame_to_frame(frames: list[np.ndarray]) -> float:
    """Mean absolute difference between consecutive frames (pixels 0-255)."""
    return float(np.mean([np.abs(b.astype(np.float32) - a.astype(np.float32)).mean()
                          for a, b in zip(frames, frames[1:])]))


def decode_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def audio_seconds(path: Path) -> float:
    """Decoded audio samples / sample rate (0 without audio)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0.0
        stream = container.streams.audio[0]
        samples = sum(f.samples for f in container.decode(stream))
        return samples / stream.sample_rate
