"""What a shopper should know about an answer that was given all the same."""

from __future__ import annotations

from enum import StrEnum


class Caveat(StrEnum):
    LOOSE_CLOTHING = "loose_clothing"
    WEIGHT_NOT_USED = "weight_not_used"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Caveat.LOOSE_CLOTHING: (
        "Loose or bulky clothing: measurements may be too large; a fitted top gives a better result"
    ),
    Caveat.WEIGHT_NOT_USED: (
        "The weight and height are outside the range the weight relation was fitted on, "
        "so the weight was not used"
    ),
}
