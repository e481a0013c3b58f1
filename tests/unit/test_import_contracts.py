"""The import contracts hold on the tree and catch a planted back-door import: a shell that reaches past the
engine's front door, or an engine layer that imports one above it, fails `make lint`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(tree / "operator")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "operator" / "modelroute", tmp_path / "operator" / "modelroute")
    return tmp_path


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("admission/review.py", "from modelroute.engine.hosts import classify_host", "through its front door"),
        ("engine/hosts.py", "from modelroute.engine.detection import inspect_container", "Inside the engine"),
    ],
    ids=["shell-past-the-front-door", "engine-layer-upwards"],
)
def test_a_planted_import_breaks_a_contract(tree: Path, module: str, planted: str, broken: str) -> None:
    path = tree / "operator" / "modelroute" / module
    path.write_text(path.read_text() + f"\n{planted}  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert broken in result.stdout
