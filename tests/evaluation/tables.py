"""Comparing results tables in tests: same rows in the same order, timing columns ignored."""

from __future__ import annotations

import numpy as np
import pandas as pd

from samwidgets.evaluation.table import COLUMNS, normalise


def tables_equal(a: pd.DataFrame, b: pd.DataFrame, *, ignore=("seconds", "encode_seconds")) -> bool:
    """Whether two tables hold the same rows in the same order, ignoring timing columns."""
    cols = [c for c in COLUMNS if c not in ignore]
    a, b = normalise(a)[cols], normalise(b)[cols]
    if a.shape != b.shape:
        return False
    for c in cols:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if COLUMNS[c] == "float64":
            if not np.array_equal(x, y, equal_nan=True):
                return False
        elif not (x == y).all():
            return False
    return True
