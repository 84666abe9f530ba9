import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def pytest_configure(config):
    # BLAS threads and Numba threads fixed: the suite is deterministic
    os.environ.setdefault("OMP_NUM_THREADS", "2")
