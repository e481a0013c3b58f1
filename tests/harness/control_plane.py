"""A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager.

There is no container engine, kubelet or scheduler: pods are stored and stay Pending, which is enough
to exercise admission webhooks, RBAC, CRDs and the controllers that only touch API objects.

Library use::

    with LocalCluster(workdir, binaries()) as cluster:
        ClusterClient(cluster.kubeconfig, cluster.bin_dir, workdir, cluster).kubectl("get", "ns")

Command line (from the repository's root)::

    python -m tests.harness.control_plane up --workdir /tmp/mr-cluster     # prints `export KUBECONFIG=...`
    python -m tests.harness.control_plane down --workdir /tmp/mr-cluster
"""

from __future__ import annotations

import argparse
import atexit
import base64
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.harness import pki
from tests.harness.commands import Subcommand, up_and_down
from tests.harness.processes import (
    HACK_DIR,
    HarnessError,
    answers_ok,
    free_ports,
    http_get,
    https_context,
    last_lines,
    pid_runs,
    run_build_script,
    spawn,
    stop_group,
    wait_popen,
    wait_until,
)

BUILD_SCRIPT = HACK_DIR / "build-control-plane.sh"
#: set by hack/test.sh, which has already run hack/build-control-plane.sh
BIN_DIR_ENV = "MODELROUTE_BIN_DIR"
COMMAND = "python -m tests.harness.control_plane"

# Started in this order, stopped in reverse so nothing outlives what it depends on.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"


class LocalClusterError(HarnessError):
    """The control plane could not be built, started or stopped."""


# --------------------------------------------------------------------------------------------------
# Building


def build_control_plane(*, capture_log: bool = False) -> Path:
    """Run hack/build-control-plane.sh (cached after the first build) and return its bin dir.

    With capture_log the build's progress log is kept out of the terminal and quoted on failure,
    which suits test runners that show output only for failures.
    """
    bin_dir = Path(run_build_script(BUILD_SCRIPT, capture_log=capture_log, error=LocalClusterError))
    missing = [b for b in (*COMPONENTS, "kubectl") if not (bin_dir / b).is_file()]
    if missing:
        raise LocalClusterError(f"{BUILD_SCRIPT} returned {bin_dir}, which lacks {', '.join(missing)}")
    return bin_dir


def binaries(*, capture_log: bool = True) -> Path:
    """The control plane's bin dir: $MODELROUTE_BIN_DIR when hack/test.sh has built it, else built now."""
    prebuilt = os.environ.get(BIN_DIR_ENV)
    return Path(prebuilt) if prebuilt else build_control_plane(capture_log=capture_log)


# --------------------------------------------------------------------------------------------------
# The cluster


