"""The `modelroute` command line as a test runs it: a child process of this interpreter, its output
captured as text, its exit code left to the test to judge."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def modelroute(
    *args: str, stdin: str | None = None, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Runs `modelroute ARGS...` (as `python -m modelroute.main`) and returns what it did."""
    return subprocess.run(
        [sys.executable, "-m", "modelroute.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
