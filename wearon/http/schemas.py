"""The API's request and response bodies, as pydantic models (the OpenAPI schema is built from them)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wearon.domain.sizing import BodyType, Caveat, Estimate, Recommendation
from wearon.http.charts import BuiltInChart, MerchantChart
from wearon.http.error_handlers import ApiError
from wearon.validation import describe

MIN_HEIGHT_CM = 100
MAX_HEIGHT_CM = 250
MIN_WEIGHT_KG = 30
MAX_WEIGHT_KG = 300
MAX_URL_LENGTH = 2048


class EstimateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", title="EstimateRequest")

    image_url: Annotated[
        str,
        Field(
            strict=True,
            min_length=1,
            max_length=MAX_URL_LENGTH,
            pattern=r"^https?://",
            description="A full-body photo, fetched through the safe-download guard.",
        ),
    ]
    height_cm: Annotated[
        float,
        Field(
            strict=True,
            ge=MIN_HEIGHT_CM,
            le=MAX_HEIGHT_CM,
            allow_inf_nan=False,
            description="The person's height without shoes, in centimetres.",
        ),
    ]
    weight_kg: Annotated[
        float | None,
        Field(
            strict=True,
            ge=MIN_WEIGHT_KG,
            le=MAX_WEIGHT_KG,
            allow_inf_nan=False,
            description="The person's weight; when given, narrows the girths (ANSUR II relation).",
        ),
    ] = None
    size_chart: BuiltInChart | MerchantChart | None = Field(
        default=None, description="A built-in chart by name, or the shop's own; men's tops when absent."
    )

    @classmethod
    def parse(cls, data: Any) -> EstimateRequest:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ApiError(422, "invalid_request", describe(exc, whole="body")) from None


class EstimateMeasurements(BaseModel):
    """Centimetres. Breadths are frontal widths; chest, waist and hip are girths."""

    height: float
    shoulder_width: float
    chest: float
    waist: float
    hip: float
    chest_width: float
    waist_width: float
    hip_width: float


class EstimateRunnerUp(BaseModel):
    size: str
    probability: Annotated[float, Field(ge=0, le=1)]


class EstimateWarning(BaseModel):
    code: Caveat
    message: str


class EstimateResponse(BaseModel):
    recommended_size: str = Field(description="One of the chart's sizes.")
    size_probability: Annotated[float, Field(ge=0, le=1)]
    runner_up: EstimateRunnerUp | None = Field(description="The next most likely size, when it is close.")
    size_probabilities: dict[str, float]
    confidence: Annotated[float, Field(ge=0, le=1)]
    body_type: BodyType
    measurements: EstimateMeasurements
    uncertainty_cm: dict[str, float] = Field(description="One standard deviation of each measurement.")
    size_chart: str = Field(description="The name of the chart the size was chosen on.")
    warnings: list[EstimateWarning] = Field(description="What to know about this answer; often empty.")

    @classmethod
    def of(cls, r: Recommendation) -> EstimateResponse:
        estimates = _estimates(r)
        return cls(
            recommended_size=r.size,
            size_probability=round(r.probability, 3),
            runner_up=EstimateRunnerUp(size=r.runner_up.size, probability=round(r.runner_up.probability, 3))
            if r.runner_up
            else None,
            size_probabilities={size: round(p, 3) for size, p in r.probabilities.items()},
            confidence=round(r.confidence, 3),
            body_type=r.body_type,
            measurements=EstimateMeasurements(
                height=r.measurements.height, **{k: round(e.value, 1) for k, e in estimates.items()}
            ),
            uncertainty_cm={k: round(e.sd, 1) for k, e in estimates.items()},
            size_chart=r.chart_name,
            warnings=[EstimateWarning(code=c, message=c.message) for c in r.caveats],
        )


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class HealthChecks(BaseModel):
    model: str = Field(description='"ok" or "not_loaded"')
    redis: str = Field(description='"ok" or "unreachable"')


class HealthResponse(BaseModel):
    status: str = Field(description='"ok", or "degraded" when a check fails')
    checks: HealthChecks


def _estimates(r: Recommendation) -> dict[str, Estimate]:
    m = r.measurements
    return {
        "shoulder_width": m.shoulder_width,
        "chest": m.chest,
        "waist": m.waist,
        "hip": m.hip,
        "chest_width": m.chest_width,
        "waist_width": m.waist_width,
        "hip_width": m.hip_width,
    }
