"""The web app's size limits, in a module of their own so that translate-app's flags can show them without
importing the app."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from translate.errors import ConfigError

if TYPE_CHECKING:
    from translate.model_spec import ModelSpec
    from translate.pipeline import Limits


@dataclass(frozen=True)
class AppLimits:
    """The app's size limits (translate-app's --max-* flags), smaller than the command line's: a server is
    shared. Images over their limit are scaled down to it with a note; clips over theirs are refused.

    max_mp: megapixels of a translation input (style, paired, batch). max_sr_mp: of a super-resolution input
    (its output is scale squared times larger: 64 MP for 4 MP at x4). max_video_mp, max_video_sr_mp: of a
    clip's frames. max_video_seconds: a clip's length. max_batch_files: files in one batch."""

    max_mp: float = 4.0
    max_sr_mp: float = 4.0
    max_video_mp: float = 4.0
    max_video_sr_mp: float = 1.0
    max_video_seconds: float = 20.0
    max_batch_files: int = 100

    def __post_init__(self) -> None:
        for name in ("max_mp", "max_sr_mp", "max_video_mp", "max_video_sr_mp", "max_video_seconds",
                     "max_batch_files"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive number, got {value}")

    def image(self, spec: ModelSpec) -> Limits:
        """The limits an image for `spec` is held to: scaled down to fit, the output limit following."""
        from translate.pipeline import Limits

        max_input = int((self.max_sr_mp if spec.scale > 1 else self.max_mp) * 1e6)
        return Limits(max_input, max_input * spec.scale**2, fit=True)

    def video_frame_pixels(self, spec: ModelSpec) -> int:
        return int((self.max_video_sr_mp if spec.scale > 1 else self.max_video_mp) * 1e6)

    def image_line(self, sr: bool = False) -> str:
        """The limit as a tab states it."""
        mp = self.max_sr_mp if sr else self.max_mp
        return (f"Images up to {mp:g} MP; larger ones are scaled down to {mp:g} MP (the `translate` command keeps "
                "full size).")
