"""The import contracts hold on the tree and catch a planted back-door import: a shell that reaches past the
engine's or the cluster layer's front door, or an engine layer that imports one above it, fails `make lint`."""

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


ENGINE_DOOR = "The shells use the engine through its front door (modelroute.engine), never its modules"
CLUSTER_DOOR = "The shells use the cluster layer through its front door (modelroute.cluster), never its modules"
ENGINE_LAYERS = "Inside the engine: the audit above the judgement above detection above hosts"


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("admission/review.py", "from modelroute.engine.hosts import classify_host", ENGINE_DOOR),
        ("engine/hosts.py", "from modelroute.engine.detection import inspect_container", ENGINE_LAYERS),
        ("controllers/leader.py", "from modelroute.cluster.client import Kube", CLUSTER_DOOR),
        ("operator/runtime.py", "import modelroute.cluster.state", CLUSTER_DOOR),
    ],
    ids=["shell-past-the-engine-door", "engine-layer-upwards", "shell-past-the-cluster-door", "wiring-past-it"],
)
def test_a_planted_import_breaks_a_contract(tree: Path, module: str, planted: str, broken: str) -> None:
    path = tree / "operator" / "modelroute" / module
    path.write_text(path.read_text() + f"\n{planted}  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    said = " ".join(result.stdout.split())  # the report wraps long contract names
    assert f"{broken} BROKEN" in said, result.stdout
