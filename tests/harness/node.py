"""A real single-node Kubernetes cluster on this machine: tests.harness.control_plane plus a node.

The node is containerd (CRI) + runc + the CNI bridge plugin, kubelet, kube-proxy (iptables),
kube-scheduler and kube-router as the NetworkPolicy firewall. Images are built locally
(hack/node-images.sh) and either imported into containerd or pulled from a registry on loopback
that the node is told to trust (`registries`: host -> CA file, e.g. tests.harness.registry's); every other
image reference points at a closed port on loopback, so an image from anywhere else fails at once.

Nothing leaves the machine: the node IP lives on an empty bridge made here (not on the real
interface), the Service range is routed to that bridge, pods may only talk to the pod bridge, and
the apiserver and kubelet answer only on loopback and the node's bridges.

Library use::

    node = LocalNode(workdir, cp_bin_dir, node_bin_dir, registries={"127.0.0.1:5000": ca_file})
    node.start(images)          # control plane, containerd, kubelet, ... ; node Ready; images imported
    ...
    node.stop()                 # everything undone, host state restored
    assert node.host_changes() == []

Command line (from the repository's root, as root)::

    python -m tests.harness.node up --workdir /tmp/mr-node
    python -m tests.harness.node down --workdir /tmp/mr-node

One node per machine: kubelet and the CNI plugins use fixed host paths (/var/lib/cni, /run/netns).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness import host, pki, processes
from tests.harness.client import ClusterClient
from tests.harness.commands import Subcommand, up_and_down
from tests.harness.control_plane import (
    SERVICE_CLUSTER_IP_RANGE,
    LocalCluster,
    LocalClusterError,
    binaries,
    stop_workdir,
)
from tests.harness.host import log
from tests.harness.processes import (
    HACK_DIR,
    HarnessError,
    free_ports,
    last_lines,
    pid_alive,
    pid_runs,
    run_build_script,
    spawn,
    stop_group,
    wait_until,
)

BUILD_SCRIPT = HACK_DIR / "build-node.sh"
IMAGES_SCRIPT = HACK_DIR / "node-images.sh"
PACKAGES_SCRIPT = HACK_DIR / "node-host-packages.sh"
COMMAND = "python -m tests.harness.node"

NODE_NAME = "modelroute-node"
NODE_IP = "10.243.0.1"
POD_CIDR = "10.244.0.0/24"
# The empty bridge that carries the node IP and swallows Service traffic kube-proxy does not rewrite.
HOST_BRIDGE = "mr-node0"
# The CNI bridge of the pods.
POD_BRIDGE = "mr-pods0"
GUARD_CHAIN_FORWARD = "MODELROUTE-NODE-FWD"
GUARD_CHAIN_INPUT = "MODELROUTE-NODE-IN"
# The address every image pull is sent to: nothing listens there.
CLOSED_REGISTRY = "http://127.0.0.1:9"
NODE_COMPONENTS = ("containerd", "kubelet", "kube-scheduler", "kube-proxy", "kube-router")
NODE_BINARIES = ("kubelet", "kube-proxy", "kube-scheduler", "crictl", "kube-router")
HOST_PROGRAMS = (
    "/usr/bin/containerd",
    "/usr/sbin/runc",
    "/usr/lib/cni/bridge",
    "/usr/sbin/iptables",
    "/usr/sbin/ipset",
)
STOP_GRACE_SECONDS = 10.0


#: set by hack/test.sh, which has already run hack/build-node.sh
BIN_DIR_ENV = "MODELROUTE_NODE_BIN_DIR"


class LocalNodeError(HarnessError):
    """The node could not be built, started or stopped."""


def _run(*cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return processes.run(*cmd, check=check, timeout=timeout, error=LocalNodeError)


# --------------------------------------------------------------------------------------------------
# Building


def build_node() -> Path:
    """Run hack/build-node.sh (cached after the first build) and return its bin dir."""
    bin_dir = Path(run_build_script(BUILD_SCRIPT, error=LocalNodeError))
    missing = [b for b in NODE_BINARIES if not (bin_dir / b).is_file()]
    if missing:
        raise LocalNodeError(f"{BUILD_SCRIPT} returned {bin_dir}, which lacks {', '.join(missing)}")
    return bin_dir


def node_binaries() -> Path:
    """The node's bin dir: $MODELROUTE_NODE_BIN_DIR when hack/test.sh has built it, else built now."""
    prebuilt = os.environ.get(BIN_DIR_ENV)
    return Path(prebuilt) if prebuilt else build_node()


