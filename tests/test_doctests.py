"""The Examples sections of the public docstrings run as written."""
import doctest
import importlib

import pytest

MODULES = ["jitmlp.model", "jitmlp.optim", "jitmlp.schedules",
           "jitmlp._threads", "jitmlp.trainer", "jitmlp.datasets",
           "jitmlp.registry", "jitmlp.estimators", "jitmlp._errors"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name == "jitmlp.estimators":
        pytest.importorskip("sklearn")
    mod = importlib.import_module(name)
    failed, attempted = doctest.testmod(mod, optionflags=doctest.ELLIPSIS
                                        | doctest.NORMALIZE_WHITESPACE)
    assert failed == 0, f"{failed} of {attempted} examples failed in {name}"
