"""Every example runs with --quick, prints its figures' numbers and saves a PNG."""
import os
import runpy
import sys

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")
NAMES = ["quickstart", "sgd_vs_minibatch", "initialization", "batchnorm",
         "vanishing_gradients"]


@pytest.mark.parametrize("name", NAMES)
def test_example_runs_quick(name, capsys, monkeypatch):
    path = os.path.join(EXAMPLES, name + ".py")
    png = os.path.join(EXAMPLES, "figures", name + ".png")
    before = os.path.getmtime(png) if os.path.exists(png) else 0
    monkeypatch.setattr(sys, "argv", [path, "--quick"])
    runpy.run_path(path, run_name="__main__")
    out = capsys.readouterr().out
    assert "saved" in out
    assert os.path.getmtime(png) >= before and os.path.getsize(png) > 1000
