"""What the node may change on its host, read as plain data, compared, and put back.

kubelet sets kernel tunables, the CNI bridge plugin turns on forwarding and makes links and network
namespaces, kube-proxy and kube-router write iptables chains and ipsets, containers leave cgroups and
mounts. `state()` reads all of it (as data that compares equal when unchanged), `diff` says what
differs, and `restore` removes what the node's components left and puts sysctls and host paths back
as they were before it started; tests.harness.node runs them around a node's life.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.harness import processes

# What kubelet (its kernel tunables), the CNI bridge (ip_forward) and kube-proxy may change.
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/forwarding",
    "net/ipv4/conf/all/route_localnet",
    "net/ipv6/conf/all/forwarding",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max",
)
# Host paths the node's components create when missing; removed at teardown if they were missing.
HOST_DIRS = ("/var/lib/cni", "/var/run/netns", "/run/netns", "/var/lib/kubelet", "/var/log/pods", "/var/log/containers")
OWN_CHAIN = re.compile(r"^(KUBE-|CNI-|MODELROUTE-NODE-)")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [node] {msg}", file=sys.stderr, flush=True)


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    """Run a host command whose failure is an answer, not an error (a chain or link that is not there)."""
    return processes.run(*cmd, check=False)


def _read_sysctl(key: str) -> str | None:
    try:
        return Path("/proc/sys", key).read_text().strip()
    except OSError:
        return None


def _mounts() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def _own_chains() -> list[str]:
    chains = []
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            out = _run(tool, "-w", "-t", table, "-S").stdout
            for line in out.splitlines():
                parts = shlex.split(line)
                if parts[:1] == ["-N"] and OWN_CHAIN.match(parts[1]):
                    chains.append(f"{tool}/{table}/{parts[1]}")
                elif parts[:1] == ["-A"] and "-j" in parts and OWN_CHAIN.match(parts[parts.index("-j") + 1]):
                    chains.append(f"{tool}/{table}: {line}")
    return chains


def _ipsets() -> list[str]:
    if not os.access("/usr/sbin/ipset", os.X_OK):
        return []
    return sorted(_run("ipset", "list", "-n").stdout.split())


def _kubepods_cgroups() -> list[str]:
    if not CGROUP_ROOT.is_dir():
        return []
    found = [str(p) for p in CGROUP_ROOT.glob("kubepods*")]
    found += [str(p) for p in CGROUP_ROOT.glob("*/kubepods*")]
    return sorted(found)


def state() -> dict[str, Any]:
    """What the node may change on the host, as plain data that compares equal when unchanged."""
    return {
        "sysctls": {k: _read_sysctl(k) for k in SYSCTLS},
        "dirs": {d: os.path.exists(d) for d in HOST_DIRS},
        "links": sorted(p.name for p in Path("/sys/class/net").iterdir()),
        "netns": sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else [],
        "routes": sorted(_run("ip", "-4", "route", "show", "table", "all").stdout.splitlines()),
        "mounts": sorted(_mounts()),
        "iptables": _own_chains(),
        "ipsets": _ipsets(),
        "cgroups": _kubepods_cgroups(),
    }


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changes = []
    for key in before:
        old, new = before[key], after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changes += [f"{key} {k}: {old.get(k)!r} -> {new.get(k)!r}" for k in old if old.get(k) != new.get(k)]
        elif isinstance(old, list) and isinstance(new, list):
            changes += [f"{key} added: {x}" for x in new if x not in old]
            changes += [f"{key} removed: {x}" for x in old if x not in new]
        else:
            changes.append(f"{key}: {old!r} -> {new!r}")
    return changes


def restore(workdir: Path, links: tuple[str, ...], before: dict[str, Any] | None) -> None:
    """Undo what the node left on the host: mounts under workdir, the links it made, the chains, ipsets and
    cgroups of its components, and (given the state from before it started) sysctls and host paths."""
    w = str(workdir)
    for mp in sorted((m for m in _mounts() if m == w or m.startswith(w + "/")), key=len, reverse=True):
        if _run("umount", mp).returncode != 0:
            _run("umount", "-l", mp)
    for link in links:
        if Path(f"/sys/class/net/{link}").exists():
            _run("ip", "link", "del", link)
    for tool in ("iptables", "ip6tables"):
        _sweep_chains(tool)
    for name in _ipsets():
        if name.startswith(("kube-router", "KUBE-", "inet6:kube-router", "inet6:KUBE-")):
            _run("ipset", "destroy", name)
    for cgroup in _kubepods_cgroups():
        _remove_cgroup_tree(Path(cgroup))
    if before is None:
        return
    for key, value in before["sysctls"].items():
        if value is not None and _read_sysctl(key) != value:
            try:
                Path("/proc/sys", key).write_text(value + "\n")
            except OSError as e:
                log(f"cannot restore {key}={value}: {e}")
    for path, existed in before["dirs"].items():
        if not existed and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)


def _sweep_chains(tool: str) -> None:
    """Delete every rule that jumps to, and every chain named, KUBE-*, CNI-* or MODELROUTE-NODE-*."""
    for table in ("filter", "nat", "mangle", "raw"):
        proc = _run(tool, "-w", "-t", table, "-S")
        if proc.returncode != 0:
            continue
        lines = proc.stdout.splitlines()
        chains = [ln.split()[1] for ln in lines if ln.startswith("-N ") and OWN_CHAIN.match(ln.split()[1])]
        for ln in lines:
            parts = shlex.split(ln)  # comments are quoted
            jumps_to_ours = "-j" in parts and OWN_CHAIN.match(parts[parts.index("-j") + 1])
            if parts[0] == "-A" and not OWN_CHAIN.match(parts[1]) and jumps_to_ours:
                _run(tool, "-w", "-t", table, "-D", *parts[1:])
        for chain in chains:
            _run(tool, "-w", "-t", table, "-F", chain)
        for chain in chains:
            _run(tool, "-w", "-t", table, "-X", chain)


def _remove_cgroup_tree(root: Path) -> None:
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            d.rmdir()
    try:
        root.rmdir()
    except OSError as e:
        log(f"cannot remove cgroup {root}: {e}")
