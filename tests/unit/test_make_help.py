"""`make help` lists every target the Makefile declares, each with what it does."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _declared_targets() -> list[str]:
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert phony is not None, "the Makefile declares its targets in .PHONY"
    return phony.group(1).split()


def test_make_help_lists_every_declared_target_with_its_description() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is not installed; the documented commands need it")
    command = [make, "--no-print-directory", "help"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    listed = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.strip())
    assert sorted(listed) == sorted(_declared_targets())
    assert all(description.strip() for description in listed.values())
