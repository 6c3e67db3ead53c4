"""How far the body is turned from the camera, and how much narrower that makes it look."""

from __future__ import annotations

import math
from dataclasses import dataclass

from wearon.domain.sizing.scan import BodyScan, Joint


@dataclass(frozen=True)
class Facing:
    """cos(yaw) of the shoulder line and of the hip line: 1 faces the camera, 0 is side-on.

    The yaw is each line's angle out of the image plane in the detector's 3-D landmarks; the two
    are kept apart because the thorax and the pelvis can turn by different amounts.
    """

    shoulders: float = 1.0
    hips: float = 1.0

    @classmethod
    def of(cls, scan: BodyScan) -> Facing:
        if scan.world is None:
            return cls()
        world = scan.world

        def cos_yaw(a: Joint, b: Joint) -> float:
            return math.cos(math.atan2(abs(world[a].z - world[b].z), abs(world[a].x - world[b].x)))

        return cls(
            cos_yaw(Joint.LEFT_SHOULDER, Joint.RIGHT_SHOULDER), cos_yaw(Joint.LEFT_HIP, Joint.RIGHT_HIP)
        )

    @property
    def overall(self) -> float:
        return (self.shoulders + self.hips) / 2

    def at(self, fraction: float) -> float:
        """Between the shoulder line (0) and the hip line (1)."""
        return self.shoulders + fraction * (self.hips - self.shoulders)


def projected_fraction(facing: float, depth_ratio: float) -> float:
    """How wide an elliptical section turned by acos(facing) looks, as a fraction of its breadth:
    sqrt(cos^2 + r^2 sin^2) for depth/breadth ratio r."""
    return math.sqrt(facing * facing + depth_ratio * depth_ratio * (1 - facing * facing))
