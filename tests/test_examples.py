"""Every example runs with --quick, prints what it measured and saves a PNG."""
import ast
import os
import runpy
import sys

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")
NAMES = ["quickstart", "sgd_vs_minibatch", "initialization", "batchnorm",
         "vanishing_gradients", "regularization"]


@pytest.mark.parametrize("name", NAMES)
def test_example_runs_quick(name, capsys, monkeypatch, tmp_path):
    path = os.path.join(EXAMPLES, name + ".py")
    monkeypatch.setattr(sys, "argv", [path, "--quick", "--outdir",
                                      str(tmp_path)])
    runpy.run_path(path, run_name="__main__")
    out = capsys.readouterr().out
    assert "saved" in out
    png = tmp_path / (name + ".png")
    assert png.exists() and png.stat().st_size > 1000
    with open(path) as f:
        doc = ast.get_docstring(ast.parse(f.read()))
    assert doc and "--quick" in doc  # says what it shows and how to run it
