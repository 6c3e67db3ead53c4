"""POST /estimate-body: parse the request, run the estimate, answer in the API's shape."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from wearon.http.body import read_json
from wearon.http.charts import resolve_chart
from wearon.http.error_handlers import ApiError
from wearon.http.schemas import EstimateRequest, EstimateResponse
from wearon.services.sizing import SizeEstimator


async def estimate_body(request: Request) -> JSONResponse:
    body = EstimateRequest.parse(await read_json(request))
    estimator: SizeEstimator = request.app.state.estimator
    chart = resolve_chart(body.size_chart, estimator.chart)
    if not estimator.ready:
        raise ApiError(503, "not_ready", "The pose model is not loaded; try again shortly.")
    result = await estimator.estimate(body.image_url, body.height_cm, chart=chart, weight_kg=body.weight_kg)
    return JSONResponse(EstimateResponse.of(result).model_dump(mode="json"))
