"""`modelroute run` as a real process against the test cluster: started, killed and restarted by tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from localcluster import ClusterClient

WEBHOOK_HOST_ENV = "MODELROUTE_E2E_WEBHOOK_HOST"
OPERATOR_NAMESPACE = "modelroute-system"
CONFIGURATION_NAME = "modelroute-e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        args = [str(Path(sys.executable).parent / "modelroute"), "run", *self.arguments()]
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"modelroute run exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(self.poll_seconds)
        self.stop()  # never leave a half-started operator behind
        raise RuntimeError(f"modelroute run was not ready within {timeout}s:\n{self.log_tail()}")

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
            "--kubeconfig",
            str(self.cluster.kubeconfig),
            "--namespace",
            OPERATOR_NAMESPACE,
            "--register-webhooks",
            "--webhook-configuration-name",
            CONFIGURATION_NAME,
            "--webhook-addr",
            "0.0.0.0" if host != "127.0.0.1" else "127.0.0.1",
            "--webhook-host",
            host,
            "--webhook-port",
            str(self.webhook_port),
            "--cert-dir",
            str(self.workdir / "certs"),
            "--liveness",
            f"http://127.0.0.1:{self.liveness_port}/healthz",
            "--resync-seconds",
            "10",
            "--metrics-bind-address",
            f"127.0.0.1:{self.metrics_port}",
            "--leader-elect",
        ]

    def ready(self) -> bool:
        return self._synced() and self._registered()

    def _synced(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2) as response:
                probes = json.loads(response.read() or b"{}")
                return bool(probes.get("synced") and probes.get("enforced"))
        except OSError:
            return False

    def _registered(self) -> bool:
        result = self.cluster.kubectl("get", "validatingwebhookconfiguration", CONFIGURATION_NAME, check=False)
        return result.returncode == 0
