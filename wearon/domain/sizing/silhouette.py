"""Reading the person mask: contiguous runs along a row, and how far the body reaches up and down.

Everything works outward from a point known to be on the body (a landmark), so other people
or objects in the mask that do not touch the body are never counted.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]


def run_around(row: Mask, x: int) -> tuple[int, int] | None:
    """First and last column of the run of True that contains column `x`, if `x` is True."""
    if not 0 <= x < row.shape[0] or not row[x]:
        return None
    gaps_left = np.flatnonzero(~row[:x])
    gaps_right = np.flatnonzero(~row[x:])
    start = int(gaps_left[-1]) + 1 if gaps_left.size else 0
    end = x + int(gaps_right[0]) - 1 if gaps_right.size else row.shape[0] - 1
    return start, end


def reach_up(mask: Mask, columns: range, y: int) -> int | None:
    """Smallest row reached going up from row `y` without leaving the mask, over `columns`."""
    tops = [_run_end(mask[y::-1, x]) for x in _clip(columns, mask.shape[1]) if _inside(mask, x, y)]
    return y - max(tops) if tops else None


def reach_down(mask: Mask, columns: range, y: int) -> int | None:
    """Largest row reached going down from row `y` without leaving the mask, over `columns`."""
    bottoms = [_run_end(mask[y:, x]) for x in _clip(columns, mask.shape[1]) if _inside(mask, x, y)]
    return y + max(bottoms) if bottoms else None


def _run_end(column: Mask) -> int:
    """Index of the last True of the leading run of True in `column` (which starts True)."""
    gaps = np.flatnonzero(~column)
    return int(gaps[0]) - 1 if gaps.size else column.shape[0] - 1


def _inside(mask: Mask, x: int, y: int) -> bool:
    return 0 <= y < mask.shape[0] and bool(mask[y, x])


def _clip(columns: range, width: int) -> range:
    return range(max(columns.start, 0), min(columns.stop, width))
