"""The size chart a request may name (a built-in) or give (a merchant's own), and the domain chart
it builds. Types and bounds are checked by pydantic; whether the chart makes sense (ordered, not
overlapping, every size giving the same girths) by the domain, refused as `invalid_size_chart`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from wearon.domain.sizing import BUILT_IN_CHARTS, MAX_SIZES, Population, SizeBand, SizeChart

BuiltInChart = Literal["mens_tops", "womens_tops"]
Girth = Annotated[float, Field(strict=True, ge=20, le=300, allow_inf_nan=False)]
#: [lower, upper) girth in centimetres.
GirthRange = tuple[Girth, Girth]


class ChartSize(BaseModel):
    model_config = ConfigDict(extra="forbid", title="ChartSize")

    size: Annotated[str, Field(strict=True, min_length=1, max_length=20, description="The size's label.")]
    chest: GirthRange | None = Field(default=None, description="[from, to) chest (bust) girth, cm.")
    waist: GirthRange | None = Field(default=None, description="[from, to) waist girth, cm.")
    hip: GirthRange | None = Field(default=None, description="[from, to) hip girth, cm.")


class MerchantChart(BaseModel):
    model_config = ConfigDict(extra="forbid", title="MerchantChart")

    name: Annotated[str, Field(strict=True, min_length=1, max_length=80, description="Named in the answer.")]
    population: Population = Field(
        default=Population.UNISEX, description="Whom the chart is cut for; picks the body relations used."
    )
    sizes: Annotated[
        list[ChartSize],
        Field(
            min_length=2,
            max_length=MAX_SIZES,
            description="Small to large, ranges not overlapping; every size gives the same girths.",
        ),
    ]


def resolve_chart(spec: BuiltInChart | MerchantChart | None, default: SizeChart) -> SizeChart:
    if spec is None:
        return default
    if isinstance(spec, str):
        return BUILT_IN_CHARTS[spec]
    # A chart that makes no sense raises InvalidSizeChart, answered 422 by the error handlers.
    return SizeChart(spec.name, tuple(_band(s) for s in spec.sizes), spec.population)


def _band(size: ChartSize) -> SizeBand:
    return SizeBand(size.size, chest=size.chest, waist=size.waist, hip=size.hip)
