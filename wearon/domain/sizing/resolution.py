"""Are there enough pixels of the person to measure? Asked first, before any landmark is judged.

On a small photo the detector's belief in each landmark (its visibility) drops even where the body
part is plainly in the frame, so a refusal read from the landmarks ("ankles not visible: step
back") would name the wrong cause, and the person would retake the same photo. The person's height
in pixels is estimated from the skeleton, which the detector places even when it doubts it, and
checked against what measuring needs before anything else.

Two causes, two answers. The detector reads every photo at one working size (its long side
scaled to the pose adapter's MAX_SIDE, up or down), so:
- when the person has too few pixels at that size, they fill too little of the frame, and a
  larger photo would only be shrunk back: `person_too_small`, move closer;
- when they have enough there but the photo was upscaled to get them, the photo itself lacks
  detail: `photo_too_small`, with the size of photo that would have enough.
"""

from __future__ import annotations

import math

from wearon.domain.sizing.scan import BodyScan, Joint, Landmark
from wearon.errors import BodyNotDetected

#: Assumption: under 160 px from crown to sole a torso is under 40 px wide, and one pixel of edge
#: is already 2.5% of a breadth. Counted in the photo's own pixels: upscaling adds none.
MIN_STATURE_PX = 160
# Drillis & Contini heights as fractions of stature (see `anthropometry`): shoulder 0.818, ankle
# 0.039. The skeleton from the shoulder line down the longer leg spans the difference.
_SHOULDER_TO_ANKLE = 0.818 - 0.039


def require_photo_height(width: int, height: int) -> None:
    """A photo lower than the minimum stature cannot hold a measurable person, upright."""
    if height < MIN_STATURE_PX:
        raise photo_too_small((width, height), person_px=None)


def require_enough_pixels(scan: BodyScan) -> None:
    require_stature_px(scan, skeleton_stature_px(scan))


def require_stature_px(scan: BodyScan, scan_px: float) -> None:
    """The person's `scan_px` in the scan must be enough, and enough in the photo as sent."""
    if scan_px < MIN_STATURE_PX:
        raise person_too_small()
    photo_px = scan_px / scan.pixel_scale
    if photo_px < MIN_STATURE_PX:
        raise photo_too_small(scan.photo_size, person_px=photo_px)


def skeleton_stature_px(scan: BodyScan) -> float:
    """The person's height in scan pixels, from the skeleton's path shoulders-hips-knee-ankle.

    A path, not a vertical extent, so that leaning or a bent knee does not shrink it; the
    detector places every landmark, even one it is unsure of or that lies outside the frame.
    """
    shoulders = _mid(scan[Joint.LEFT_SHOULDER], scan[Joint.RIGHT_SHOULDER])
    hips = _mid(scan[Joint.LEFT_HIP], scan[Joint.RIGHT_HIP])
    legs = (
        _length(scan[hip], scan[knee]) + _length(scan[knee], scan[ankle])
        for hip, knee, ankle in (
            (Joint.LEFT_HIP, Joint.LEFT_KNEE, Joint.LEFT_ANKLE),
            (Joint.RIGHT_HIP, Joint.RIGHT_KNEE, Joint.RIGHT_ANKLE),
        )
    )
    return (_length(shoulders, hips) + max(legs)) / _SHOULDER_TO_ANKLE


def photo_too_small(size: tuple[int, int], person_px: float | None) -> BodyNotDetected:
    """The refusal, naming the photo size that would give the person enough pixels."""
    width, height = size
    factor = MIN_STATURE_PX / (person_px if person_px else height)
    needed = f"{math.ceil(width * factor)}x{math.ceil(height * factor)}"
    person = f"the person is about {round(person_px)} px tall" if person_px else "it is too small"
    return BodyNotDetected(
        "photo_too_small",
        f"The photo is {width}x{height} px and {person}; measuring needs at least "
        f"{MIN_STATURE_PX} px from head to feet: send the photo at {needed} px or larger, "
        "or take it closer",
    )


def person_too_small() -> BodyNotDetected:
    return BodyNotDetected(
        "person_too_small", "The person is too small in the photo: move closer so you fill more of it"
    )


def _mid(a: Landmark, b: Landmark) -> Landmark:
    return Landmark((a.x + b.x) / 2, (a.y + b.y) / 2)


def _length(a: Landmark, b: Landmark) -> float:
    return math.hypot(a.x - b.x, a.y - b.y)
