"""Command lines print their help instead of running (issue 10)."""
import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "*.py")))


@pytest.mark.parametrize("cmd", [["-m", "jitmlp"]] + [[s] for s in SCRIPTS],
                         ids=lambda c: os.path.basename(c[-1]))
def test_help_prints_usage_and_runs_nothing(cmd):
    r = subprocess.run([sys.executable, *cmd, "--help"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage:")
    if cmd[0] == "-m":   # the demo's options show their defaults
        assert "(default: 20)" in r.stdout
