"""Size recommendation from one full-body photo: pure measurement math, no I/O.

Landmarks and a person mask go in (`BodyScan`), measurements in centimetres with their
uncertainty come out (`measure_body`), and a size, its probability, a runner-up and a body
type follow from a size chart held as data (`recommend`).
"""

from wearon.domain.sizing.body_type import BodyType, classify_body_type
from wearon.domain.sizing.chart import DEFAULT_CHART, SizeBand, SizeChart
from wearon.domain.sizing.measure import BodyMeasurement, Measurements, measure_body
from wearon.domain.sizing.quantity import Estimate
from wearon.domain.sizing.recommend import Recommendation, RunnerUp, recommend
from wearon.domain.sizing.scan import BodyScan, Joint, Landmark, WorldPoint
from wearon.domain.sizing.views import View, measure_views

__all__ = [
    "DEFAULT_CHART",
    "BodyMeasurement",
    "BodyScan",
    "BodyType",
    "Estimate",
    "Joint",
    "Landmark",
    "Measurements",
    "Recommendation",
    "RunnerUp",
    "SizeBand",
    "SizeChart",
    "View",
    "WorldPoint",
    "classify_body_type",
    "measure_body",
    "measure_views",
    "recommend",
]
