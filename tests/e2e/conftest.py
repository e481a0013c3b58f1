"""End-to-end fixtures: a real Kubernetes API for the whole test session.

By default the session builds (once, then cached) and starts a local control plane: etcd,
kube-apiserver and kube-controller-manager on loopback, see tests/harness/control_plane.py. Setting
MODELROUTE_E2E_KUBECONFIG runs the same tests against an existing cluster instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.harness.client import ClusterClient
from tests.harness.control_plane import LocalCluster, LocalClusterError, binaries
from tests.harness.operator import OPERATOR_NAMESPACE, OperatorProcess

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
EXTERNAL_KUBECONFIG_ENV = "MODELROUTE_E2E_KUBECONFIG"
START_TIMEOUT_SECONDS = 180


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the items of the whole session, not only this directory's.
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterClient]:
    workdir = tmp_path_factory.mktemp("cluster")
    external = os.environ.get(EXTERNAL_KUBECONFIG_ENV)
    if external:
        if shutil.which("kubectl") is None:
            pytest.fail(f"kubectl is not on PATH; the cluster in ${EXTERNAL_KUBECONFIG_ENV} needs it", pytrace=False)
        ext = ClusterClient(kubeconfig=Path(external), bin_dir=None, workdir=workdir, local=None)
        reachable = ext.kubectl("version", check=False, timeout=30)
        if reachable.returncode != 0:
            pytest.fail(f"the cluster in ${EXTERNAL_KUBECONFIG_ENV}={external} is unreachable:\n{reachable.stderr}")
        yield ext
        return

    # Failing rather than skipping: a missing control plane must not pass as a green run.
    local = _start_local_cluster(workdir)
    if isinstance(local, str):
        pytest.fail(local, pytrace=False)
    try:
        yield ClusterClient(kubeconfig=local.kubeconfig, bin_dir=local.bin_dir, workdir=workdir, local=local)
    finally:
        local.stop()


def _start_local_cluster(workdir: Path) -> LocalCluster | str:
    """The running cluster, or why there is none.

    The reason is returned rather than raised so that pytest.fail runs outside an except block and
    the report states it once instead of twice through exception chaining.
    """
    try:
        bin_dir = binaries()  # $MODELROUTE_BIN_DIR when hack/test.sh has built it
    except LocalClusterError as e:
        return f"cannot build the local control plane: {e}"
    local = LocalCluster(workdir, bin_dir)
    try:
        local.start(timeout=START_TIMEOUT_SECONDS)
    except LocalClusterError as e:
        return f"cannot start the local control plane (logs in {workdir}): {e}"
    return local


@pytest.fixture
def namespace(cluster: ClusterClient) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def crds(cluster: ClusterClient) -> None:
    """The CRDs from crds/, applied and established."""
    cluster.kubectl("apply", "-f", str(REPO_ROOT / "crds"))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "azureendpoints.modelroute.io",
        "modelworkloads.modelroute.io",
        "routepolicies.modelroute.io",
    )


@pytest.fixture(scope="session")
def operator_process(
    cluster: ClusterClient, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """`modelroute run` in local mode for the session; restarted before a test if an earlier one killed it."""
    cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    process = OperatorProcess(cluster, tmp_path_factory.mktemp("operator"))
    try:
        process.start()
    except RuntimeError as error:
        pytest.fail(f"the operator did not start: {error}", pytrace=False)
    yield process
    process.stop()


@pytest.fixture
def operator(operator_process: OperatorProcess) -> OperatorProcess:
    if not operator_process.alive:
        operator_process.start()
    return operator_process
