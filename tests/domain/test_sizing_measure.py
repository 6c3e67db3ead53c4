"""Measurement on drawn figures of known geometry: what was drawn must measure back within 2%."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pytest

from wearon.domain.sizing import BodyScan, Joint, Landmark, WorldPoint, measure_body, measure_views
from wearon.domain.sizing import anthropometry as body
from wearon.domain.sizing.ellipse import girth
from wearon.domain.sizing.facing import projected_fraction
from wearon.errors import BodyNotDetected

Canvas = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Figure:
    """A standing person drawn in centimetres on a canvas of `scale` pixels per cm.

    The torso's breadth is constant for 3 cm either side of each measurement line (wider than the
    band the measurement reads), so the breadth there is known exactly.
    """

    scale: float = 4.0
    height_cm: float = 175.0
    shoulders: float = 42.0
    chest: float = 34.0
    waist: float = 31.0
    hips: float = 36.0
    arms: str = "apart"  # "apart" (A-pose) or "touching" (hanging against the torso)
    yaw_deg: float = 0.0
    canvas_cm: tuple[float, float] = (200.0, 120.0)
    crown_cm: float = 10.0
    cx: float = 60.0

    @property
    def shoulder_y(self) -> float:
        return self.crown_cm + (1 - 0.818) * self.height_cm

    @property
    def hip_y(self) -> float:
        return self.crown_cm + (1 - 0.530) * self.height_cm

    @property
    def sole_y(self) -> float:
        return self.crown_cm + self.height_cm

    def level_y(self, fraction: float) -> float:
        return self.shoulder_y + fraction * (self.hip_y - self.shoulder_y)


def draw(fig: Figure) -> BodyScan:
    canvas = np.zeros((round(fig.canvas_cm[0] * fig.scale), round(fig.canvas_cm[1] * fig.scale)), dtype=bool)
    _draw_head(canvas, fig)
    _draw_torso(canvas, fig)
    _draw_legs(canvas, fig)
    arms = _arm_points(fig)
    for arm in arms:
        _thick_polyline(canvas, fig, arm, _arm_radius(fig))
    return BodyScan(_landmarks(fig, arms), canvas, _world(fig))


def _px(fig: Figure, cm: float) -> float:
    return cm * fig.scale


def _rows(canvas: Canvas) -> npt.NDArray[np.float64]:
    return np.arange(canvas.shape[0])[:, None] + 0.5


def _cols(canvas: Canvas) -> npt.NDArray[np.float64]:
    return np.arange(canvas.shape[1])[None, :] + 0.5


def _fill_rows(canvas: Canvas, fig: Figure, y0: float, y1: float, cx: float, half: float) -> None:
    r0, r1 = round(_px(fig, y0)), round(_px(fig, y1))
    c0, c1 = round(_px(fig, cx - half)), round(_px(fig, cx + half))
    canvas[r0:r1, c0:c1] = True


def _draw_head(canvas: Canvas, fig: Figure) -> None:
    cy, cx, ry, rx = _px(fig, fig.crown_cm + 12), _px(fig, fig.cx), _px(fig, 12), _px(fig, 8)
    canvas |= ((_rows(canvas) - cy) / ry) ** 2 + ((_cols(canvas) - cx) / rx) ** 2 <= 1
    _fill_rows(canvas, fig, fig.crown_cm + 22, fig.shoulder_y, fig.cx, 6)


def _draw_torso(canvas: Canvas, fig: Figure) -> None:
    """Plateaus of known breadth around each line, joined by straight ramps."""
    plateau = 3.0
    w = _projected_breadths(fig)
    knots = [(fig.shoulder_y - 4, w[0]), (fig.shoulder_y + plateau, w[0])]
    for fraction, breadth in zip((body.CHEST_LEVEL, body.WAIST_LEVEL, body.HIP_LEVEL), w[1:], strict=True):
        y = fig.level_y(fraction)
        knots += [(y - plateau, breadth), (y + plateau, breadth)]
    knots.append((fig.hip_y + 6, w[3]))
    ys, breadths = zip(*knots, strict=True)
    for row in range(round(_px(fig, ys[0])), round(_px(fig, ys[-1]))):
        half = float(np.interp((row + 0.5) / fig.scale, ys, breadths)) / 2
        canvas[row, round(_px(fig, fig.cx - half)) : round(_px(fig, fig.cx + half))] = True


def _projected_breadths(fig: Figure) -> list[float]:
    """What a camera sees of each section when the figure is turned by yaw_deg."""
    facing = math.cos(math.radians(fig.yaw_deg))
    ratios = (body.SHOULDER_DEPTH_RATIO, body.CHEST_DEPTH_RATIO, body.WAIST_DEPTH_RATIO, body.HIP_DEPTH_RATIO)
    breadths = (fig.shoulders, fig.chest, fig.waist, fig.hips)
    return [b * projected_fraction(facing, r) for b, r in zip(breadths, ratios, strict=True)]


def _draw_legs(canvas: Canvas, fig: Figure) -> None:
    for side in (-1, 1):
        _fill_rows(canvas, fig, fig.hip_y + 5, fig.sole_y - 8, fig.cx + side * 9, 7)
        _fill_rows(canvas, fig, fig.sole_y - 8, fig.sole_y, fig.cx + side * 10, 8)


def _arm_radius(fig: Figure) -> float:
    return body.ARM_RADIUS_CM if fig.arms == "touching" else 4.0


def _arm_points(fig: Figure) -> list[list[tuple[float, float]]]:
    """Shoulder, elbow, wrist, hand, in cm, for the image-left and image-right arms."""
    arms = []
    for side in (-1, 1):
        joint = (fig.cx + side * (fig.shoulders / 2 - 6), fig.shoulder_y)
        if fig.arms == "touching":
            # Each bend sits on a measurement line, one arm radius outside the torso's edge there.
            r = _arm_radius(fig)
            levels = (
                (body.CHEST_LEVEL, fig.chest),
                (body.WAIST_LEVEL, fig.waist),
                (body.HIP_LEVEL, fig.hips),
            )
            arms.append([joint, *((fig.cx + side * (b / 2 + r), fig.level_y(f)) for f, b in levels)])
        else:
            elbow = (joint[0] + side * 15, joint[1] + 26)
            wrist = (elbow[0] + side * 13.5, elbow[1] + 23.4)
            arms.append([joint, elbow, wrist, (wrist[0] + side * 5, wrist[1] + 8.7)])
    return arms


def _thick_polyline(canvas: Canvas, fig: Figure, points: list[tuple[float, float]], radius: float) -> None:
    rows, cols = _rows(canvas) / fig.scale, _cols(canvas) / fig.scale
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((cols - x0) * dx + (rows - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        canvas |= (cols - x0 - t * dx) ** 2 + (rows - y0 - t * dy) ** 2 <= radius**2


def _landmarks(fig: Figure, arms: list[list[tuple[float, float]]]) -> dict[Joint, Landmark]:
    cm: dict[str, tuple[float, float]] = {"NOSE": (fig.cx, fig.crown_cm + 14)}
    for side, name in ((-1, "RIGHT"), (1, "LEFT")):  # the person's right is the image's left
        arm = arms[0] if side == -1 else arms[1]
        cm |= {
            f"{name}_EYE": (fig.cx + side * 3, fig.crown_cm + 11),
            f"{name}_EAR": (fig.cx + side * 7.5, fig.crown_cm + 12),
            f"{name}_SHOULDER": arm[0],
            f"{name}_ELBOW": arm[1],
            f"{name}_WRIST": arm[2],
            f"{name}_PINKY": arm[3],
            f"{name}_INDEX": arm[3],
            f"{name}_HIP": (fig.cx + side * (fig.hips / 2 - 8), fig.hip_y),
            f"{name}_KNEE": (fig.cx + side * 9, fig.hip_y + 0.245 * fig.height_cm),
            f"{name}_ANKLE": (fig.cx + side * 9, fig.sole_y - 7),
            f"{name}_HEEL": (fig.cx + side * 9, fig.sole_y - 2),
            f"{name}_FOOT_INDEX": (fig.cx + side * 11, fig.sole_y - 1),
        }
    return {Joint[name]: Landmark(x * fig.scale, y * fig.scale, 0.99) for name, (x, y) in cm.items()}


def _world(fig: Figure) -> dict[Joint, WorldPoint]:
    """Shoulder and hip lines turned by yaw_deg about the vertical, in metres."""
    yaw = math.radians(fig.yaw_deg)
    out = {j: WorldPoint(0.0, 0.0, 0.0) for j in Joint}
    for joint, half, y in (
        (Joint.LEFT_SHOULDER, 0.18, -0.5),
        (Joint.RIGHT_SHOULDER, -0.18, -0.5),
        (Joint.LEFT_HIP, 0.1, 0.0),
        (Joint.RIGHT_HIP, -0.1, 0.0),
    ):
        out[joint] = WorldPoint(half * math.cos(yaw), y, half * math.sin(yaw))
    return out


def within(measured: float, expected: float, tolerance: float = 0.02) -> bool:
    return abs(measured - expected) <= tolerance * expected


# --- measurement on drawn figures ---------------------------------------------------------------


def test_a_drawn_figure_measures_back_within_2_percent() -> None:
    fig = Figure()
    m = measure_body(draw(fig), fig.height_cm).measurements
    assert within(m.shoulder_width.value, fig.shoulders)
    assert within(m.chest_width.value, fig.chest)
    assert within(m.waist_width.value, fig.waist)
    assert within(m.hip_width.value, fig.hips)


def test_girths_are_ellipses_of_the_anthropometric_depth_ratio() -> None:
    fig = Figure()
    m = measure_body(draw(fig), fig.height_cm).measurements
    assert within(m.chest.value, girth(fig.chest, body.CHEST_DEPTH_RATIO))
    assert within(m.waist.value, girth(fig.waist, body.WAIST_DEPTH_RATIO))
    assert within(m.hip.value, girth(fig.hips, body.HIP_DEPTH_RATIO))


def test_the_scale_comes_from_the_stated_height() -> None:
    # Given the same drawing said to be of a person 10% taller, every breadth is 10% larger.
    fig = Figure()
    short = measure_body(draw(fig), 175.0).measurements
    tall = measure_body(draw(fig), 192.5).measurements
    assert tall.chest_width.value == pytest.approx(short.chest_width.value * 1.1, rel=1e-9)


@pytest.mark.parametrize("scale", [2.0, 3.0, 6.0])
def test_resolution_does_not_change_the_result(scale: float) -> None:
    fig = Figure(scale=scale)
    m = measure_body(draw(fig), fig.height_cm).measurements
    assert within(m.chest_width.value, fig.chest, 0.03)
    assert within(m.hip_width.value, fig.hips, 0.03)


def test_a_mirrored_figure_measures_the_same() -> None:
    scan = draw(Figure())
    mirror = _mirror(scan)
    a, b = measure_body(scan, 175).measurements, measure_body(mirror, 175).measurements
    assert b.chest_width.value == pytest.approx(a.chest_width.value, abs=0.3)
    assert b.shoulder_width.value == pytest.approx(a.shoulder_width.value, abs=0.3)


def test_arms_touching_the_torso_are_cut_away() -> None:
    # Given arms hanging against the torso, fused with it in the mask,
    fig = Figure(arms="touching")
    scan = draw(fig)
    row = scan.person()[round(fig.level_y(body.WAIST_LEVEL) * fig.scale)]
    assert row.sum() > (fig.waist + 3 * body.ARM_RADIUS_CM) * fig.scale  # the arms really are in the run
    # then the breadths are still the torso's alone, and the uncertainty says an arm was cut.
    m = measure_body(scan, fig.height_cm).measurements
    assert within(m.chest_width.value, fig.chest)
    assert within(m.waist_width.value, fig.waist)
    assert within(m.hip_width.value, fig.hips)
    apart = measure_body(draw(Figure()), fig.height_cm).measurements
    assert m.waist_width.sd > apart.waist_width.sd


def test_another_person_elsewhere_in_the_mask_is_ignored() -> None:
    scan = draw(Figure())
    crowded = scan.person().copy()
    crowded[100:700, 440:480] = True  # someone at the frame's edge, not touching the body
    m = measure_body(replace(scan, mask=crowded), 175).measurements
    assert within(m.chest_width.value, 34.0)


def test_a_turned_body_is_widened_back_to_its_breadth() -> None:
    # Given a figure turned 30 degrees, whose silhouette is narrower than its true breadths,
    fig = Figure(yaw_deg=30)
    result = measure_body(draw(fig), fig.height_cm)
    # then the breadths measure back, and the turn shows in frontalness and in the uncertainty.
    assert within(result.measurements.waist_width.value, fig.waist)
    assert within(result.measurements.hip_width.value, fig.hips)
    assert result.frontalness == pytest.approx(math.cos(math.radians(30)), abs=1e-6)
    facing = measure_body(draw(Figure()), fig.height_cm)
    assert result.measurements.waist.sd > facing.measurements.waist.sd


def test_uncertainty_is_a_few_percent_for_a_clean_figure() -> None:
    m = measure_body(draw(Figure()), 175).measurements
    for estimate in (m.shoulder_width, m.chest_width, m.waist_width, m.hip_width):
        assert 0 < estimate.sd < 0.05 * estimate.value
    # Girths also carry the population spread of the depth/breadth ratio.
    assert m.chest.sd / m.chest.value > m.chest_width.sd / m.chest_width.value


# --- refusals: what the person must fix ---------------------------------------------------------


def test_a_crop_without_legs_names_what_is_missing() -> None:
    fig = Figure()
    scan = draw(fig)
    cut = round((fig.hip_y + 20) * fig.scale)
    cropped = BodyScan(scan.landmarks, scan.person()[:cut])
    with pytest.raises(BodyNotDetected) as refused:
        measure_body(cropped, 175)
    assert refused.value.code == "body_incomplete"
    assert str(refused.value).startswith("Knees and ankles not visible")


def test_low_visibility_is_not_visible() -> None:
    scan = draw(Figure())
    landmarks = dict(scan.landmarks)
    landmarks[Joint.LEFT_ANKLE] = replace(landmarks[Joint.LEFT_ANKLE], visibility=0.2)
    with pytest.raises(BodyNotDetected, match=r"^Ankles not visible"):
        measure_body(replace(scan, landmarks=landmarks), 175)


def test_a_head_cut_off_at_the_top_is_refused() -> None:
    fig = Figure()
    scan = draw(fig)
    top = round((fig.crown_cm + 4) * fig.scale)
    shifted = {j: replace(p, y=p.y - top) for j, p in scan.landmarks.items()}
    with pytest.raises(BodyNotDetected) as refused:
        measure_body(BodyScan(shifted, scan.person()[top:]), 175)
    assert refused.value.code == "head_cut_off"


def test_a_leaning_body_is_refused() -> None:
    scan = draw(Figure())
    landmarks = dict(scan.landmarks)
    ankle = landmarks[Joint.LEFT_ANKLE]
    landmarks[Joint.LEFT_ANKLE] = replace(ankle, x=ankle.x - 250)
    with pytest.raises(BodyNotDetected) as refused:
        measure_body(replace(scan, landmarks=landmarks), 175)
    assert refused.value.code == "pose_not_upright"


def test_bent_knees_are_refused() -> None:
    scan = draw(Figure())
    landmarks = dict(scan.landmarks)
    knee = landmarks[Joint.RIGHT_KNEE]
    landmarks[Joint.RIGHT_KNEE] = replace(knee, x=knee.x - 120)
    with pytest.raises(BodyNotDetected, match="The knees are bent"):
        measure_body(replace(scan, landmarks=landmarks), 175)


def test_a_tiny_photo_is_refused_with_the_size_it_needs() -> None:
    # Given a whole figure 140 px tall in a 96x160 px photo, read on a copy upscaled 4x,
    scan = replace(draw(Figure(scale=3.2)), pixel_scale=4.0)
    with pytest.raises(BodyNotDetected) as refused:
        measure_body(scan, 175)
    # then the photo is named too small, with a size that gives the person 160 px.
    assert refused.value.code == "photo_too_small"
    assert "The photo is 96x160 px" in str(refused.value)
    needed = re.search(r"send the photo at (\d+)x(\d+) px", str(refused.value))
    assert needed is not None
    assert 1.1 < int(needed[2]) / 160 < 1.25  # the person is about 140 px of 160: about 8/7 bigger


def test_weak_landmarks_on_a_small_photo_are_blamed_on_its_size() -> None:
    # Given a small photo where the detector doubts the ankles (as it does at low resolution),
    scan = replace(draw(Figure(scale=3.2)), pixel_scale=4.0)
    landmarks = {j: replace(p, visibility=0.3) if "ANKLE" in j.name else p for j, p in scan.landmarks.items()}
    with pytest.raises(BodyNotDetected) as refused:
        measure_body(replace(scan, landmarks=landmarks), 175)
    # then the answer is the photo's size, never "ankles not visible: step back".
    assert refused.value.code == "photo_too_small"


def test_a_person_small_in_the_frame_is_asked_to_come_closer() -> None:
    # Given a person only 140 px tall at the detector's working size (a larger photo of the same
    # framing would be shrunk to that size again),
    with pytest.raises(BodyNotDetected) as refused:
        measure_body(replace(draw(Figure(scale=0.8)), pixel_scale=0.25), 175)
    # then more pixels would not help: the person must fill more of the frame.
    assert refused.value.code == "person_too_small"
    assert "move closer" in str(refused.value)


def test_an_upscaled_copy_is_measured_with_the_photo_s_own_pixel_as_its_edge() -> None:
    # Given the same figure, read on a copy upscaled 2x from a photo where it is 350 px tall,
    fig = Figure(scale=4.0)
    direct, upscaled = draw(fig), replace(draw(fig), pixel_scale=2.0)
    a, b = measure_body(direct, 175).measurements, measure_body(upscaled, 175).measurements
    # then the values are the same, and the uncertainty is that of the coarser photo.
    assert b.chest_width.value == pytest.approx(a.chest_width.value)
    assert b.chest_width.sd > a.chest_width.sd


# --- pooling the photo and its mirror image -----------------------------------------------------


def test_pooling_a_view_with_itself_changes_nothing() -> None:
    scan = draw(Figure())
    one = measure_body(scan, 175)
    pooled = measure_views([scan, scan], 175)
    assert pooled.measurements.chest == one.measurements.chest
    assert pooled.visibility == pytest.approx(one.visibility)


def test_views_that_disagree_widen_the_uncertainty() -> None:
    narrow, wide = draw(Figure()), draw(Figure(chest=38))
    pooled = measure_views([narrow, wide], 175).measurements.chest
    alone = measure_body(narrow, 175).measurements.chest
    assert pooled.value == pytest.approx((alone.value + measure_body(wide, 175).measurements.chest.value) / 2)
    assert pooled.sd > alone.sd


def test_a_view_that_fails_halves_the_visibility() -> None:
    scan = draw(Figure())
    pooled = measure_views([scan, BodyNotDetected("no_person", "no person")], 175)
    assert pooled.visibility == pytest.approx(measure_body(scan, 175).visibility / 2)


def test_when_every_view_fails_the_first_reason_is_given() -> None:
    first = BodyNotDetected("no_person", "No person found")
    with pytest.raises(BodyNotDetected) as refused:
        measure_views([first, BodyNotDetected("body_incomplete", "Ankles not visible")], 175)
    assert refused.value is first


def _mirror(scan: BodyScan) -> BodyScan:
    width = scan.width
    flipped = {j: replace(p, x=width - p.x) for j, p in scan.landmarks.items()}
    return BodyScan(flipped, scan.person()[:, ::-1].copy(), scan.world)
