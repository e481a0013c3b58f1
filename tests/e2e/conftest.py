"""End-to-end fixtures: a real Kubernetes API for the whole test session.

By default the session builds (once, then cached) and starts a local control plane: etcd,
kube-apiserver and kube-controller-manager on loopback, see hack/localcluster.py. Setting
MODELROUTE_E2E_KUBECONFIG runs the same tests against an existing cluster instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
sys.path.insert(0, str(REPO_ROOT / "hack"))

import localcluster  # noqa: E402

EXTERNAL_KUBECONFIG_ENV = "MODELROUTE_E2E_KUBECONFIG"
# Set by hack/test.sh, which has already run hack/build-control-plane.sh.
PREBUILT_BIN_DIR_ENV = "MODELROUTE_BIN_DIR"
START_TIMEOUT_SECONDS = 180


class CommandError(subprocess.CalledProcessError):
    """A failed kubectl or helm call whose message carries the tool's own output."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


@dataclass(frozen=True)
class E2ECluster:
    kubeconfig: Path
    bin_dir: Path | None
    """Where kubectl and helm come from; None for an external cluster, which uses them from PATH."""
    workdir: Path
    """Holds the component logs of a local cluster and helm's state."""
    local: localcluster.LocalCluster | None

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return self._run("kubectl", ["--kubeconfig", str(self.kubeconfig), *args], input, check, timeout)

    def helm(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return self._run("helm", ["--kubeconfig", str(self.kubeconfig), *args], input, check, timeout)

    def _run(
        self, tool: str, args: list[str], input: str | None, check: bool, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        exe = str(self.bin_dir / tool) if self.bin_dir else shutil.which(tool)
        if exe is None:
            pytest.fail(f"{tool} is not on PATH; the cluster in ${EXTERNAL_KUBECONFIG_ENV} needs it")
        # helm otherwise reads and writes repositories and caches in the user's home directory.
        helm_home = self.workdir / "helm"
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(helm_home / "cache"),
            "HELM_CONFIG_HOME": str(helm_home / "config"),
            "HELM_DATA_HOME": str(helm_home / "data"),
        }
        proc = subprocess.run(
            [exe, *args], input=input, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
        if check and proc.returncode != 0:
            raise CommandError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the items of the whole session, not only this directory's.
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ECluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    external = os.environ.get(EXTERNAL_KUBECONFIG_ENV)
    if external:
        ext = E2ECluster(kubeconfig=Path(external), bin_dir=None, workdir=workdir, local=None)
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
        yield E2ECluster(kubeconfig=local.kubeconfig, bin_dir=local.bin_dir, workdir=workdir, local=local)
    finally:
        local.stop()


def _start_local_cluster(workdir: Path) -> localcluster.LocalCluster | str:
    """The running cluster, or why there is none.

    The reason is returned rather than raised so that pytest.fail runs outside an except block and
    the report states it once instead of twice through exception chaining.
    """
    prebuilt = os.environ.get(PREBUILT_BIN_DIR_ENV)
    try:
        bin_dir = Path(prebuilt) if prebuilt else localcluster.build_control_plane(capture_log=True)
    except localcluster.LocalClusterError as e:
        return f"cannot build the local control plane: {e}"
    local = localcluster.LocalCluster(workdir, bin_dir)
    try:
        local.start(timeout=START_TIMEOUT_SECONDS)
    except localcluster.LocalClusterError as e:
        return f"cannot start the local control plane (logs in {workdir}): {e}"
    return local


@pytest.fixture
def namespace(cluster: E2ECluster) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
