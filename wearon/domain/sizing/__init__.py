"""Size recommendation from one full-body photo: pure measurement math, no I/O.

Landmarks and a person mask go in (`BodyScan`), measurements in centimetres with their
uncertainty come out (`measure_body`), and a size, its probability, a runner-up, a body type and
any caveats follow from a size chart held as data, built in or a merchant's own, adjusted for
loose clothing and, when given, the person's weight (`recommend`).
"""

from wearon.domain.sizing.body_type import BodyType, classify_body_type
from wearon.domain.sizing.bodymass import Population
from wearon.domain.sizing.caveats import Caveat
from wearon.domain.sizing.chart import BUILT_IN_CHARTS, DEFAULT_CHART, MAX_SIZES, SizeBand, SizeChart
from wearon.domain.sizing.measure import BodyMeasurement, Measurements, measure_body
from wearon.domain.sizing.quantity import Estimate
from wearon.domain.sizing.recommend import Recommendation, RunnerUp, recommend
from wearon.domain.sizing.scan import BodyScan, Joint, Landmark, WorldPoint
from wearon.domain.sizing.views import View, measure_views

__all__ = [
    "BUILT_IN_CHARTS",
    "DEFAULT_CHART",
    "MAX_SIZES",
    "BodyMeasurement",
    "BodyScan",
    "BodyType",
    "Caveat",
    "Estimate",
    "Joint",
    "Landmark",
    "Measurements",
    "Population",
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
