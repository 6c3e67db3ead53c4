"""Torso breadth along one horizontal line of the mask, with the arms cut away.

The torso's joint lines run through the shoulder and hip landmarks on each side. Along a row,
the breadth is the mask run that contains the torso's centre. An arm that crosses the row
outside a joint line and is fused with the torso in the mask is cut off one arm radius inside
its own centre line (never inside the joint line); an arm held in front of the torso does not
widen the silhouette and is left alone; an arm held clear of the torso is outside the run anyway.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from wearon.domain.sizing.scan import BodyScan, Joint, Landmark
from wearon.domain.sizing.silhouette import Mask, run_around

Point = tuple[float, float]
Polyline = tuple[Point, ...]

#: Scale from the median absolute deviation to a normal standard deviation.
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class Line:
    top: Point
    bottom: Point

    def x_at(self, y: float) -> float:
        (x0, y0), (x1, y1) = self.top, self.bottom
        if y1 == y0:
            return (x0 + x1) / 2
        return x0 + (y - y0) * (x1 - x0) / (y1 - y0)


@dataclass(frozen=True)
class Torso:
    """Where the torso is: its two joint lines (image left and right) and the arms around it."""

    left: Line
    right: Line
    #: Each arm as shoulder-elbow-wrist-hand, and the forearm-and-hand part alone.
    arms: tuple[Polyline, ...]
    forearms: tuple[Polyline, ...]

    @classmethod
    def from_scan(cls, scan: BodyScan) -> Torso:
        shoulders = sorted((_xy(scan[Joint.LEFT_SHOULDER]), _xy(scan[Joint.RIGHT_SHOULDER])))
        hips = sorted((_xy(scan[Joint.LEFT_HIP]), _xy(scan[Joint.RIGHT_HIP])))
        arms = tuple(_arm(scan, side) for side in ("LEFT", "RIGHT"))
        return cls(Line(shoulders[0], hips[0]), Line(shoulders[1], hips[1]), arms, tuple(a[1:] for a in arms))

    def shoulder_y(self) -> float:
        return (self.left.top[1] + self.right.top[1]) / 2

    def level_y(self, fraction: float) -> float:
        """The row `fraction` of the way from the shoulder line (0) to the hip line (1)."""
        hip_y = (self.left.bottom[1] + self.right.bottom[1]) / 2
        return self.shoulder_y() + fraction * (hip_y - self.shoulder_y())


@dataclass(frozen=True)
class BandWidth:
    """Breadth in pixels over a band of rows: a robust value, its spread, and whether arms were cut."""

    width: float
    sd: float
    cut_sides: int


@dataclass(frozen=True)
class ArmCut:
    """Which arm segments to cut away, and how close to the joint line a cut may reach."""

    radius: float
    #: How far outside the joint line the torso's outline is known to reach (at the shoulder the
    #: deltoid covers the joint, so the outline lies about one arm radius outside it).
    margin: float = 0.0
    whole_arms: bool = True


def band_width(person: Mask, torso: Torso, y: float, half_band: int, cut: ArmCut) -> BandWidth | None:
    """Breadth over rows y-half_band..y+half_band; None when most rows show no torso.

    Arms, hands and loose clothing only ever widen a row, so the band's lower quartile is used: it
    favours the rows least touched by them while still averaging over the mask's edge noise.
    """
    arms = torso.arms if cut.whole_arms else torso.forearms
    rows = range(int(y) - half_band, int(y) + half_band + 1)
    found = [w for r in rows if (w := row_width(person, torso, r, arms, cut)) is not None]
    if len(found) * 2 < len(rows):
        return None
    widths = [w for w, _ in found]
    value = statistics.quantiles(widths, n=4, method="inclusive")[0] if len(widths) > 1 else widths[0]
    middle = statistics.median(widths)
    spread = MAD_TO_SD * statistics.median(abs(w - middle) for w in widths)
    return BandWidth(value, spread, max(c for _, c in found))


def row_width(
    person: Mask, torso: Torso, row: int, arms: Sequence[Polyline], cut: ArmCut
) -> tuple[float, int] | None:
    """Breadth of the torso along one row, and how many sides had an arm cut away."""
    if not 0 <= row < person.shape[0]:
        return None
    y = row + 0.5
    left_line, right_line = torso.left.x_at(y), torso.right.x_at(y)
    run = run_around(person[row], int((left_line + right_line) / 2))
    if run is None:
        return None
    left, right = float(run[0]), float(run[1] + 1)
    left_limit, right_limit = left_line - cut.margin, right_line + cut.margin
    cut_left = cut_right = False
    for x in crossings(arms, y):
        if x < left_line and x + cut.radius > left:
            left, cut_left = max(left, min(left_limit, x + cut.radius)), True
        elif x > right_line and x - cut.radius < right:
            right, cut_right = min(right, max(right_limit, x - cut.radius)), True
    return right - left, int(cut_left) + int(cut_right)


def crossings(polylines: Sequence[Polyline], y: float) -> list[float]:
    """Columns where the polylines cross row `y`."""
    found = []
    for line in polylines:
        for (x0, y0), (x1, y1) in itertools.pairwise(line):
            if min(y0, y1) <= y <= max(y0, y1):
                found.append(x0 if math.isclose(y0, y1) else x0 + (y - y0) * (x1 - x0) / (y1 - y0))
    return found


def _xy(point: Landmark) -> Point:
    return (point.x, point.y)


def _arm(scan: BodyScan, side: str) -> Polyline:
    def at(name: str) -> Point:
        return _xy(scan[Joint[f"{side}_{name}"]])

    pinky, index = at("PINKY"), at("INDEX")
    hand = ((pinky[0] + index[0]) / 2, (pinky[1] + index[1]) / 2)
    return (at("SHOULDER"), at("ELBOW"), at("WRIST"), hand)
