"""Growth rates measured from data: the exponent p of y ~ x^p that the chapters check."""

from __future__ import annotations

import numpy as np


def power_law_exponent(x, y) -> float:
    """The slope p of the least-squares line ln y = p ln x + c.

    A constant y fits a slope of about 1e-16 of either sign, which is reported as 0, so a
    printed exponent does not flip between 0.00 and -0.00 across machines.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 2 or x.shape != y.shape or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("a power law needs at least two points (x, y) with x and y positive; "
                         "some values are not positive, or the shapes differ")
    slope = float(np.polyfit(np.log(x), np.log(y), 1)[0])
    return 0.0 if abs(slope) < 1e-12 else slope
