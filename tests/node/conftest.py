"""Node-level fixtures: a real single-node cluster (hack/localnode.py) and the chart installed on it.

The session starts the control plane and a node (containerd, runc, CNI bridge, kubelet, kube-proxy,
kube-scheduler, kube-router), imports the locally built images, and installs charts/modelroute with
the operator image built from the Dockerfile. The modules run in the order of MODULE_ORDER: the
chart's release is installed once, used, upgraded, uninstalled, and the node's teardown is itself the
last test. If the node cannot start, every test fails with the reason; nothing is skipped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent
REPO_ROOT = NODE_DIR.parents[1]
for extra in (REPO_ROOT / "hack", REPO_ROOT / "tests" / "e2e", NODE_DIR):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import localcluster  # noqa: E402
import localnode  # noqa: E402
from localcluster import ClusterClient  # noqa: E402
from node_kit import CHART, RELEASE, RELEASE_NAMESPACE, Node, chart_image_values  # noqa: E402

# Set by hack/test.sh, which has already built the binaries and the images.
CP_BIN_DIR_ENV = "MODELROUTE_BIN_DIR"
NODE_BIN_DIR_ENV = "MODELROUTE_NODE_BIN_DIR"
START_TIMEOUT_SECONDS = 300
MODULE_ORDER = (
    "test_node_chart.py",
    "test_node_examples.py",
    "test_node_sdk.py",
    "test_node_egress.py",
    "test_node_availability.py",
    "test_node_upgrade.py",
    "test_node_teardown.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the items of the whole session: node tests go last, in MODULE_ORDER.
    node_items = [i for i in items if i.path.is_relative_to(NODE_DIR)]
    for item in node_items:
        item.add_marker(pytest.mark.node)
    others = [i for i in items if not i.path.is_relative_to(NODE_DIR)]
    rank = {name: n for n, name in enumerate(MODULE_ORDER)}
    items[:] = others + sorted(node_items, key=lambda i: rank.get(i.path.name, len(rank)))


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    workdir = tmp_path_factory.mktemp("node")
    started = _start_node(workdir)
    # Failing rather than skipping: a node that cannot start must not pass as a green run.
    if isinstance(started, str):
        pytest.fail(started, pytrace=False)
    try:
        yield started
    finally:
        started.local.stop()


def _start_node(workdir: Path) -> Node | str:
    """The running node, or why there is none (returned, so the failure is reported once)."""
    problems = localnode.host_problems()
    if problems:
        return "this machine cannot run the node: " + "; ".join(problems)
    try:
        cp_bin = Path(os.environ.get(CP_BIN_DIR_ENV) or localcluster.build_control_plane(capture_log=True))
        node_bin = Path(os.environ.get(NODE_BIN_DIR_ENV) or localnode.build_node())
        images = localnode.build_images()
    except (localcluster.LocalClusterError, localnode.LocalNodeError) as e:
        return f"cannot build the node: {e}"
    local = localnode.LocalNode(workdir, cp_bin, node_bin)
    try:
        local.start(images, timeout=START_TIMEOUT_SECONDS)
    except (localcluster.LocalClusterError, localnode.LocalNodeError) as e:
        return f"cannot start the node (logs in {workdir}): {e}"
    print(f"\nnode {localnode.NODE_NAME} Ready; seconds: {local.timings}", file=sys.stderr)
    return Node(local, ClusterClient(local.kubeconfig, cp_bin, workdir, local.control_plane), images)


@pytest.fixture(scope="session")
def release(node: Node) -> Iterator[str]:
    """The chart installed with the operator image built from the Dockerfile; its namespace.

    No RoutePolicy from the chart here, so the examples' own policies decide their verdicts; the
    availability checks upgrade it in."""
    node.kube.helm(
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        RELEASE_NAMESPACE,
        "--create-namespace",
        *chart_image_values(node.image("modelroute")),
        "--set",
        "routePolicy.create=false",
        "--wait",
        "--timeout",
        "300s",
        timeout=330,
    )
    try:
        yield RELEASE_NAMESPACE
    finally:
        node.kube.helm("uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait", check=False)
