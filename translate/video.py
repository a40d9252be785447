"""Video in, video out: every frame of a clip through a Translator, streamed with PyAV (FFmpeg's libraries).

Frames are decoded, translated and encoded one batch at a time, so memory stays bounded whatever the
clip's length and nothing is written but the output file (atomically, like every other file here). Each
output frame keeps its input frame's timestamp, so the frame rate (constant or variable) and the duration
are those of the input; the display rotation is carried over as metadata; audio streams are copied packet
by packet, unchanged. The output container is the input's (.mp4, .mov, .mkv; .mkv for other inputs), so
whatever audio codec it held fits.

Instance-norm translators normalise each frame by its own statistics, which move with the content and
make the tone flicker. By default ("clip") the clip is first cut into shots (translate.shots) and the
statistics are pooled over frames spread across each shot (translate.nets.norm_stats); every frame is
normalised by its shot's. "frame" is per-frame.
What shared statistics cannot fix is the fine texture the model re-invents in each frame as the content
moves; by default each translated frame is also blended with the previous output, moved along the input's
optical flow where that flow is reliable (translate.temporal, `temporal` 0..1, 0 for none).
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from translate.checkpoint import atomic_write, remove_interrupted_writes
from translate.data.convert import to_pixels, to_tensor
from translate.errors import ConfigError, UserError
from translate.inference import Translator
from translate.output_check import check_values
from translate.printable import printable
from translate.temporal import video_blend

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
"""Output containers by suffix; a clip in any other container is written as .mkv, which holds any codec."""
CRF_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1")
DEFAULT_CODEC, DEFAULT_CRF = "libx264", 18
NORM_STATS = ("clip", "frame")
STAT_FRAMES = 8
"""Frames, spread evenly over a shot, whose instance-norm statistics are pooled for the whole shot."""
GPU_BATCH = 8


class VideoError(UserError):
    """A clip that cannot be read or written; the message names the file."""


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def output_name(source: Path, suffix: str) -> str:
    """clip.mp4 -> clip_SUFFIX.mp4 (another container's clip -> .mkv)."""
    ext = source.suffix.lower() if source.suffix.lower() in CONTAINERS else ".mkv"
    return f"{source.stem}_{suffix}{ext}"


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    frames: int
    """The container's frame count, or an estimate from duration x frame rate (0 when neither is known)."""
    seconds: float
    audio_streams: int
    video_streams: int = 1
    """Video streams other than cover pictures; only the first is translated."""


@dataclass(frozen=True)
class VideoResult:
    frames: int
    skipped: int
    """Frames that could not be decoded (corrupt) and were left out; their neighbours cover their time."""


@contextmanager
def open_clip(path: str | Path) -> Iterator[Any]:
    """An input container with a decodable video stream, or a VideoError naming the file."""
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as err:
        raise VideoError(f"{path}: not a readable video ({err.strerror or err})") from None
    try:
        if not container.streams.video:
            if container.streams.audio:
                raise VideoError(f"{path}: has no video stream, only audio")
            raise VideoError(f"{path}: holds no video (an empty clip?)")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise VideoError(f"{path}: its video codec is not one this FFmpeg build can decode")
        stream.thread_type = "AUTO"
        yield container
    finally:
        container.close()


def probe(path: str | Path) -> VideoInfo:
    with open_clip(path) as container:
        stream = container.streams.video[0]
        fps = Fraction(stream.average_rate or stream.guessed_rate or 0)
        if stream.duration and stream.time_base:
            seconds = float(stream.duration * stream.time_base)
        else:
            seconds = (container.duration or 0) / 1e6
        frames = stream.frames or round(seconds * fps)
        moving = [s for s in container.streams.video if not _is_cover(s)]
        return VideoInfo(stream.codec_context.width, stream.codec_context.height, fps, frames, seconds,
                         len(container.streams.audio), max(len(moving), 1))


def _is_cover(stream: Any) -> bool:
    """Whether a video stream is a still picture attached to the file (cover art), not a second video."""
    import av

    flag = getattr(getattr(av.stream, "Disposition", None), "attached_pic", None)
    return bool(flag is not None and stream.disposition & flag)


def _decoded(container: Any, path: Path, with_audio: bool, warn: Callable[[str], None],
             skipped: list[int]) -> Iterator[Any]:
    """The clip's video frames (av.VideoFrame) and, if `with_audio`, its audio packets, in file order.
    A packet that fails to decode, or a frame FFmpeg marks corrupt, is skipped, counted and warned about."""
    import av

    video = container.streams.video[0]
    streams = [video, *container.streams.audio] if with_audio else [video]
    packets = container.demux(*streams)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as err:  # the demuxer itself gave up: a truncated file
            warn(f"{path}: the file ends early ({err.strerror or err}); the frames before are kept")
            return
        if packet.stream.type == "audio":
            if packet.dts is not None:
                yield packet
            continue
        try:
            frames = packet.decode()
        except av.FFmpegError as err:
            skipped[0] += 1
            warn(f"{path}: a corrupt frame at {_when(packet)} was skipped ({err.strerror or err})")
            continue
        for frame in frames:
            if frame.is_corrupt:
                skipped[0] += 1
                warn(f"{path}: a corrupt frame at {_when(frame)} was skipped")
                continue
            yield frame


def _when(item: Any) -> str:
    return f"{float(item.pts * item.time_base):.2f} s" if item.pts is not None and item.time_base else "an unknown time"


def _rgb(frame: Any) -> np.ndarray:
    return frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0


def _translate_batch(translator: Translator, frames: list[np.ndarray]) -> list[np.ndarray]:
    """Translate frames of one size together (one network call), or one by one when they need tiles."""
    h, w = frames[0].shape[:2]
    if len(frames) == 1 or (translator.tile and max(h, w) > translator.tile):
        return [translator(f) for f in frames]
    value_range = translator.spec.value_range
    with torch.inference_mode():
        x = torch.stack([to_tensor(f, value_range) for f in frames]).to(translator.device, translator.dtype)
        y = translator._run_padded(x)
        check_values(translator.where, y, x)
    return [to_pixels(t, value_range) for t in y]


@dataclass(frozen=True)
class ShotStatistics:
    starts: list[int]
    """The index of each shot's first frame (counting the frames that decode), 0 first."""
    stats: list[Any]
    """Each shot's pooled statistics (translate.nets.norm_stats.SharedNormStats)."""

    def shot(self, index: int) -> int:
        return bisect.bisect_right(self.starts, index) - 1


def shot_statistics(path: Path, translator: Translator, n: int = STAT_FRAMES) -> ShotStatistics | None:
    """Instance-norm statistics pooled per shot over up to `n` frames spread evenly over it (None when the
    model has no instance norm to share, or runs on onnxruntime, where the graph cannot be hooked). Two
    passes over the clip before the one that translates it: cuts (decoding only), then the statistics."""
    from translate.nets.norm_stats import SharedNormStats, norm_layers
    from translate.shots import colour_histogram, is_cut, sample_frames

    if not isinstance(translator.net, torch.nn.Module) or not norm_layers(translator.net):
        return None
    starts, before, frames = [0], None, 0
    with open_clip(path) as container:
        for frames, frame in enumerate(_decoded(container, path, False, lambda _: None, [0]), 1):
            histogram = colour_histogram(frame)
            if before is not None and is_cut(before, histogram):
                starts.append(frames - 1)
            before = histogram
    if not frames:
        return None  # nothing decodes: the translating pass says so
    wanted = {i: shot for shot, (a, b) in enumerate(zip(starts, [*starts[1:], frames]))
              for i in sample_frames(a, b, n)}
    stats = [SharedNormStats(translator.net) for _ in starts]
    with open_clip(path) as container:
        for index, frame in enumerate(_decoded(container, path, False, lambda _: None, [0])):
            if index in wanted:
                with stats[wanted[index]].collecting():
                    translator(_rgb(frame))
            if index >= max(wanted):
                break
    if not all(len(s) for s in stats):
        return None  # the clip decoded differently this time (a damaged file): per-frame statistics
    return ShotStatistics(starts, stats)


def translate_video(source: str | Path, target: str | Path, translator: Translator, *, codec: str = DEFAULT_CODEC,
                    crf: int | None = None, norm_stats: str = "clip", temporal: float | None = None,
                    batch: int | None = None,
                    max_frame_pixels: int | None = None, max_seconds: float | None = None,
                    progress: Callable[[int, int], None] | None = None,
                    warn: Callable[[str], None] | None = None) -> VideoResult:
    """Translate every frame of `source` into `target` (written atomically).

    codec: an FFmpeg encoder name (H.264 by default), always in yuv420p, so an odd output side gets one
    repeated edge row or column; crf: its quality (lower is better; encoders that take no CRF refuse it).
    temporal: how much of the previous output, warped along the input's motion, each frame keeps where the
    motion is reliable (0 <= temporal < 1; default translate.temporal.DEFAULT_STRENGTH, or 0 with a warning
    where OpenCV is missing).
    batch: frames per network call (default: 8 on a GPU, 1 on the CPU). progress(done, total) is called
    after each written batch; total is an estimate (0 when unknown). Raises VideoError for a clip that
    cannot be used, ConfigError for bad options.
    """
    import av

    source, target = Path(source), Path(target)
    warn = warn or (lambda line: print(f"warning: {printable(line)}", file=sys.stderr))
    if norm_stats not in NORM_STATS:
        raise ConfigError(f"--norm-stats must be one of {', '.join(NORM_STATS)}, got {norm_stats!r}")
    try:
        av.codec.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        raise ConfigError(f"--codec {codec}: not an encoder in this FFmpeg build (e.g. {', '.join(CRF_ENCODERS[:3])}, "
                          "mpeg4)") from None
    if crf is not None and codec not in CRF_ENCODERS:
        raise ConfigError(f"--crf applies to {', '.join(CRF_ENCODERS)}; {codec} takes none")
    if crf is not None and not 0 <= crf <= 63:
        raise ConfigError(f"--crf must be in 0..63, got {crf}")
    blend = video_blend(temporal, warn)
    if translator.spec.in_channels != 3:
        raise ConfigError(f"this model takes {translator.spec.in_channels}-channel images; video frames are RGB")
    info = probe(source)
    if max_frame_pixels and info.width * info.height > max_frame_pixels:
        raise VideoError(f"{source}: {info.width}x{info.height} frames are over the limit of "
                         f"{max_frame_pixels / 1e6:g} MP")
    if max_seconds and info.seconds > max_seconds:
        raise VideoError(f"{source}: {info.seconds:.1f} s long, over the limit of {max_seconds:g} s")
    if info.video_streams > 1:
        others = info.video_streams - 1
        warn(f"{source}: holds {info.video_streams} video streams; only the first is translated, the other"
             f"{'s are' if others > 1 else ' is'} left out of {target.name}")
    for leftover in remove_interrupted_writes(target.parent, older_names=False):
        warn(f"removed {leftover}, left by an interrupted run")
    if batch is None:
        batch = GPU_BATCH if translator.device.type == "cuda" and translator.backend == "torch" else 1
    shots = shot_statistics(source, translator) if norm_stats == "clip" else None
    done, skipped = [0], [0]

    def write(tmp: Path) -> None:
        fmt = CONTAINERS.get(target.suffix.lower(), "matroska")
        # the index first, so browsers can start playing before the whole file has arrived
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        with open_clip(source) as container, av.open(str(tmp), "w", format=fmt, options=options) as out:
            quality = DEFAULT_CRF if crf is None and codec in CRF_ENCODERS else crf
            encoder = _Encoder(out, container, source, codec, quality)
            pending: list[Any] = []

            def flush() -> None:
                sources = [_rgb(f) for f in pending]
                with shots.stats[shots.shot(done[0])].frozen() if shots else nullcontext():
                    outputs = _translate_batch(translator, sources)
                encoder.video(pending, [blend(s, o) for s, o in zip(sources, outputs)])  # in order: each needs the last
                done[0] += len(pending)
                pending.clear()
                if progress:
                    progress(done[0], info.frames)

            for item in _decoded(container, source, True, warn, skipped):
                if isinstance(item, av.Packet):
                    encoder.audio(item)
                    continue
                if pending and shots and shots.shot(done[0] + len(pending)) != shots.shot(done[0]):
                    flush()  # a batch holds one shot: one set of statistics
                pending.append(item)
                if len(pending) == batch:
                    flush()
            if pending:
                flush()
            if not done[0]:
                raise VideoError(f"{source}: no video frame could be decoded" if skipped[0]
                                 else f"{source}: has no video frames")
            encoder.close()

    try:
        atomic_write(target, write)
    except av.FFmpegError as err:
        raise VideoError(f"{target}: FFmpeg could not write it ({err.strerror or err}); try another --codec") from None
    return VideoResult(done[0], skipped[0])


class _Encoder:
    """The output container's streams, opened at the first translated frame (whose size and rotation they
    take); audio packets that arrive before it wait in a short list."""

    def __init__(self, out: Any, container: Any, path: Path, codec: str, crf: int | None) -> None:
        self.out, self.input, self.path, self.codec, self.crf = out, container.streams.video[0], path, codec, crf
        self.audio_in = list(container.streams.audio)
        self.stream: Any = None
        self.audio_out: dict[int, Any] = {}
        self.waiting: list[Any] = []
        self.size: tuple[int, int] = (0, 0)
        self.count = 0

    def _open(self, first: Any, pixels: np.ndarray) -> None:
        h, w = pixels.shape[:2]
        self.size = (w, h)
        rate = self.input.average_rate or self.input.guessed_rate or 25
        stream = self.out.add_stream(self.codec, rate=rate)
        stream.width, stream.height = w + w % 2, h + h % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = self.input.time_base or Fraction(1, 90000)
        stream.codec_context.time_base = stream.time_base
        if self.crf is not None:
            stream.options = {"crf": str(self.crf), **({"b": "0"} if self.codec == "libvpx-vp9" else {})}
        if first.rotation:
            stream.set_display_rotation(first.rotation)
        self.stream = stream
        for a in self.audio_in:
            self.audio_out[a.index] = self.out.add_stream_from_template(a)
        for packet in self.waiting:
            self.audio(packet)
        self.waiting = []

    def audio(self, packet: Any) -> None:
        if self.stream is None:
            self.waiting.append(packet)
            return
        packet.stream = self.audio_out[packet.stream.index]
        self.out.mux(packet)

    def video(self, frames: list[Any], outputs: list[np.ndarray]) -> None:
        import av

        for frame, pixels in zip(frames, outputs):
            if self.stream is None:
                self._open(frame, pixels)
            if pixels.shape[1::-1] != self.size:
                raise VideoError(f"{self.path}: the frame size changes at {_when(frame)}; split the clip there")
            array = np.round(pixels * 255.0).astype(np.uint8)
            if array.shape[0] % 2 or array.shape[1] % 2:
                array = np.pad(array, ((0, array.shape[0] % 2), (0, array.shape[1] % 2), (0, 0)), mode="edge")
            image = av.VideoFrame.from_ndarray(array, format="rgb24")
            if frame.pts is not None and frame.time_base:  # PyAV rebases it to the encoder's time base
                image.pts, image.time_base = frame.pts, frame.time_base
            else:  # a container without timestamps: count frames at the nominal rate
                image.pts, image.time_base = self.count, 1 / Fraction(self.stream.average_rate or 25)
            self.count += 1
            self.out.mux(self.stream.encode(image))

    def close(self) -> None:
        self.out.mux(self.stream.encode(None))
