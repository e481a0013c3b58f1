"""The cluster layer's front door: every name it lists is there, each from the module mypy is told about, and
taking the cluster view, the Events and the seams through it loads no Kubernetes client."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import modelroute.cluster as cluster

DOOR = Path(cluster.__file__)


def typed_imports() -> dict[str, str]:
    """name -> module, as the door's TYPE_CHECKING block imports them for mypy."""
    tree = ast.parse(DOOR.read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    return {
        alias.name: str(node.module).removeprefix("modelroute.cluster.")
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_what_mypy_sees_is_what_the_door_loads() -> None:
    assert typed_imports() == cluster._HOME
    assert sorted(cluster.__all__) == sorted(cluster._HOME)


@pytest.mark.parametrize("name", cluster.__all__)
def test_every_exported_name_is_the_object_its_module_defines(name: str) -> None:
    module = __import__(f"modelroute.cluster.{cluster._HOME[name]}", fromlist=[name])
    assert getattr(cluster, name) is getattr(module, name)


def test_a_name_it_does_not_export_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        cluster.Nothing  # type: ignore[attr-defined]  # noqa: B018


def test_the_view_the_events_the_seams_and_the_memory_cluster_load_no_kubernetes_client() -> None:
    code = (
        "import sys\n"
        "from modelroute.cluster import ClusterState, EventRecorder, MemoryKube, Reconciled, certificate_not_after\n"
        "print('kubernetes' in sys.modules)\n"
        "from modelroute.cluster import Kube\n"
        "print('kubernetes' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "True"]
