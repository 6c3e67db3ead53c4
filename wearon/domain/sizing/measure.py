"""Body measurements in centimetres, with uncertainty, from one BodyScan and the person's height.

1. The photo must hold enough pixels of the person (`resolution`), checked first so that a small
   photo is never blamed on a missing body part; then it must show a full body, upright
   (`fullbody`).
2. Scale: the silhouette's height, crown to sole along the mask, is the stated height.
3. Breadths: the torso's width on the mask at the shoulder, chest, waist and hip lines, placed
   between the shoulder and hip landmarks in Drillis & Contini's proportions, arms cut away
   (`torso`), and widened back when the body is turned (a turned ellipse looks narrower; the turn
   comes from the detector's 3-D landmarks).
4. Girths: each breadth is the major axis of an ellipse whose depth/breadth ratio is the ANSUR II
   mean (`ellipse`).
5. Uncertainty (one SD, independent parts in quadrature): the spread of widths over the band of
   rows, one pixel of edge, 1.5 cm for each arm cut, the scale (two pixels of height plus
   hair and footwear), half the turn correction, and for girths the population spread of the
   depth ratio.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from wearon.domain.sizing import anthropometry as body
from wearon.domain.sizing.ellipse import girth_estimate
from wearon.domain.sizing.facing import Facing, projected_fraction
from wearon.domain.sizing.fullbody import mean_visibility, require_full_body, require_upright
from wearon.domain.sizing.quantity import Estimate, combine_relative
from wearon.domain.sizing.resolution import require_enough_pixels
from wearon.domain.sizing.scan import BodyScan
from wearon.domain.sizing.silhouette import Mask
from wearon.domain.sizing.stature import Frame, stature_frame
from wearon.domain.sizing.torso import ArmCut, BandWidth, Torso, band_width
from wearon.errors import BodyNotDetected

#: Assumption: where an arm is cut away, the torso's edge is uncertain by 1.5 cm: arm radii vary by
#: about 10% between people (0.6 cm) and the detector places the arm's centre line to about 1 cm.
ARM_CUT_SD_CM = 1.5


@dataclass(frozen=True)
class Measurements:
    height: float
    shoulder_width: Estimate
    chest_width: Estimate
    waist_width: Estimate
    hip_width: Estimate
    chest: Estimate
    waist: Estimate
    hip: Estimate

    def with_girths(self, girths: Mapping[str, Estimate]) -> Measurements:
        """The same measurements with chest, waist and hip replaced."""
        return replace(self, chest=girths["chest"], waist=girths["waist"], hip=girths["hip"])


@dataclass(frozen=True)
class BodyMeasurement:
    measurements: Measurements
    #: Mean detector visibility of the landmarks a full body needs, 0-1.
    visibility: float
    #: Cosine of how far the body is turned from facing the camera, 0-1.
    frontalness: float


def measure_body(scan: BodyScan, height_cm: float) -> BodyMeasurement:
    require_enough_pixels(scan)
    require_full_body(scan)
    require_upright(scan)
    person = scan.person()
    facing = Facing.of(scan)
    breadth = _Breadths(person, Torso.from_scan(scan), stature_frame(scan, person, height_cm), facing)
    chest_width = breadth.at(body.CHEST_LEVEL, body.CHEST_DEPTH_RATIO, "chest")
    waist_width = breadth.at(body.WAIST_LEVEL, body.WAIST_DEPTH_RATIO, "waist")
    hip_width = breadth.at(body.HIP_LEVEL, body.HIP_DEPTH_RATIO, "hips")
    measurements = Measurements(
        height=height_cm,
        shoulder_width=breadth.shoulders(),
        chest_width=chest_width,
        waist_width=waist_width,
        hip_width=hip_width,
        chest=girth_estimate(chest_width, body.CHEST_DEPTH_RATIO, body.DEPTH_RATIO_RELATIVE_SD),
        waist=girth_estimate(waist_width, body.WAIST_DEPTH_RATIO, body.DEPTH_RATIO_RELATIVE_SD),
        hip=girth_estimate(hip_width, body.HIP_DEPTH_RATIO, body.DEPTH_RATIO_RELATIVE_SD),
    )
    return BodyMeasurement(measurements, mean_visibility(scan), facing.overall)


class _Breadths:
    """Measures breadths for one scan; holds what every level shares."""

    def __init__(self, person: Mask, torso: Torso, frame: Frame, facing: Facing) -> None:
        self._person, self._torso, self._frame, self._facing = person, torso, frame, facing
        self._half_band = max(1, round(body.LEVEL_BAND_FRACTION * frame.stature_px))
        self._arm_radius = body.ARM_RADIUS_CM / frame.cm_per_px

    def shoulders(self) -> Estimate:
        # The upper arm is the shoulder's outline here; only forearms and hands are cut away.
        cut = ArmCut(self._arm_radius, margin=self._arm_radius, whole_arms=False)
        band = band_width(self._person, self._torso, self._torso.shoulder_y(), self._half_band, cut)
        return self._to_cm(band, body.SHOULDER_DEPTH_RATIO, self._facing.shoulders, "shoulders")

    def at(self, fraction: float, depth_ratio: float, name: str) -> Estimate:
        y = self._torso.level_y(fraction)
        band = band_width(self._person, self._torso, y, self._half_band, ArmCut(self._arm_radius))
        return self._to_cm(band, depth_ratio, self._facing.at(fraction), name)

    def _to_cm(self, band: BandWidth | None, depth_ratio: float, facing: float, name: str) -> Estimate:
        if band is None or band.width <= 0:
            raise BodyNotDetected(
                "silhouette_incomplete",
                f"The outline of the {name} could not be measured: wear fitted clothes and stand "
                "against a plain background",
            )
        arm_sd = ARM_CUT_SD_CM / self._frame.cm_per_px
        pixel_sd = math.sqrt(band.sd**2 + self._frame.edge_sd_px**2 + band.cut_sides * arm_sd**2)
        # A turned body shows a narrower section; undo it, and keep half the correction as
        # uncertainty, since the turn itself is only estimated.
        seen = projected_fraction(facing, depth_ratio)
        relative = combine_relative(pixel_sd / band.width, self._frame.scale_relative_sd, (1 / seen - 1) / 2)
        value = band.width * self._frame.cm_per_px / seen
        return Estimate(value, value * relative)
