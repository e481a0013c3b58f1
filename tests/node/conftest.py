"""Node-level fixtures: a real single-node cluster (tests/harness/node.py) and the chart installed on it.

The session starts an OCI registry on loopback (tests/harness/registry.py) and publishes a release to it
(hack/release.sh: the image built from the Dockerfile and the packaged chart), then the control plane
and a node (containerd, runc, CNI bridge, kubelet, kube-proxy, kube-scheduler, kube-router) that
trusts that registry; the other locally built images are imported. The chart is installed from the
registry (`helm install oci://...`) and the node pulls the operator image from it. The modules run
in the order of MODULE_ORDER: the chart's release is installed once, used, upgraded, uninstalled, and
the node's teardown is itself the last test. If the node cannot start, every test fails with the
reason; nothing is skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_kit import RELEASE, RELEASE_NAMESPACE, Node, Published
from tests.harness import registry as oci
from tests.harness.client import ClusterClient
from tests.harness.control_plane import LocalClusterError, binaries
from tests.harness.node import (
    NODE_NAME,
    Image,
    LocalNode,
    LocalNodeError,
    build_images,
    host_problems,
    node_binaries,
)

NODE_DIR = Path(__file__).resolve().parent
REPO_ROOT = NODE_DIR.parents[1]
START_TIMEOUT_SECONDS = 300
RELEASE_SCRIPT = REPO_ROOT / "hack" / "release.sh"
RELEASE_TIMEOUT_SECONDS = 900
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
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[oci.LocalRegistry]:
    """CNCF Distribution on 127.0.0.1, over HTTPS with a CA of its own."""
    try:
        local = oci.LocalRegistry(tmp_path_factory.mktemp("registry"), oci.build_registry())
        local.start()
    except oci.LocalRegistryError as e:
        pytest.fail(f"cannot start the registry: {e}", pytrace=False)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def published(registry: oci.LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> Published:
    """`make release`'s script, pushing to the registry: what it published."""
    dist = tmp_path_factory.mktemp("dist")
    target = ["--push", registry.host, "--ca-file", str(registry.ca_file)]
    cmd = ["bash", str(RELEASE_SCRIPT), *target, "--dist", str(dist)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=RELEASE_TIMEOUT_SECONDS)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stderr[-4000:]}", pytrace=False)
    out = json.loads((dist / "release.json").read_text())
    print(f"\nreleased: {sorted(p.name for p in dist.iterdir())}\n{json.dumps(out, indent=2)}", file=sys.stderr)
    return Published(out["image"], out["digest"], out["chart"], out["chart_version"], Path(out["ca_file"]))


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory, registry: oci.LocalRegistry, published: Published) -> Iterator[Node]:
    workdir = tmp_path_factory.mktemp("node")
    started = _start_node(workdir, registry, published)
    # Failing rather than skipping: a node that cannot start must not pass as a green run.
    if isinstance(started, str):
        pytest.fail(started, pytrace=False)
    try:
        yield started
    finally:
        started.local.stop()


def _start_node(workdir: Path, registry: oci.LocalRegistry, published: Published) -> Node | str:
    """The running node, or why there is none (returned, so the failure is reported once)."""
    problems = host_problems()
    if problems:
        return "this machine cannot run the node: " + "; ".join(problems)
    try:
        # $MODELROUTE_BIN_DIR and $MODELROUTE_NODE_BIN_DIR when hack/test.sh has built them
        cp_bin = binaries()
        node_bin = node_binaries()
        images = build_images()
    except (LocalClusterError, LocalNodeError) as e:
        return f"cannot build the node: {e}"
    # The operator image is the registry's, pulled when the chart's pods start; the others are imported.
    operator = images.pop("modelroute")
    local = LocalNode(workdir, cp_bin, node_bin, registries={registry.host: registry.ca_file})
    try:
        local.start(images, timeout=START_TIMEOUT_SECONDS)
    except (LocalClusterError, LocalNodeError) as e:
        return f"cannot start the node (logs in {workdir}): {e}"
    print(f"\nnode {NODE_NAME} Ready; seconds: {local.timings}", file=sys.stderr)
    images["modelroute"] = Image(published.image, operator.archive)
    return Node(local, ClusterClient(local.kubeconfig, cp_bin, workdir, local.control_plane), images)


@pytest.fixture(scope="session")
def operator_image_before_install(node: Node) -> bool:
    """Whether containerd held the operator image before the chart was installed (it must not)."""
    return node.local.has_image(node.image("modelroute"))


@pytest.fixture(scope="session")
def release(node: Node, published: Published, operator_image_before_install: bool) -> Iterator[str]:
    """The published chart installed from the registry, as a platform team installs it; its namespace.
    Only the image repository is set: the tag is the chart's appVersion.

    No RoutePolicy from the chart here, so the examples' own policies decide their verdicts; the
    availability checks upgrade it in."""
    node.kube.helm(
        "install",
        RELEASE,
        published.chart,
        "--version",
        published.chart_version,
        "--ca-file",
        str(published.ca_file),
        "--namespace",
        RELEASE_NAMESPACE,
        "--create-namespace",
        "--set",
        f"image.repository={published.image_repository}",
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
