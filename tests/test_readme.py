"""The README's API tour runs as written."""
import os
import re


def test_readme_api_tour_runs(tmp_path, monkeypatch):
    path = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")
    with open(path) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert blocks, "no python block in the README"
    monkeypatch.chdir(tmp_path)  # model.save writes here
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "model.npz").exists()
