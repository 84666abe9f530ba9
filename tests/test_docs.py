"""The documentation site builds from the docstrings and the README with
warnings as errors (``sphinx-build -W``), offline."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("myst_parser")

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)


def test_docs_build_without_warnings(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(ROOT, "src")] + [p for p in [env.get("PYTHONPATH")] if p])
    r = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
         "html", os.path.join(ROOT, "docs"), str(tmp_path / "html")],
        capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    api = (tmp_path / "html" / "api.html").read_text()
    for name in ("jitmlp.MLP.to_onnx", "jitmlp.MLP.from_torch",
                 "jitmlp.History.plot", "jitmlp.Trainer.fit",
                 "jitmlp.schedules.Cosine", "jitmlp.MLPClassifier.to_onnx"):
        assert f'id="{name}"' in api, name
    assert (tmp_path / "html" / "guide.html").exists()
