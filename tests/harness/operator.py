"""`modelroute run` as a real process against a test cluster: started, killed and restarted by tests.

`RunProcess` starts the operator's own entry point with the arguments a subclass gives and waits,
through the harness's one wait loop, until the subclass's readiness check holds; it never leaves a
half-started operator behind. `OperatorProcess` is local mode (the operator registers its own webhook
configurations and reads the cluster as admin), as the end-to-end suite runs it. The operator's
probes are read here once: `liveness` (the JSON of --liveness's /healthz) and `answers_ready`
(the metrics server's /readyz, what a kubelet reads).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.harness.client import ClusterClient
from tests.harness.processes import free_port, wait_until

WEBHOOK_HOST_ENV = "MODELROUTE_E2E_WEBHOOK_HOST"
OPERATOR_NAMESPACE = "modelroute-system"
CONFIGURATION_NAME = "modelroute-e2e"


def local_mode(
    kubeconfig: Path,
    *,
    configuration: str,
    webhook_addr: str,
    webhook_port: int,
    liveness_port: int,
    cert_dir: Path,
    resync_seconds: float,
) -> list[str]:
    """`modelroute run` arguments for local mode: the operator registers its webhook configurations under
    `configuration`, serves them on webhook_addr:webhook_port with certificates it makes in cert_dir, and
    answers its liveness probe on 127.0.0.1:liveness_port."""
    return [
        "--kubeconfig",
        str(kubeconfig),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--register-webhooks",
        "--webhook-configuration-name",
        configuration,
        "--webhook-addr",
        webhook_addr,
        "--webhook-port",
        str(webhook_port),
        "--cert-dir",
        str(cert_dir),
        "--liveness",
        f"http://127.0.0.1:{liveness_port}/healthz",
        "--resync-seconds",
        str(resync_seconds),
    ]


def liveness(port: int) -> dict[str, Any]:
    """The probes the operator reports on its --liveness endpoint (127.0.0.1:port/healthz); empty while
    it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            probes: dict[str, Any] = json.loads(response.read() or b"{}")
            return probes
    except OSError:
        return {}


def answers_ready(port: int) -> bool:
    """Whether the operator's metrics server on 127.0.0.1:port answers /readyz with 200 (ready)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:  # refused while starting, HTTPError 503 until the cluster has been read
        return False


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful exit removes what the operator registered), SIGKILL if that hangs."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class RunProcess:
    """One `modelroute run` process: started with the arguments a subclass gives, ready when the subclass
    says so, stopped (never left half-started) when it does not become ready in time."""

    #: seconds between readiness checks while starting
    poll_seconds = 0.3

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    @property
    def log_file(self) -> Path:
        return self.workdir / f"operator-{self.starts}.log"

    @property
    def pid_file(self) -> Path | None:
        """Where start() writes the pid, for a process that stops it later (None: nowhere)."""
        return None

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        args = [str(Path(sys.executable).parent / "modelroute"), "run", *self.arguments()]
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if self.pid_file is not None:
            self.pid_file.write_text(str(self.process.pid))
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        process = self.process
        assert process is not None

        def exited() -> str | None:
            if process.poll() is None:
                return None
            return f"modelroute run exited with {process.returncode}:\n{self.log_tail()}"

        def timed_out() -> str:
            self.stop()  # never leave a half-started operator behind
            return f"modelroute run was not ready within {timeout}s:\n{self.log_tail()}"

        wait_until(
            self.ready,
            deadline=time.monotonic() + timeout,
            exited=exited,
            timed_out=timed_out,
            error=RuntimeError,
            interval=self.poll_seconds,
        )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (the webhook configurations are removed on a graceful exit), SIGKILL if that hangs."""
        if self.alive:
            assert self.process is not None
            stop_process(self.process)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


class OperatorProcess(RunProcess):
    """Local mode: the operator registers its own webhook configurations and reads the cluster as admin."""

    def __init__(self, cluster: ClusterClient, workdir: Path) -> None:
        super().__init__(workdir)
        self.cluster = cluster
        self.webhook_port = free_port()
        self.liveness_port = free_port()
        self.metrics_port = free_port()

    def arguments(self) -> list[str]:
        host = os.environ.get(WEBHOOK_HOST_ENV, "127.0.0.1")
        return [
            *local_mode(
                self.cluster.kubeconfig,
                configuration=CONFIGURATION_NAME,
                webhook_addr="0.0.0.0" if host != "127.0.0.1" else "127.0.0.1",
                webhook_port=self.webhook_port,
                liveness_port=self.liveness_port,
                cert_dir=self.workdir / "certs",
                resync_seconds=10,
            ),
            "--webhook-host",
            host,
            "--metrics-bind-address",
            f"127.0.0.1:{self.metrics_port}",
            "--leader-elect",
        ]

    def ready(self) -> bool:
        return self._synced() and self._registered()

    def _synced(self) -> bool:
        probes = liveness(self.liveness_port)
        return bool(probes.get("synced") and probes.get("enforced"))

    def _registered(self) -> bool:
        result = self.cluster.kubectl("get", "validatingwebhookconfiguration", CONFIGURATION_NAME, check=False)
        return result.returncode == 0
