"""Fit the height-and-weight relations in `wearon/domain/sizing/bodymass.py` from ANSUR II.

Usage: python scripts/fit_ansur_relations.py "ANSUR II MALE Public.csv" "ANSUR II FEMALE Public.csv"

The files are the survey's public data (Gordon C.C. et al. 2014, Natick/TR-15/007; published by
the U.S. Army and distributed by Penn State's Open Design Lab): 4,082 men and 1,986 women,
millimetres and tenths of a kilogram. For each girth the script fits, by least squares,

    ln girth = a + b_height * ln stature                          (height only)
    ln girth = a + b_height * ln stature + b_weight * ln weight   (height and weight)

and prints the coefficients with the residual standard deviation (relative, since it is in ln
units) and the population's own spread, for men, women and both together ("unisex").
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
GIRTHS = {"chest": "chestcircumference", "waist": "waistcircumference", "hip": "buttockcircumference"}


def load(path: Path) -> dict[str, Array]:
    with path.open(encoding="latin-1", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = ["stature", "weightkg", *GIRTHS.values()]
    data = {name: np.array([float(row[name]) for row in rows]) for name in columns}
    data["stature"] /= 10  # mm -> cm
    data["weightkg"] /= 10  # 0.1 kg -> kg
    for column in GIRTHS.values():
        data[column] /= 10
    return data


def fit(predictors: list[Array], target: Array) -> tuple[list[float], float]:
    design = np.column_stack([np.ones_like(target), *(np.log(p) for p in predictors)])
    coefficients, *_ = np.linalg.lstsq(design, np.log(target), rcond=None)
    residual = np.log(target) - design @ coefficients
    return [float(c) for c in coefficients], float(residual.std(ddof=design.shape[1]))


def report(name: str, data: dict[str, Array]) -> None:
    height, weight = data["stature"], data["weightkg"]
    bmi = weight / (height / 100) ** 2
    print(f"# {name}: n={height.size}, BMI {bmi.min():.1f}-{bmi.max():.1f}")
    for girth, column in GIRTHS.items():
        target = data[column]
        (a1, h1), sd1 = fit([height], target)
        (a2, h2, w2), sd2 = fit([height, weight], target)
        spread = float(np.log(target).std(ddof=1))
        print(f"{girth}: spread {spread:.4f}")
        print(f"  height only     a={a1:.4f} b_height={h1:.4f} sd={sd1:.4f}")
        print(f"  height, weight  a={a2:.4f} b_height={h2:.4f} b_weight={w2:.4f} sd={sd2:.4f}")


def main(male_csv: str, female_csv: str) -> None:
    men, women = load(Path(male_csv)), load(Path(female_csv))
    both = {key: np.concatenate([men[key], women[key]]) for key in men}
    for name, data in (("men", men), ("women", women), ("unisex", both)):
        report(name, data)


if __name__ == "__main__":
    main(*sys.argv[1:3])
