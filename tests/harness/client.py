"""kubectl and helm bound to one cluster, and what tests say with them: apply, get, and wait until true.

`ClusterClient` is what every cluster test receives: the local control plane's (or an existing
cluster's) kubeconfig and the tools that talk to it. `eventually` is the tests' patience: it polls
through the harness's one wait loop (tests.harness.processes.wait_until) and fails as an assertion.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tests.harness.processes import HarnessError, wait_until

if TYPE_CHECKING:
    from tests.harness.control_plane import LocalCluster


class CommandError(subprocess.CalledProcessError):
    """A failed kubectl or helm call whose message carries the tool's own output."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


@dataclass(frozen=True)
class ClusterClient:
    """kubectl and helm bound to one cluster's kubeconfig."""

    kubeconfig: Path
    bin_dir: Path | None
    """Where kubectl and helm come from; None takes them from PATH."""
    workdir: Path
    """Holds helm's state and, for a LocalCluster, the component logs."""
    local: LocalCluster | None = None
    """The cluster these tools talk to when this process started it, else None."""

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
            raise HarnessError(f"{tool} is not on PATH")
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


def apply(cluster: ClusterClient, *objects: dict[str, Any], check: bool = True, args: tuple[str, ...] = ()) -> Any:
    """kubectl apply of `objects` (as one YAML stream)."""
    return cluster.kubectl("apply", *args, "-f", "-", input=yaml.safe_dump_all(objects), check=check)


def get(cluster: ClusterClient, *args: str) -> dict[str, Any]:
    """kubectl get ... -o json, parsed."""
    return dict(json.loads(cluster.kubectl("get", *args, "-o", "json").stdout))


def eventually(check: Callable[[], Any], what: str = "condition", timeout: float = 30, interval: float = 0.3) -> Any:
    """The first truthy result of `check`; errors while the cluster catches up count as not yet."""
    last: Any = None

    def attempt() -> Any:
        nonlocal last
        try:
            last = check()
        except (AssertionError, CommandError, KeyError, IndexError, StopIteration) as error:
            last = error
            return None
        return last

    return wait_until(
        attempt,
        deadline=time.monotonic() + timeout,
        timed_out=lambda: f"{what}: not true within {timeout}s; last: {last}",
        error=AssertionError,
        interval=interval,
    )
