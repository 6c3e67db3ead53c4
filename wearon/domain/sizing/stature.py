"""The photo's scale: the silhouette from crown to sole is the person's stated height."""

from __future__ import annotations

from dataclasses import dataclass

from wearon.domain.sizing import anthropometry as body
from wearon.domain.sizing.quantity import combine_relative
from wearon.domain.sizing.resolution import require_stature_px
from wearon.domain.sizing.scan import BodyScan, Joint
from wearon.domain.sizing.silhouette import Mask, reach_down, reach_up
from wearon.errors import BodyNotDetected

#: A mask edge is uncertain to about a pixel of the photo (on an upscaled copy, several of the
#: scan's pixels).
EDGE_SD_PX = 1.0


@dataclass(frozen=True)
class Frame:
    """How pixels map to centimetres for this photo."""

    cm_per_px: float
    scale_relative_sd: float
    stature_px: float
    #: One SD of a mask edge, in scan pixels.
    edge_sd_px: float = EDGE_SD_PX


def stature_frame(scan: BodyScan, person: Mask, height_cm: float) -> Frame:
    top = _crown(scan, person)
    bottom = max(_sole(scan, person, side) for side in ("LEFT", "RIGHT"))
    stature_px = bottom + 1 - top
    # The skeleton passed this check already; the silhouette itself may still come out shorter.
    require_stature_px(scan, stature_px)
    edge_sd = EDGE_SD_PX * max(1.0, scan.pixel_scale)
    scale_sd = combine_relative(2 * edge_sd / stature_px, body.SILHOUETTE_HEIGHT_SD_CM / height_cm)
    return Frame(height_cm / stature_px, scale_sd, stature_px, edge_sd)


def _crown(scan: BodyScan, person: Mask) -> int:
    nose = scan[Joint.NOSE]
    half = max(2.0, abs(scan[Joint.LEFT_EAR].x - scan[Joint.RIGHT_EAR].x) / 2)
    columns = range(int(nose.x - half), int(nose.x + half) + 1)
    top = reach_up(person, columns, int(nose.y))
    if top is None:
        raise BodyNotDetected(
            "silhouette_incomplete", "The head could not be separated from the background: use a plain one"
        )
    if top == 0:
        raise BodyNotDetected("head_cut_off", "The top of the head is cut off: leave space above the head")
    return top


def _sole(scan: BodyScan, person: Mask, side: str) -> float:
    points = [scan[Joint[f"{side}_{part}"]] for part in ("ANKLE", "HEEL", "FOOT_INDEX")]
    xs = [p.x for p in points]
    columns = range(int(min(xs)) - 2, int(max(xs)) + 3)
    lowest_landmark = max(p.y for p in points)
    reached = reach_down(person, columns, int(points[0].y))
    # Dark shoes can drop out of the mask; the heel and toe landmarks still bound the sole.
    return max(float(reached) if reached is not None else 0.0, lowest_landmark)
