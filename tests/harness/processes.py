"""Processes the harness starts and stops: free ports, pid checks, process groups, the wait loop.

Every part of the harness (the control plane, the node, the registry, the operator) starts real
programs in their own process groups and waits for them to answer. What they share is here, once:

- `wait_until` is the one wait loop: it polls a readiness check until it holds, gives up as soon as
  a process it depends on has exited, and says what it waited for when the deadline passes.
- `pid_alive` / `pid_runs` tell a live process from a zombie or a recycled pid; `stop_group` stops a
  process group (SIGTERM, then SIGKILL after a grace period).
- `run_build_script` runs one of hack/build-*.sh (cached builds) and returns the last line it prints.
- `http_get` asks a server on loopback without going through any proxy from the environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

REPO_ROOT = Path(__file__).resolve().parents[2]
HACK_DIR = REPO_ROOT / "hack"
LOG_TAIL_LINES = 30
STOP_GRACE_SECONDS = 5.0

T = TypeVar("T")


class HarnessError(RuntimeError):
    """A real part the tests need could not be built, started or stopped."""


# --------------------------------------------------------------------------------------------------
# Waiting


def wait_until(
    ready: Callable[[], T | None],
    *,
    deadline: float,
    timed_out: Callable[[], str],
    exited: Callable[[], str | None] = lambda: None,
    error: Callable[[str], BaseException] = HarnessError,
    interval: float = 0.05,
    max_interval: float | None = None,
) -> T:
    """The first truthy result of `ready`, polled until the monotonic clock passes `deadline`.

    Before each check `exited` may name a process that has exited (a message), which ends the wait at
    once; past the deadline the message of `timed_out` does. Either is raised as `error(message)`. The
    pause between checks is `interval`, growing by half each time up to `max_interval` when given.
    """
    delay = interval
    while True:
        gone = exited()
        if gone is not None:
            raise error(gone)
        result = ready()
        if result:
            return result
        if time.monotonic() > deadline:
            raise error(timed_out())
        time.sleep(delay)
        if max_interval is not None:
            delay = min(delay * 1.5, max_interval)


# --------------------------------------------------------------------------------------------------
# Ports, logs and builds


def free_ports(count: int) -> list[int]:
    """`count` distinct ports on 127.0.0.1 that nothing listens on now."""
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


def free_port() -> int:
    return free_ports(1)[0]


def tail_text(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def tail_file(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a (log) file, or why it cannot be read."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return tail_text(f.read().decode("utf-8", "replace"), lines)
    except OSError as e:
        return f"(cannot read {path}: {e})"


def run(
    *cmd: str, check: bool = True, timeout: float = 120, error: Callable[[str], BaseException] = HarnessError
) -> subprocess.CompletedProcess[str]:
    """Run cmd to its end with its output captured; with check, an exit code other than 0 raises error
    with the command and its output."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise error(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc


def last_lines(log: Path) -> str:
    """`last lines of LOG:` and its tail, for a message about the process that writes it."""
    return f"last lines of {log}:\n{tail_file(log)}"


def run_build_script(
    script: Path, *, capture_log: bool = True, error: Callable[[str], BaseException] = HarnessError
) -> str:
    """Run a hack/build-*.sh script (cached after its first build) and return the last line it prints.

    With capture_log its progress log (stderr) is kept out of the terminal and quoted on failure, which
    suits test runners that show output only for failures; without it the log goes to the terminal.
    """
    proc = subprocess.run(
        ["bash", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture_log else None,
        text=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        log = tail_text(proc.stderr or "") if capture_log else "(see the build log above)"
        raise error(f"{script} failed with exit code {proc.returncode}:\n{log}")
    return lines[-1]


# --------------------------------------------------------------------------------------------------
# Processes


def pid_alive(pid: int) -> bool:
    """Whether pid is a running process (a zombie is not)."""
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


def pid_runs(pid: int, exe: str) -> bool:
    """Whether pid is alive and still runs exe, so a recycled pid is never signalled."""
    if not pid_alive(pid):
        return False
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except OSError:
        return True
    return argv0 == exe


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send sig to the process group led by pid, if it still exists."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def wait_popen(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether proc exits within timeout seconds."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def wait_pid(pid: int, timeout: float) -> bool:
    """Whether the process pid (not necessarily a child) exits within timeout seconds."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_group(
    pid: int, exited_within: Callable[[float], bool] | None = None, grace: float = STOP_GRACE_SECONDS
) -> None:
    """SIGTERM to the group led by pid, SIGKILL if it has not exited after `grace` seconds.

    `exited_within(seconds)` tells whether it has exited; by default the pid is watched (wait_pid)."""
    exited = exited_within or (lambda seconds: wait_pid(pid, seconds))
    signal_group(pid, signal.SIGTERM)
    if not exited(grace):
        signal_group(pid, signal.SIGKILL)
        exited(grace)


def spawn(
    argv: list[str],
    log: Path,
    *,
    cwd: Path,
    detached: bool,
    append: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start argv with stdin closed and stdout and stderr to log (appended to, or written anew).

    In a process group of its own: stop_group signals the whole group, and a Ctrl-C in the terminal
    reaches only the Python process, which then stops what it started in order. Unless detached, the
    kernel kills it when this process dies (parent_death_hook)."""
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=None if detached else parent_death_hook(),
        )


def parent_death_hook() -> Callable[[], None] | None:
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


# --------------------------------------------------------------------------------------------------
# Asking servers on loopback


def https_context(ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None) -> ssl.SSLContext:
    """Verify a server against ca_file; present a client certificate when cert_file and key_file are given."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if cert_file and key_file:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


def http_get(port: int, path: str, ctx: ssl.SSLContext | None, timeout: float = 2.0) -> tuple[int, str] | None:
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


def answers_ok(port: int, path: str, ctx: ssl.SSLContext | None = None) -> bool:
    """Whether GET path on 127.0.0.1:port answers 200 now."""
    resp = http_get(port, path, ctx)
    return resp is not None and resp[0] == 200
