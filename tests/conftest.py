"""Shared fixtures: every test starts from the same random state and the default dtype float32."""
import numpy as np
import pytest

import chainrule as cr


@pytest.fixture(autouse=True)
def seeded():
    """Seed NumPy's global generator and chainrule's, and restore grad mode and default dtype after."""
    np.random.seed(0)
    cr.manual_seed(0)
    dtype = cr.get_default_dtype()
    yield
    cr.set_default_dtype(dtype)
    cr.set_grad_enabled(True)


@pytest.fixture
def rng():
    """A fresh seeded NumPy Generator for test data."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def kernel_cache(tmp_path_factory):
    """cr.compile's kernel cache in a fresh folder for the module (no state from earlier runs)."""
    import os
    old = os.environ.get("CHAINRULE_CACHE")
    os.environ["CHAINRULE_CACHE"] = str(tmp_path_factory.mktemp("kernels"))
    yield
    if old is None:
        os.environ.pop("CHAINRULE_CACHE", None)
    else:
        os.environ["CHAINRULE_CACHE"] = old
