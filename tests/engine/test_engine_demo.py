"""``launch-control demo`` end to end (in-process engine, no console, free ports): an injected
canary fault at 5% is rolled back automatically with its TTR, and nothing is left running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_with_injected_fault_rolls_back_and_cleans_up(cli_env, tmp_path):
    script = Path(sys.executable).parent / "launch-control"
    done = subprocess.run(
        [str(script), "demo", "--no-prefect", "--no-console", "--free-ports", "--minutes", "0.3",
         "--inject-fault", "canary:error_rate=0.3@5%"],
        env={**cli_env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "FAULT INJECTED at 5%" in out and "Result: rolled_back" in out
    assert "TTR" in out and "nothing left running" in out
    assert "Prefect: off (--no-prefect)" in out
    import json

    stack_file = Path(cli_env["LAUNCH_CONTROL_DATA_DIR"]) / "stack.json"
    assert not stack_file.exists()  # the stack removed its state file when it stopped
    leftovers = subprocess.run(["pgrep", "-f", cli_env["LAUNCH_CONTROL_DATA_DIR"]], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", json.dumps(leftovers.stdout)
