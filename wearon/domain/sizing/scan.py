"""What a pose detector hands the measurement: landmarks in pixels, a person mask, and optionally
the same landmarks in 3-D."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

#: The mask holds a per-pixel probability of "person"; 0.5 is the decision boundary.
MASK_THRESHOLD = 0.5


class Joint(IntEnum):
    """Indices of the BlazePose 33-landmark topology (the ones measurement uses)."""

    NOSE = 0
    LEFT_EYE = 2
    RIGHT_EYE = 5
    LEFT_EAR = 7
    RIGHT_EAR = 8
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


@dataclass(frozen=True)
class Landmark:
    """A body point in image pixels, and the detector's 0-1 belief that it is in view."""

    x: float
    y: float
    visibility: float = 1.0


@dataclass(frozen=True)
class WorldPoint:
    """A body point in metres, in the detector's own 3-D frame: x to the image's right, y down,
    z away from the camera. Good for angles, not for lengths (the detector guesses the scale)."""

    x: float
    y: float
    z: float


@dataclass(frozen=True)
class BodyScan:
    landmarks: Mapping[Joint, Landmark]
    #: Person probability (or a boolean mask), rows x columns, the image's own size.
    mask: npt.NDArray[Any]
    #: The detector's 3-D estimate of the same landmarks, when it gives one.
    world: Mapping[Joint, WorldPoint] | None = None
    #: Scan pixels per pixel of the photo as sent: above 1 when the detector read an upscaled
    #: copy, below 1 when it read a shrunk one. Detail is only ever as fine as the photo's pixel.
    pixel_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.mask.ndim != 2:
            raise ValueError("the person mask must be two-dimensional")
        if not self.pixel_scale > 0:
            raise ValueError("the pixel scale must be positive")

    def __getitem__(self, joint: Joint) -> Landmark:
        return self.landmarks[joint]

    @property
    def height(self) -> int:
        return int(self.mask.shape[0])

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    @property
    def photo_size(self) -> tuple[int, int]:
        """Width and height of the photo as sent, in its own pixels."""
        return round(self.width / self.pixel_scale), round(self.height / self.pixel_scale)

    def person(self) -> npt.NDArray[np.bool_]:
        """The mask as booleans: True where the pixel belongs to a person."""
        if self.mask.dtype == np.bool_:
            return self.mask.astype(np.bool_, copy=False)
        return np.asarray(self.mask >= MASK_THRESHOLD, dtype=np.bool_)