@dataclass(frozen=True)
class Image:
    ref: str
    archive: Path


def build_images() -> dict[str, Image]:
    """Run hack/node-images.sh (cached by content) and return the images by name."""
    built = json.loads(run_build_script(IMAGES_SCRIPT, error=LocalNodeError))
    return {name: Image(str(v["ref"]), Path(v["archive"])) for name, v in built.items()}


def host_problems() -> list[str]:
    """Why this machine cannot run the node, if it cannot: empty when it can."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the node needs root (network namespaces, bridges, iptables, cgroups)")
    missing = [p for p in HOST_PROGRAMS if not os.access(p, os.X_OK)]
    if missing:
        problems.append(f"missing {', '.join(missing)}: run `bash {PACKAGES_SCRIPT}`")
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        problems.append("the kernel has no br_netfilter: bridged pod traffic would bypass kube-proxy and policies")
    return problems


# --------------------------------------------------------------------------------------------------
# Control plane


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class NodeControlPlane(LocalCluster):
    """LocalCluster plus what a node needs: Node authorization, the ServiceAccount admission plugin,
    certificates for kubelet and the node's clients, and an apiserver that pods reach through the
    `kubernetes` Service (advertised on the node IP; the guard chain keeps it off the real interface)."""

    @property
    def api_port(self) -> int:
        if self._apiserver_port is None:
            raise LocalNodeError("the control plane has not been started")
        return self._apiserver_port

    def node_kubeconfig(self, user: str) -> Path:
        return self.workdir / f"{user}.kubeconfig"

    def _write_pki(self) -> None:
        super()._write_pki()
        pki_dir = self.pki_dir
        ca = pki.Issued.load(pki_dir / "ca.crt", pki_dir / "ca.key")
        api_names = (
            "127.0.0.1",
            "localhost",
            NODE_IP,
            "10.0.0.1",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
        issued = {
            "serving": pki.issue(pki.name("kube-apiserver"), ca=ca, server_names=api_names),
            "kubelet-serving": pki.issue(pki.name(NODE_NAME), ca=ca, server_names=(NODE_IP, NODE_NAME)),
            "kubelet": pki.issue(pki.name(f"system:node:{NODE_NAME}", "system:nodes"), ca=ca, client=True),
            "apiserver-kubelet-client": pki.issue(
                pki.name("kube-apiserver-kubelet-client", "system:masters"), ca=ca, client=True
            ),
            "kube-proxy": pki.issue(pki.name("system:kube-proxy"), ca=ca, client=True),
            "kube-scheduler": pki.issue(pki.name("system:kube-scheduler"), ca=ca, client=True),
            # kube-router reads pods, namespaces and policies cluster-wide and writes iptables only.
            "kube-router": pki.issue(pki.name("kube-router", "system:masters"), ca=ca, client=True),
        }
        for name, cert in issued.items():
            (pki_dir / f"{name}.crt").write_bytes(cert.cert_pem())
            pki.write_private(pki_dir / f"{name}.key", cert.key_pem())
        admin = json.loads(self.kubeconfig.read_text())
        for user in ("kubelet", "kube-proxy", "kube-scheduler", "kube-router"):
            cfg = {
                **admin,
                "users": [
                    {
                        "name": user,
                        "user": {
                            "client-certificate-data": _b64(issued[user].cert_pem()),
                            "client-key-data": _b64(issued[user].key_pem()),
                        },
                    }
                ],
                "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
            }
            pki.write_private(self.node_kubeconfig(user), json.dumps(cfg, indent=2).encode())

    def _spawn(self, component: str, args: list[str]) -> None:
        if component == "kube-apiserver":
            args = self._apiserver_args(args)
        super()._spawn(component, args)

    def _apiserver_args(self, args: list[str]) -> list[str]:
        out = []
        for arg in args:
            if arg == "--disable-admission-plugins=ServiceAccount":
                continue  # kubelet mounts service-account tokens into pods
            if arg.startswith("--authorization-mode="):
                arg = "--authorization-mode=Node,RBAC"
            elif arg.startswith("--enable-admission-plugins="):
                arg += ",NodeRestriction"
            elif arg == "--bind-address=127.0.0.1":
                arg = "--bind-address=0.0.0.0"
            elif arg == "--advertise-address=127.0.0.1":
                arg = f"--advertise-address={NODE_IP}"
            out.append(arg)
        pki_dir = self.pki_dir
        return [
            *out,
            f"--kubelet-client-certificate={pki_dir / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki_dir / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki_dir / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
        ]


# --------------------------------------------------------------------------------------------------
# The node


class LocalNode:
    """The control plane and one node. Files in workdir: the control plane's (kubeconfig, pki/, logs),
    node-pids, containerd/, kubelet/, cni/, host-state.json (the host before start) and one log per
    component."""

    def __init__(
        self,
        workdir: Path,
        cp_bin_dir: Path,
        node_bin_dir: Path,
        *,
        detached: bool = False,
        registries: Mapping[str, Path] | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.cp_bin_dir = Path(cp_bin_dir).resolve()
        self.node_bin_dir = Path(node_bin_dir).resolve()
        self.detached = detached
        self.registries = {registry: Path(ca).resolve() for registry, ca in (registries or {}).items()}
        self.control_plane = NodeControlPlane(self.workdir, self.cp_bin_dir, detached=detached)
        self.timings: dict[str, float] = {}

    # -- public surface --------------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.control_plane.kubeconfig

    @property
    def containerd_socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    @property
    def state_file(self) -> Path:
        return self.workdir / "host-state.json"

    def log_file(self, component: str) -> Path:
        return self.workdir / f"{component}.log"

    def start(self, images: Mapping[str, Image], timeout: float = 240) -> None:
        """Start everything and import the images (`pause` is the pod sandbox); return once the node is
        Ready. On failure the node is stopped (host restored) before the error propagates."""
        problems = host_problems()
        if problems:
            raise LocalNodeError("this machine cannot run the node: " + "; ".join(problems))
        if self._running():
            raise LocalNodeError(f"a node from {self.workdir} is still running; stop it first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.state_file.exists():  # keep the state from before the first start
            self.state_file.write_text(json.dumps(host.state(), indent=2) + "\n")
        try:
            self._start(images, time.monotonic() + timeout)
        except BaseException:
            log("start failed; stopping what was started")
            self.stop()
            raise

    def import_images(self, archives: list[Path]) -> None:
        for archive in archives:
            self.ctr("images", "import", str(archive), timeout=300)

    def has_image(self, ref: str) -> bool:
        """Whether containerd holds the image `ref` (imported or pulled)."""
        return ref in self.ctr("images", "list", "--quiet").stdout.split()

    def stop(self) -> None:
        """Stop every process this node started and restore the host (see host_changes)."""
        for name in ("kube-router", "kube-proxy", "kube-scheduler", "kubelet"):
            self._stop(name)
        self._remove_sandboxes()
        self._stop("containerd")
        self._kill_leftover_shims()
        if (self.node_bin_dir / "kube-proxy").exists():
            _run(str(self.node_bin_dir / "kube-proxy"), "--cleanup", check=False)
        # A detached control plane is known only by its pid file, which control_plane.stop() removes.
        stop_workdir(self.workdir)
        self.control_plane.stop()
        before = json.loads(self.state_file.read_text()) if self.state_file.exists() else None
        host.restore(self.workdir, (POD_BRIDGE, HOST_BRIDGE), before)

    def host_changes(self) -> list[str]:
        """How the host differs from before start(); empty once stop() has restored it."""
        if not self.state_file.exists():
            return []
        return host.diff(json.loads(self.state_file.read_text()), host.state())

    def started_pids(self) -> list[int]:
        """The node components' pids (the control plane's are in control_plane.pids)."""
        return [int(e["pid"]) for e in self._pids().values()]

    def leftover_processes(self) -> list[str]:
        """Processes whose command line names this node's workdir: none once stop() has run."""
        marker = str(self.workdir).encode()
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                argv = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in argv and pid_alive(int(proc.name)):
                command = argv.replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{proc.name}: {command[:200]}")
        return found

    def forget_host_state(self) -> None:
        self.state_file.unlink(missing_ok=True)

    def ctr(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return _run(
            "ctr",
            "--address",
            str(self.containerd_socket),
            "--namespace",
            "k8s.io",
            *args,
            check=check,
            timeout=timeout,
        )

    def crictl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        sock = f"unix://{self.containerd_socket}"
        return _run(
            str(self.node_bin_dir / "crictl"),
            *("--runtime-endpoint", sock, "--image-endpoint", sock, "--timeout", "30s"),
            *args,
            check=check,
        )

    # -- start-up ------------------------------------------------------------------------------------

    def _start(self, images: Mapping[str, Image], deadline: float) -> None:
        began = time.monotonic()
        self._host_network()
        self.control_plane.start(timeout=max(deadline - time.monotonic(), 1))
        self.timings["control-plane"] = time.monotonic() - began
        ports = dict(
            zip(
                ("kubelet", "kubelet-healthz", "proxy-healthz", "proxy-metrics", "scheduler"),
                free_ports(5),
                strict=True,
            )
        )
        self._write_configs(ports, images["pause"].ref)
        self._guard(ports)

        t = time.monotonic()
        self._spawn("containerd", ["/usr/bin/containerd", "--config", str(self.workdir / "containerd/config.toml")])
        self._wait("containerd's CRI", deadline, lambda: self.crictl("info", check=False).returncode == 0)
        self.import_images([i.archive for i in images.values()])
        self.timings["containerd+images"] = time.monotonic() - t

        t = time.monotonic()
        nb = self.node_bin_dir
        w = self.workdir
        cp = self.control_plane
        self._spawn(
            "kubelet",
            [
                str(nb / "kubelet"),
                f"--config={w / 'kubelet/config.yaml'}",
                f"--kubeconfig={cp.node_kubeconfig('kubelet')}",
                f"--root-dir={w / 'kubelet/root'}",
                f"--cert-dir={w / 'kubelet/pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                "--v=1",
            ],
        )
        sched = cp.node_kubeconfig("kube-scheduler")
        self._spawn(
            "kube-scheduler",
            [
                str(nb / "kube-scheduler"),
                f"--kubeconfig={sched}",
                f"--authentication-kubeconfig={sched}",
                f"--authorization-kubeconfig={sched}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['scheduler']}",
            ],
        )
        self._spawn("kube-proxy", [str(nb / "kube-proxy"), f"--config={w / 'kube-proxy.yaml'}", "--v=1"])
        self._wait("the node to become Ready", deadline, self._node_ready, "kubelet")
        # kube-router finds its node by name, so it starts once the node is registered.
        self._spawn(
            "kube-router",
            [
                str(nb / "kube-router"),
                f"--kubeconfig={cp.node_kubeconfig('kube-router')}",
                f"--hostname-override={NODE_NAME}",
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                "--enable-cni=false",
                "--enable-ibgp=false",
                "--enable-overlay=false",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--health-port=0",  # it would listen on every interface
                "--metrics-port=0",
                "--iptables-sync-period=5s",
                "--v=1",
            ],
        )
        self._wait("kube-router's firewall chains", deadline, _firewall_ready, "kube-router")
        self.timings["node-ready"] = time.monotonic() - t
        self.timings["total"] = time.monotonic() - began
        (w / "timings.json").write_text(json.dumps(self.timings, indent=2) + "\n")

    def _host_network(self) -> None:
        """The node IP on an empty bridge made here: kubelet refuses a loopback node IP and the node must
        not use the machine's real interface. The Service range is routed to the same bridge, so what
        kube-proxy does not rewrite dies there instead of following the default route off the machine."""
        if not Path(f"/sys/class/net/{HOST_BRIDGE}").exists():
            _run("ip", "link", "add", HOST_BRIDGE, "type", "bridge")
        _run("ip", "addr", "replace", f"{NODE_IP}/32", "dev", HOST_BRIDGE)
        _run("ip", "link", "set", HOST_BRIDGE, "up")
        _run("ip", "route", "replace", SERVICE_CLUSTER_IP_RANGE, "dev", HOST_BRIDGE)

    def _guard(self, ports: dict[str, int]) -> None:
        """Forwarded pod traffic may only go to the pod bridge, and the node's listeners (the apiserver
        on 0.0.0.0, kubelet) answer only on loopback and the node's own bridges.

        The rules are in the mangle table, which is traversed before the filter table: kube-router
        ACCEPTs policy-compliant pod traffic in filter FORWARD, which would otherwise skip them."""
        ipt = ("iptables", "-w", "-t", "mangle")
        fwd, inp = GUARD_CHAIN_FORWARD, GUARD_CHAIN_INPUT
        for chain, hook in ((fwd, "FORWARD"), (inp, "INPUT")):
            _run(*ipt, "-N", chain, check=False)
            _run(*ipt, "-F", chain)
            if _run(*ipt, "-C", hook, "-j", chain, check=False).returncode != 0:
                _run(*ipt, "-I", hook, "1", "-j", chain)
        _run(*ipt, "-A", fwd, "-s", POD_CIDR, "!", "-o", POD_BRIDGE, "-j", "DROP")
        for iface in ("lo", POD_BRIDGE, HOST_BRIDGE):
            _run(*ipt, "-A", inp, "-i", iface, "-j", "RETURN")
        for port in (self.control_plane.api_port, ports["kubelet"]):
            _run(*ipt, "-A", inp, "-p", "tcp", "--dport", str(port), "-j", "DROP")

    def _write_configs(self, ports: dict[str, int], sandbox_image: str) -> None:
        w = self.workdir
        c = w / "containerd"
        (w / "cni/net.d").mkdir(parents=True, exist_ok=True)
        (c / "certs.d/_default").mkdir(parents=True, exist_ok=True)
        (w / "kubelet").mkdir(exist_ok=True)
        conflist = {
            "cniVersion": "1.0.0",
            "name": "modelroute-pods",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": POD_BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(w / "cni/ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (w / "cni/net.d/10-modelroute.conflist").write_text(json.dumps(conflist, indent=2))
        (c / "config.toml").write_text(_containerd_config(w, sandbox_image))
        # Every image reference, whatever its registry, resolves to a closed port on loopback: an image
        # that was not imported fails with ErrImagePull here, without a DNS query or a connection out.
        (c / "certs.d/_default/hosts.toml").write_text(
            f'server = "{CLOSED_REGISTRY}"\n\n[host."{CLOSED_REGISTRY}"]\n  capabilities = ["pull", "resolve"]\n'
        )
        # Except the trusted registries on loopback, over HTTPS verified against their own CA.
        for registry, ca in self.registries.items():
            (c / "certs.d" / registry).mkdir(parents=True, exist_ok=True)
            (c / "certs.d" / registry / "hosts.toml").write_text(
                f'server = "https://{registry}"\n\n[host."https://{registry}"]\n'
                f'  capabilities = ["pull", "resolve"]\n  ca = "{ca}"\n'
            )
        pki_dir = self.control_plane.pki_dir
        kubelet = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": NODE_IP,
            "port": ports["kubelet"],
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": ports["kubelet-healthz"],
            "tlsCertFile": str(pki_dir / "kubelet-serving.crt"),
            "tlsPrivateKeyFile": str(pki_dir / "kubelet-serving.key"),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(pki_dir / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            # These machines run cgroup v1 without systemd as init.
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "podLogsDir": str(w / "pod-logs"),
            "resolvConf": "",  # pods do not inherit the host's resolver: no DNS leaves the node
            "clusterDomain": "cluster.local",
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "rotateCertificates": False,
            "serializeImagePulls": False,
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            "nodeStatusUpdateFrequency": "5s",
        }
        (w / "kubelet/config.yaml").write_text(json.dumps(kubelet, indent=2))
        proxy = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {"kubeconfig": str(self.control_plane.node_kubeconfig("kube-proxy"))},
            "hostnameOverride": NODE_NAME,
            "healthzBindAddress": f"127.0.0.1:{ports['proxy-healthz']}",
            "metricsBindAddress": f"127.0.0.1:{ports['proxy-metrics']}",
            "clusterCIDR": POD_CIDR,
            # No sysctl writes: nf_conntrack_max, the conntrack timeouts and route_localnet stay as they are.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            "iptables": {"localhostNodePorts": False},
            "nodePortAddresses": [f"{NODE_IP}/32"],
        }
        (w / "kube-proxy.yaml").write_text(json.dumps(proxy, indent=2))

    def _node_ready(self) -> bool:
        out = ClusterClient(self.kubeconfig, self.cp_bin_dir, self.workdir).kubectl(
            "get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False
        )
        return out.stdout.strip() == "True"

    # -- processes -----------------------------------------------------------------------------------

    @property
    def _pid_file(self) -> Path:
        return self.workdir / "node-pids"

    def _pids(self) -> dict[str, dict[str, Any]]:
        try:
            entries: dict[str, dict[str, Any]] = json.loads(self._pid_file.read_text())
        except FileNotFoundError:
            return {}
        return entries

    def _running(self) -> list[str]:
        return [n for n, e in self._pids().items() if pid_runs(int(e["pid"]), str(e["exe"]))]

    def _spawn(self, name: str, argv: list[str]) -> None:
        proc = spawn(argv, self.log_file(name), cwd=self.workdir, detached=self.detached)
        pids = self._pids()
        pids[name] = {"pid": proc.pid, "exe": argv[0]}
        self._pid_file.write_text(json.dumps(pids, indent=2) + "\n")

    def _stop(self, name: str) -> None:
        pids = self._pids()
        entry = pids.pop(name, None)
        if entry is None:
            return
        pid = int(entry["pid"])
        if pid_runs(pid, str(entry["exe"])):
            stop_group(pid, grace=STOP_GRACE_SECONDS)
        self._pid_file.write_text(json.dumps(pids, indent=2) + "\n")

    def _wait(self, what: str, deadline: float, ready: Callable[[], bool], component: str = "containerd") -> None:
        def exited() -> str | None:
            for name, entry in self._pids().items():
                if not pid_runs(int(entry["pid"]), str(entry["exe"])):
                    return f"{name} exited while waiting for {what}; {last_lines(self.log_file(name))}"
            return None

        def timed_out() -> str:
            return f"timed out waiting for {what}; {last_lines(self.log_file(component))}"

        wait_until(
            ready,
            deadline=deadline,
            exited=exited,
            timed_out=timed_out,
            error=LocalNodeError,
            interval=0.1,
            max_interval=1.0,
        )

    # -- teardown ------------------------------------------------------------------------------------

    def _remove_sandboxes(self) -> None:
        """Every pod sandbox through the CRI: containers killed, CNI DEL (veth, IPAM), netns and shm."""
        if "containerd" not in self._running():
            return
        ids = self.crictl("pods", "-q", check=False).stdout.split()
        for sandbox in ids:
            self.crictl("stopp", sandbox, check=False)
            self.crictl("rmp", "-f", sandbox, check=False)
        if ids:
            log(f"removed {len(ids)} pod sandboxes")

    def _kill_leftover_shims(self) -> None:
        """The runc shims outlive containerd; ours name our containerd's socket on their command line."""
        sock = str(self.containerd_socket).encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and sock in argv:
                log(f"stopping leftover shim {proc.name}")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), signal.SIGKILL)