class LocalCluster:
    """etcd, kube-apiserver and kube-controller-manager as processes on 127.0.0.1.

    Every start() begins from an empty etcd. Files in workdir: kubeconfig (admin, system:masters),
    pids, pki/, etcd-data/, and one <component>.log per process.

    With detached=True the processes outlive this Python process (no atexit, no parent-death
    signal); stop them with stop_workdir(workdir) or `python -m tests.harness.control_plane down`.
    """

    def __init__(self, workdir: Path, bin_dir: Path, *, detached: bool = False) -> None:
        self.workdir = Path(workdir).resolve()
        self.bin_dir = Path(bin_dir).resolve()
        self.detached = detached
        self.startup_seconds: float | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._args: dict[str, list[str]] = {}
        self._apiserver_port: int | None = None
        self.kubeconfig = self.workdir / "kubeconfig"
        self.pid_file = self.workdir / "pids"
        self.pki_dir = self.workdir / "pki"
        """The CA (ca.crt, ca.key), the serving and admin certificates and the service-account key pair."""
        self.ca_file = self.pki_dir / "ca.crt"
        self.client_cert_file = self.pki_dir / "admin.crt"
        self.client_key_file = self.pki_dir / "admin.key"

    # -- public surface --------------------------------------------------------------------------

    @property
    def server(self) -> str:
        if self._apiserver_port is None:
            raise LocalClusterError("the cluster has not been started")
        return f"https://127.0.0.1:{self._apiserver_port}"

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self._procs.items()}

    def log_file(self, component: str) -> Path:
        return self.workdir / f"{component}.log"

    def api_ready(self) -> bool:
        """Whether kube-apiserver answers /readyz with 200 now."""
        if self._apiserver_port is None:
            return False
        api = https_context(self.ca_file, self.client_cert_file, self.client_key_file)
        return answers_ok(self._apiserver_port, "/readyz", api)

    def wait_api_ready(self, timeout: float = 60) -> None:
        self._wait("kube-apiserver /readyz", "kube-apiserver", time.monotonic() + timeout, self.api_ready)

    def stop_component(self, component: str) -> None:
        """Stop one component (SIGTERM to its group, SIGKILL after a grace period); start_component brings it back."""
        proc = self._procs.pop(component)
        if proc.poll() is None:
            stop_group(proc.pid, functools.partial(wait_popen, proc))
        self._write_pid_file()

    def start_component(self, component: str, timeout: float = 60) -> None:
        """Start a component stopped by stop_component again, with the same arguments (same ports, same etcd data)."""
        self._spawn(component, self._args[component])
        if component == "kube-apiserver":
            self.wait_api_ready(timeout)

    def start(self, timeout: float = 120) -> None:
        """Start all components and return once the API is ready and controllers are running."""
        if self._procs:
            raise LocalClusterError("the cluster is already started")
        missing = [c for c in COMPONENTS if not os.access(self.bin_dir / c, os.X_OK)]
        if missing:
            raise LocalClusterError(f"{self.bin_dir} lacks executable {', '.join(missing)}")
        self._refuse_running_workdir()
        began = time.monotonic()
        deadline = began + timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.detached:
            atexit.register(self.stop)
        try:
            self._start(deadline)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop every process, dependents first: SIGTERM to its group, SIGKILL after a grace period."""
        atexit.unregister(self.stop)
        for component in reversed(COMPONENTS):
            proc = self._procs.get(component)
            if proc is not None and proc.poll() is None:
                stop_group(proc.pid, functools.partial(wait_popen, proc))
        self._procs.clear()
        self._args.clear()
        self._apiserver_port = None
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- start-up ------------------------------------------------------------------------------------

    def _refuse_running_workdir(self) -> None:
        running = [f"{name} (pid {pid})" for name, pid in _read_pid_file(self.pid_file)]
        if running:
            raise LocalClusterError(
                f"a cluster from {self.workdir} is still running: {', '.join(running)}; "
                f"stop it first ({COMMAND} down --workdir {self.workdir})"
            )

    def _start(self, deadline: float) -> None:
        etcd_port, peer_port, api_port, kcm_port = free_ports(4)
        self._apiserver_port = api_port
        self._write_pki()
        data_dir = self.workdir / "etcd-data"
        shutil.rmtree(data_dir, ignore_errors=True)
        pki_dir = self.pki_dir

        self._spawn(
            "etcd",
            [
                "--name=etcd",
                f"--data-dir={data_dir}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=etcd=http://127.0.0.1:{peer_port}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",
            ],
        )
        self._wait("etcd to report healthy", "etcd", deadline, lambda: _etcd_healthy(etcd_port))

        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={pki_dir}",
                f"--tls-cert-file={pki_dir / 'serving.crt'}",
                f"--tls-private-key-file={pki_dir / 'serving.key'}",
                f"--client-ca-file={pki_dir / 'ca.crt'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                # There are no tokens to mount without a kubelet, and the plugin would reject pods whose
                # service account does not exist yet.
                "--disable-admission-plugins=ServiceAccount",
                # Both webhook plugins are on by default; naming them keeps them on if defaults change.
                "--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
                f"--service-account-issuer=https://127.0.0.1:{api_port}/",
                f"--service-account-key-file={pki_dir / 'sa.pub'}",
                f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
            ],
        )
        api = https_context(self.ca_file, self.client_cert_file, self.client_key_file)
        self._wait("kube-apiserver /readyz", "kube-apiserver", deadline, lambda: answers_ok(api_port, "/readyz", api))
        self._wait(
            "the default namespace",
            "kube-apiserver",
            deadline,
            lambda: answers_ok(api_port, "/api/v1/namespaces/default", api),
        )

        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--tls-cert-file={pki_dir / 'serving.crt'}",
                f"--tls-private-key-file={pki_dir / 'serving.key'}",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                f"--service-account-private-key-file={pki_dir / 'sa.key'}",
                f"--root-ca-file={pki_dir / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki_dir / 'ca.crt'}",
                f"--cluster-signing-key-file={pki_dir / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                # Without a cloud provider the cloud controllers skip themselves, and the node controllers
                # idle while there are no nodes, so nothing needs turning off.
                "--controllers=*",
            ],
        )
        kcm = https_context(self.ca_file)
        self._wait(
            "kube-controller-manager /healthz",
            "kube-controller-manager",
            deadline,
            lambda: answers_ok(kcm_port, "/healthz", kcm),
        )
        # The service-account controller creating `default` proves controllers sync, not just serve.
        self._wait(
            "kube-controller-manager to create the default service account",
            "kube-controller-manager",
            deadline,
            lambda: answers_ok(api_port, "/api/v1/namespaces/default/serviceaccounts/default", api),
        )

    def _write_pki(self) -> None:
        self.pki_dir.mkdir(parents=True, exist_ok=True)
        self.pki_dir.chmod(0o700)
        ca = pki.issue(pki.name("modelroute-local-ca"))
        serving = pki.issue(pki.name("kube-apiserver"), ca=ca, server_names=("127.0.0.1", "localhost"))
        admin = pki.issue(pki.name("admin", "system:masters"), ca=ca, client=True)
        # RSA, because every consumer of service-account tokens verifies RS256 but not all do ES256.
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

        (self.pki_dir / "ca.crt").write_bytes(ca.cert_pem())
        pki.write_private(self.pki_dir / "ca.key", ca.key_pem())
        (self.pki_dir / "serving.crt").write_bytes(serving.cert_pem())
        pki.write_private(self.pki_dir / "serving.key", serving.key_pem())
        (self.pki_dir / "admin.crt").write_bytes(admin.cert_pem())
        pki.write_private(self.pki_dir / "admin.key", admin.key_pem())
        pki.write_private(
            self.pki_dir / "sa.key",
            sa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
        )
        (self.pki_dir / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        # Credentials are embedded so the kubeconfig stays valid when copied out of workdir.
        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": b64(ca.cert_pem()),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": b64(admin.cert_pem()),
                        "client-key-data": b64(admin.key_pem()),
                    },
                }
            ],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
            "current-context": "local",
        }
        pki.write_private(self.kubeconfig, json.dumps(config, indent=2).encode())

    def _spawn(self, component: str, args: list[str]) -> None:
        exe = str(self.bin_dir / component)
        restarted = component in self._args  # a restart appends to the log the first start began
        self._args[component] = args
        self._procs[component] = spawn(
            [exe, *args], self.log_file(component), cwd=self.workdir, detached=self.detached, append=restarted
        )
        self._write_pid_file()

    def _write_pid_file(self) -> None:
        entries = {name: {"pid": p.pid, "exe": str(self.bin_dir / name)} for name, p in self._procs.items()}
        self.pid_file.write_text(json.dumps(entries, indent=2) + "\n")

    def _wait(self, what: str, component: str, deadline: float, ready: Callable[[], bool]) -> None:
        def exited() -> str | None:
            for name, proc in self._procs.items():
                code = proc.poll()
                if code is not None:
                    return f"{name} exited with code {code} while waiting for {what}; {last_lines(self.log_file(name))}"
            return None

        def timed_out() -> str:
            return f"timed out waiting for {what}; {last_lines(self.log_file(component))}"

        wait_until(
            ready, deadline=deadline, exited=exited, timed_out=timed_out, error=LocalClusterError, max_interval=0.5
        )


def _etcd_healthy(port: int) -> bool:
    resp = http_get(port, "/health", None)
    if resp is None or resp[0] != 200:
        return False
    try:
        return bool(json.loads(resp[1]).get("health") == "true")
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------------
# Detached clusters


def _read_pid_file(pid_file: Path) -> list[tuple[str, int]]:
    """The (component, pid) pairs of pid_file whose process is still running its binary."""
    try:
        entries = json.loads(pid_file.read_text())
    except FileNotFoundError:
        return []
    except ValueError as e:
        raise LocalClusterError(f"{pid_file} is not a pid file written by this module: {e}") from e
    return [(name, int(e["pid"])) for name, e in entries.items() if pid_runs(int(e["pid"]), str(e["exe"]))]


def stop_workdir(workdir: Path) -> list[str]:
    """Stop a cluster started in workdir (by any process) from its pid file; return what was stopped."""
    pid_file = Path(workdir).resolve() / "pids"
    running = _read_pid_file(pid_file)
    order = {c: i for i, c in enumerate(reversed(COMPONENTS))}
    running.sort(key=lambda e: order.get(e[0], -1))
    for _, pid in running:
        stop_group(pid)
    pid_file.unlink(missing_ok=True)
    return [f"{name} (pid {pid})" for name, pid in running]


# --------------------------------------------------------------------------------------------------
# Command line


def _cmd_up(args: argparse.Namespace) -> int:
    bin_dir = Path(args.bin_dir) if args.bin_dir else build_control_plane()
    cluster = LocalCluster(Path(args.workdir), bin_dir, detached=True)
    try:
        cluster.start(timeout=args.timeout)
    except LocalClusterError as e:
        print(f"control plane: {e}", file=sys.stderr)
        return 1
    print(
        f"control plane: ready in {cluster.startup_seconds:.1f}s at {cluster.server}; logs in {cluster.workdir}",
        file=sys.stderr,
    )
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    try:
        stopped = stop_workdir(Path(args.workdir))
    except LocalClusterError as e:
        print(f"control plane: {e}", file=sys.stderr)
        return 1
    print(
        f"control plane: stopped {', '.join(stopped) if stopped else 'nothing (no running cluster)'}", file=sys.stderr
    )
    return 0


UP = Subcommand(
    _cmd_up,
    "start a cluster that keeps running after this command returns",
    [
        ("--bin-dir", {"help": "directory with the binaries (default: build-control-plane.sh)"}),
        ("--timeout", {"type": float, "default": 120, "help": "seconds to wait for readiness"}),
    ],
)
DOWN = Subcommand(_cmd_down, "stop the cluster started in --workdir")


def main(argv: list[str] | None = None) -> int:
    return up_and_down(argv, COMMAND, __doc__, UP, DOWN)


if __name__ == "__main__":
    sys.exit(main())
