"""Pooling the measurements of several views of one photo (the photo and its mirror image).

A pose detector is not exactly mirror-symmetric: on the mirror image it places landmarks and
mask edges a few pixels differently. Measuring both views and pooling them makes the result the
same for a photo and its mirror image, and halves the detector's own noise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from wearon.domain.sizing.measure import BodyMeasurement, Measurements, measure_body
from wearon.domain.sizing.quantity import Estimate
from wearon.domain.sizing.scan import BodyScan
from wearon.errors import BodyNotDetected

View = BodyScan | BodyNotDetected


def measure_views(views: Sequence[View], height_cm: float) -> BodyMeasurement:
    """Measure every view that shows a body; the first view's refusal if none does.

    A view the detector could not measure lowers the visibility (and so the confidence) in
    proportion: a photo only one of two views can read is a borderline one.
    """
    if not views:
        raise ValueError("no views to measure")
    measured: list[BodyMeasurement] = []
    refusals: list[BodyNotDetected] = []
    for view in views:
        try:
            measured.append(_measure(view, height_cm))
        except BodyNotDetected as refusal:
            refusals.append(refusal)
    if not measured:
        raise refusals[0]
    return pool(measured, share=len(measured) / len(views))


def pool(results: Sequence[BodyMeasurement], share: float = 1.0) -> BodyMeasurement:
    return BodyMeasurement(
        measurements=_pool_measurements([r.measurements for r in results]),
        visibility=share * statistics.fmean(r.visibility for r in results),
        frontalness=statistics.fmean(r.frontalness for r in results),
    )


def pool_estimates(estimates: Sequence[Estimate]) -> Estimate:
    """Mean value; the views share one photo, so their errors are not independent and do not
    average down: the spread is their mean variance plus their disagreement."""
    values = [e.value for e in estimates]
    variance = statistics.fmean(e.sd**2 for e in estimates) + statistics.pvariance(values)
    return Estimate(statistics.fmean(values), math.sqrt(variance))


def _measure(view: View, height_cm: float) -> BodyMeasurement:
    if isinstance(view, BodyNotDetected):
        raise view
    return measure_body(view, height_cm)


def _pool_measurements(all_measurements: Sequence[Measurements]) -> Measurements:
    def pooled(name: str) -> Estimate:
        return pool_estimates([getattr(m, name) for m in all_measurements])

    return Measurements(
        height=all_measurements[0].height,
        shoulder_width=pooled("shoulder_width"),
        chest_width=pooled("chest_width"),
        waist_width=pooled("waist_width"),
        hip_width=pooled("hip_width"),
        chest=pooled("chest"),
        waist=pooled("waist"),
        hip=pooled("hip"),
    )