def _containerd_config(w: Path, sandbox_image: str) -> str:
    c = w / "containerd"
    return f"""version = 2
root = "{c}/root"
state = "{c}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{c}/containerd.sock"
[ttrpc]
  address = "{c}/containerd.sock.ttrpc"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{c}/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{sandbox_image}"
    netns_mounts_under_state_dir = true
    disable_apparmor = true
    # Without CAP_SYS_RESOURCE in the bounding set nothing may lower an oom_score_adj, and runc init
    # would die on the sandbox's -998.
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "/usr/sbin/runc"
          Root = "{c}/runc"
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "{c}/certs.d"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{w}/cni/net.d"
      max_conf_num = 1
"""


def _firewall_ready() -> bool:
    return _run("iptables", "-w", "-t", "filter", "-S", "KUBE-ROUTER-FORWARD", check=False).returncode == 0


# --------------------------------------------------------------------------------------------------
# Command line


def _cmd_up(args: argparse.Namespace) -> int:
    try:
        cp_bin = Path(args.cp_bin_dir) if args.cp_bin_dir else binaries(capture_log=False)
        node_bin = Path(args.node_bin_dir) if args.node_bin_dir else node_binaries()
        images = build_images()
        workdir = Path(args.workdir).resolve()
        node = LocalNode(workdir, cp_bin, node_bin, detached=True)
        node.start(images, timeout=args.timeout)
    except (LocalNodeError, LocalClusterError) as e:
        print(f"node: {e}", file=sys.stderr)
        return 1
    print(f"node: {NODE_NAME} Ready; timings {node.timings}", file=sys.stderr)
    print(json.dumps({name: i.ref for name, i in images.items()}), file=sys.stderr)
    print(f"export KUBECONFIG={node.kubeconfig}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    cp_bin = Path(args.cp_bin_dir) if args.cp_bin_dir else binaries(capture_log=False)
    node_bin = Path(args.node_bin_dir) if args.node_bin_dir else node_binaries()
    node = LocalNode(workdir, cp_bin, node_bin, detached=True)
    node.stop()
    changes = node.host_changes() + [f"process still running: {p}" for p in node.leftover_processes()]
    if changes:
        print("node: the host still differs from before the node started:", file=sys.stderr)
        for change in changes:
            print(f"  {change}", file=sys.stderr)
        return 1
    node.forget_host_state()
    print("node: stopped; the host is as before", file=sys.stderr)
    return 0


BIN_DIRS = [
    ("--cp-bin-dir", {"help": "control-plane binaries (default: build-control-plane.sh)"}),
    ("--node-bin-dir", {"help": "node binaries (default: build-node.sh)"}),
]
UP = Subcommand(
    _cmd_up,
    "start the control plane and the node, left running after this command returns",
    [("--timeout", {"type": float, "default": 240, "help": "seconds to wait for the node"})],
)
DOWN = Subcommand(_cmd_down, "stop the node started in --workdir and check that the host is as before")


def main(argv: list[str] | None = None) -> int:
    return up_and_down(argv, COMMAND, __doc__, UP, DOWN, options=BIN_DIRS)


if __name__ == "__main__":
    sys.exit(main())
