"""A synthetic results table with the run_sweep schema, shared by the analysis tests."""

from __future__ import annotations

import numpy as np
import pytest

from .synthetic import synthetic_results


@pytest.fixture(scope="session")
def results():
    return synthetic_results(rng=np.random.default_rng(7))
