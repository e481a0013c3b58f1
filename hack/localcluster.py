"""A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager.

There is no container engine, kubelet or scheduler: pods are stored and stay Pending, which is enough
to exercise admission webhooks, RBAC, CRDs and the controllers that only touch API objects.

Library use::

    with LocalCluster(workdir, bin_dir) as cluster:
        subprocess.run([bin_dir / "kubectl", "--kubeconfig", cluster.kubeconfig, "get", "ns"])

Command line::

    python hack/localcluster.py up --workdir /tmp/mr-cluster     # prints `export KUBECONFIG=...`
    python hack/localcluster.py down --workdir /tmp/mr-cluster
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import datetime as dt
import functools
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HACK_DIR = Path(__file__).resolve().parent
BUILD_SCRIPT = HACK_DIR / "build-control-plane.sh"

# Started in this order, stopped in reverse so nothing outlives what it depends on.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
LOG_TAIL_LINES = 30
STOP_GRACE_SECONDS = 5.0


class LocalClusterError(RuntimeError):
    """The control plane could not be built, started or stopped."""


# --------------------------------------------------------------------------------------------------
# Building


def build_control_plane(*, capture_log: bool = False) -> Path:
    """Run hack/build-control-plane.sh (cached after the first build) and return its bin dir.

    With capture_log the build's progress log is kept out of the terminal and quoted on failure,
    which suits test runners that show output only for failures.
    """
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture_log else None,
        text=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        log = _tail_text(proc.stderr or "") if capture_log else "(see the build log above)"
        raise LocalClusterError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}:\n{log}")
    bin_dir = Path(lines[-1])
    missing = [b for b in (*COMPONENTS, "kubectl") if not (bin_dir / b).is_file()]
    if missing:
        raise LocalClusterError(f"{BUILD_SCRIPT} returned {bin_dir}, which lacks {', '.join(missing)}")
    return bin_dir


# --------------------------------------------------------------------------------------------------
# Certificates


@dataclass(frozen=True)
class _Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _issue(
    subject: x509.Name,
    *,
    ca: _Issued | None = None,
    server_names: tuple[str, ...] = (),
    client: bool = False,
) -> _Issued:
    """Issue a P-256 certificate: a self-signed CA when ca is None, else a leaf signed by ca."""
    key = ec.generate_private_key(ec.SECP256R1())
    # Backdated so a clock that differs slightly between processes does not reject a fresh cert.
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject if ca else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        return _Issued(builder.sign(key, hashes.SHA256()), key)

    usages: list[x509.ObjectIdentifier] = []
    if server_names:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        sans: list[x509.GeneralName] = []
        for n in server_names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    return _Issued(builder.sign(ca.key, hashes.SHA256()), key)


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


@dataclass(frozen=True)
class ServingCertificate:
    ca_file: Path
    cert_file: Path
    key_file: Path


def write_serving_certificate(
    directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> ServingCertificate:
    """Write a fresh CA and a serving certificate for hosts, e.g. for a webhook server on loopback.

    The apiserver verifies webhook servers against the caBundle of their configuration, so a
    webhook under test needs its own CA rather than the cluster's.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca = _issue(_name("modelroute-webhook-ca"))
    serving = _issue(_name(hosts[0]), ca=ca, server_names=hosts)
    out = ServingCertificate(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    out.ca_file.write_bytes(ca.cert_pem())
    out.cert_file.write_bytes(serving.cert_pem())
    _write_private(out.key_file, serving.key_pem())
    return out


# --------------------------------------------------------------------------------------------------
# Processes


def _free_ports(count: int) -> list[int]:
    # All sockets stay open until every port is chosen so the kernel cannot hand out one port twice.
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail_text(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _tail_file(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return _tail_text(f.read().decode("utf-8", "replace"), lines)
    except OSError as e:
        return f"(cannot read {path}: {e})"


def _pid_alive(pid: int) -> bool:
    # A zombie still answers kill(pid, 0); /proc tells it apart where available.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def _pid_runs(pid: int, exe: str) -> bool:
    """Whether pid is alive and still runs exe, so a recycled pid is never signalled."""
    if not _pid_alive(pid):
        return False
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except OSError:
        return True
    return argv0 == exe


def _killpg(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _terminate_group(pid: int, exited_within: Callable[[float], bool]) -> None:
    # One component at a time: a kube-apiserver whose etcd is already gone spends its whole grace
    # period retrying, while with etcd still up it shuts down in about a second.
    _killpg(pid, signal.SIGTERM)
    if not exited_within(STOP_GRACE_SECONDS):
        _killpg(pid, signal.SIGKILL)
        exited_within(STOP_GRACE_SECONDS)


def _wait_popen(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _wait_pid(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _parent_death_hook() -> Callable[[], None] | None:
    """A preexec_fn that makes the kernel kill the child when this process dies.

    atexit does not run when the parent is killed by a signal (a test runner's timeout, say), and the
    children live in their own process groups, so nothing else would stop them. Linux delivers the
    signal when the forking *thread* exits, hence start() belongs on a long-lived thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    parent = os.getpid()

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl; then nobody would deliver the signal.
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def _https_context(ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if cert_file and key_file:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


def _get(port: int, path: str, ctx: ssl.SSLContext | None, timeout: float = 2.0) -> tuple[int, str] | None:
    """GET from 127.0.0.1 without going through any *_proxy from the environment; None if unreachable."""
    conn: http.client.HTTPConnection
    if ctx is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------------
# The cluster


class LocalCluster:
    """etcd, kube-apiserver and kube-controller-manager as processes on 127.0.0.1.

    Every start() begins from an empty etcd. Files in workdir: kubeconfig (admin, system:masters),
    pids, pki/, etcd-data/, and one <component>.log per process.

    With detached=True the processes outlive this Python process (no atexit, no parent-death
    signal); stop them with stop_workdir(workdir) or `localcluster.py down`.
    """

    def __init__(self, workdir: Path, bin_dir: Path, *, detached: bool = False) -> None:
        self.workdir = Path(workdir).resolve()
        self.bin_dir = Path(bin_dir).resolve()
        self.detached = detached
        self.startup_seconds: float | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._args: dict[str, list[str]] = {}
        self._apiserver_port: int | None = None
        self._pki = self.workdir / "pki"

    # -- public surface --------------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def server(self) -> str:
        if self._apiserver_port is None:
            raise LocalClusterError("the cluster has not been started")
        return f"https://127.0.0.1:{self._apiserver_port}"

    @property
    def ca_file(self) -> Path:
        return self._pki / "ca.crt"

    @property
    def client_cert_file(self) -> Path:
        return self._pki / "admin.crt"

    @property
    def client_key_file(self) -> Path:
        return self._pki / "admin.key"

    @property
    def pid_file(self) -> Path:
        return self.workdir / "pids"

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self._procs.items()}

    def log_file(self, component: str) -> Path:
        return self.workdir / f"{component}.log"

    def api_ready(self) -> bool:
        """Whether kube-apiserver answers /readyz with 200 now."""
        if self._apiserver_port is None:
            return False
        api = _https_context(self.ca_file, self.client_cert_file, self.client_key_file)
        return _ok(_get(self._apiserver_port, "/readyz", api))

    def wait_api_ready(self, timeout: float = 60) -> None:
        self._wait("kube-apiserver /readyz", "kube-apiserver", time.monotonic() + timeout, self.api_ready)

    def stop_component(self, component: str) -> None:
        """Stop one component (SIGTERM to its group, SIGKILL after a grace period); start_component brings it back."""
        proc = self._procs.pop(component)
        if proc.poll() is None:
            _terminate_group(proc.pid, functools.partial(_wait_popen, proc))
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
                _terminate_group(proc.pid, functools.partial(_wait_popen, proc))
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
                f"stop it first (python {Path(__file__).resolve()} down --workdir {self.workdir})"
            )

    def _start(self, deadline: float) -> None:
        etcd_port, peer_port, api_port, kcm_port = _free_ports(4)
        self._apiserver_port = api_port
        self._write_pki()
        data_dir = self.workdir / "etcd-data"
        shutil.rmtree(data_dir, ignore_errors=True)
        pki = self._pki

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
        self._wait("etcd to report healthy", "etcd", deadline, lambda: _healthy(_get(etcd_port, "/health", None)))

        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'serving.crt'}",
                f"--tls-private-key-file={pki / 'serving.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                # There are no tokens to mount without a kubelet, and the plugin would reject pods whose
                # service account does not exist yet.
                "--disable-admission-plugins=ServiceAccount",
                # Both webhook plugins are on by default; naming them keeps them on if defaults change.
                "--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
                f"--service-account-issuer=https://127.0.0.1:{api_port}/",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
            ],
        )
        api = _https_context(self.ca_file, self.client_cert_file, self.client_key_file)
        self._wait("kube-apiserver /readyz", "kube-apiserver", deadline, lambda: _ok(_get(api_port, "/readyz", api)))
        self._wait(
            "the default namespace",
            "kube-apiserver",
            deadline,
            lambda: _ok(_get(api_port, "/api/v1/namespaces/default", api)),
        )

        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--tls-cert-file={pki / 'serving.crt'}",
                f"--tls-private-key-file={pki / 'serving.key'}",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                # Without a cloud provider the cloud controllers skip themselves, and the node controllers
                # idle while there are no nodes, so nothing needs turning off.
                "--controllers=*",
            ],
        )
        kcm = _https_context(self.ca_file)
        self._wait(
            "kube-controller-manager /healthz",
            "kube-controller-manager",
            deadline,
            lambda: _ok(_get(kcm_port, "/healthz", kcm)),
        )
        # The service-account controller creating `default` proves controllers sync, not just serve.
        self._wait(
            "kube-controller-manager to create the default service account",
            "kube-controller-manager",
            deadline,
            lambda: _ok(_get(api_port, "/api/v1/namespaces/default/serviceaccounts/default", api)),
        )

    def _write_pki(self) -> None:
        self._pki.mkdir(parents=True, exist_ok=True)
        self._pki.chmod(0o700)
        ca = _issue(_name("modelroute-local-ca"))
        serving = _issue(_name("kube-apiserver"), ca=ca, server_names=("127.0.0.1", "localhost"))
        admin = _issue(_name("admin", "system:masters"), ca=ca, client=True)
        # RSA, because every consumer of service-account tokens verifies RS256 but not all do ES256.
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

        (self._pki / "ca.crt").write_bytes(ca.cert_pem())
        _write_private(self._pki / "ca.key", ca.key_pem())
        (self._pki / "serving.crt").write_bytes(serving.cert_pem())
        _write_private(self._pki / "serving.key", serving.key_pem())
        (self._pki / "admin.crt").write_bytes(admin.cert_pem())
        _write_private(self._pki / "admin.key", admin.key_pem())
        _write_private(
            self._pki / "sa.key",
            sa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
        )
        (self._pki / "sa.pub").write_bytes(
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
        _write_private(self.kubeconfig, json.dumps(config, indent=2).encode())

    def _spawn(self, component: str, args: list[str]) -> None:
        exe = str(self.bin_dir / component)
        restarted = component in self._args  # a restart appends to the log the first start began
        self._args[component] = args
        with self.log_file(component).open("ab" if restarted else "wb") as log:
            self._procs[component] = subprocess.Popen(
                [exe, *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                # Own process group: stop() signals the whole group, and a Ctrl-C in the terminal
                # reaches only the Python process, which then stops the cluster in order.
                start_new_session=True,
                preexec_fn=None if self.detached else _parent_death_hook(),
            )
        self._write_pid_file()

    def _write_pid_file(self) -> None:
        entries = {name: {"pid": p.pid, "exe": str(self.bin_dir / name)} for name, p in self._procs.items()}
        self.pid_file.write_text(json.dumps(entries, indent=2) + "\n")

    def _wait(self, what: str, component: str, deadline: float, ready: Callable[[], bool]) -> None:
        delay = 0.05
        while True:
            for name, proc in self._procs.items():
                code = proc.poll()
                if code is not None:
                    raise LocalClusterError(
                        f"{name} exited with code {code} while waiting for {what}; "
                        f"last lines of {self.log_file(name)}:\n{_tail_file(self.log_file(name))}"
                    )
            if ready():
                return
            if time.monotonic() > deadline:
                raise LocalClusterError(
                    f"timed out waiting for {what}; last lines of {self.log_file(component)}:\n"
                    f"{_tail_file(self.log_file(component))}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)


def _ok(resp: tuple[int, str] | None) -> bool:
    return resp is not None and resp[0] == 200


def _healthy(resp: tuple[int, str] | None) -> bool:
    if not _ok(resp):
        return False
    assert resp is not None
    try:
        return bool(json.loads(resp[1]).get("health") == "true")
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------------
# Clients


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
            raise LocalClusterError(f"{tool} is not on PATH")
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
    return [(name, int(e["pid"])) for name, e in entries.items() if _pid_runs(int(e["pid"]), str(e["exe"]))]


def stop_workdir(workdir: Path) -> list[str]:
    """Stop a cluster started in workdir (by any process) from its pid file; return what was stopped."""
    pid_file = Path(workdir).resolve() / "pids"
    running = _read_pid_file(pid_file)
    order = {c: i for i, c in enumerate(reversed(COMPONENTS))}
    running.sort(key=lambda e: order.get(e[0], -1))
    for _, pid in running:
        _terminate_group(pid, functools.partial(_wait_pid, pid))
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
        print(f"localcluster: {e}", file=sys.stderr)
        return 1
    print(
        f"localcluster: ready in {cluster.startup_seconds:.1f}s at {cluster.server}; logs in {cluster.workdir}",
        file=sys.stderr,
    )
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    try:
        stopped = stop_workdir(Path(args.workdir))
    except LocalClusterError as e:
        print(f"localcluster: {e}", file=sys.stderr)
        return 1
    print(f"localcluster: stopped {', '.join(stopped) if stopped else 'nothing (no running cluster)'}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcluster.py", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a cluster that keeps running after this command returns")
    up.add_argument("--workdir", required=True, help="directory for kubeconfig, pids, certificates, data and logs")
    up.add_argument("--bin-dir", help="directory with the binaries (default: build-control-plane.sh)")
    up.add_argument("--timeout", type=float, default=120, help="seconds to wait for readiness")
    up.set_defaults(func=_cmd_up)
    down = sub.add_parser("down", help="stop the cluster started in --workdir")
    down.add_argument("--workdir", required=True)
    down.set_defaults(func=_cmd_down)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
