"""Is this a measurable full body? Head to ankles in view, standing upright.

Each refusal is BodyNotDetected with a message that tells the person how to retake the photo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from wearon.domain.sizing.scan import BodyScan, Joint, Landmark
from wearon.errors import BodyNotDetected

#: MediaPipe's own drawing utilities treat a landmark under 0.5 visibility as not shown
#: (mediapipe/python/solutions/drawing_utils.py, _VISIBILITY_THRESHOLD).
MIN_VISIBILITY = 0.5
#: Assumption: beyond 20 degrees from vertical a leg or the torso no longer spans its standing
#: height, so the silhouette cannot be scaled by the person's height.
MAX_TILT_DEG = 20.0
#: Assumption: a knee bent more than 30 degrees (hip-knee-ankle under 150) shortens the silhouette
#: by more than 2% of stature.
MIN_KNEE_ANGLE_DEG = 150.0

#: What must be in view, top to bottom, as (what to call it, the landmarks that show it).
REQUIRED_PARTS: tuple[tuple[str, tuple[Joint, ...]], ...] = (
    ("head", (Joint.NOSE, Joint.LEFT_EYE, Joint.RIGHT_EYE)),
    ("shoulders", (Joint.LEFT_SHOULDER, Joint.RIGHT_SHOULDER)),
    ("hips", (Joint.LEFT_HIP, Joint.RIGHT_HIP)),
    ("knees", (Joint.LEFT_KNEE, Joint.RIGHT_KNEE)),
    ("ankles", (Joint.LEFT_ANKLE, Joint.RIGHT_ANKLE)),
)
REQUIRED_JOINTS = tuple(j for _, joints in REQUIRED_PARTS for j in joints)

_RETAKE = "step back so your whole body, head to feet, is in the photo"
_UPRIGHT = "stand upright with straight legs, facing the camera"


def require_full_body(scan: BodyScan) -> None:
    missing = [name for name, joints in REQUIRED_PARTS if not all(_in_view(scan, scan[j]) for j in joints)]
    if missing:
        raise BodyNotDetected("body_incomplete", f"{_join(missing)} not visible: {_RETAKE}")


def require_upright(scan: BodyScan) -> None:
    shoulders = _mid(scan, Joint.LEFT_SHOULDER, Joint.RIGHT_SHOULDER)
    torso = (shoulders, _mid(scan, Joint.LEFT_HIP, Joint.RIGHT_HIP))
    legs = [(scan[hip], scan[ankle]) for hip, ankle in _LEGS]
    if any(_tilt_deg(top, bottom) > MAX_TILT_DEG for top, bottom in (torso, *legs)):
        raise BodyNotDetected("pose_not_upright", f"The body is leaning or mid-movement: {_UPRIGHT}")
    for hip, knee, ankle in _LEG_JOINTS:
        if _angle_deg(scan[hip], scan[knee], scan[ankle]) < MIN_KNEE_ANGLE_DEG:
            raise BodyNotDetected("pose_not_upright", f"The knees are bent: {_UPRIGHT}")


def mean_visibility(scan: BodyScan) -> float:
    return sum(scan[j].visibility for j in REQUIRED_JOINTS) / len(REQUIRED_JOINTS)


_LEGS = ((Joint.LEFT_HIP, Joint.LEFT_ANKLE), (Joint.RIGHT_HIP, Joint.RIGHT_ANKLE))
_LEG_JOINTS = (
    (Joint.LEFT_HIP, Joint.LEFT_KNEE, Joint.LEFT_ANKLE),
    (Joint.RIGHT_HIP, Joint.RIGHT_KNEE, Joint.RIGHT_ANKLE),
)


def _in_view(scan: BodyScan, point: Landmark) -> bool:
    # The detector extrapolates body parts outside the frame; those are guesses, not views.
    inside = 0 <= point.x < scan.width and 0 <= point.y < scan.height
    return inside and point.visibility >= MIN_VISIBILITY


def _join(names: Sequence[str]) -> str:
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return text[0].upper() + text[1:]


def _mid(scan: BodyScan, a: Joint, b: Joint) -> Landmark:
    return Landmark((scan[a].x + scan[b].x) / 2, (scan[a].y + scan[b].y) / 2)


def _tilt_deg(top: Landmark, bottom: Landmark) -> float:
    return math.degrees(math.atan2(abs(bottom.x - top.x), max(bottom.y - top.y, 1e-9)))


def _angle_deg(a: Landmark, vertex: Landmark, c: Landmark) -> float:
    v1 = (a.x - vertex.x, a.y - vertex.y)
    v2 = (c.x - vertex.x, c.y - vertex.y)
    norm = math.hypot(*v1) * math.hypot(*v2)
    if norm == 0:
        return 180.0
    cos = (v1[0] * v2[0] + v1[1] * v2[1]) / norm
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))
