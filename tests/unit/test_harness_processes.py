"""tests.harness.processes: the one wait loop, pid checks, process groups, build scripts and loopback GETs."""

from __future__ import annotations

import os
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from tests.harness import processes
from tests.harness.pki import write_serving_certificate
from tests.harness.processes import (
    HarnessError,
    answers_ok,
    free_ports,
    http_get,
    https_context,
    pid_alive,
    pid_runs,
    run_build_script,
    stop_group,
    tail_file,
    wait_until,
)


class RefusedError(Exception):
    pass


def test_wait_until_returns_the_first_truthy_result() -> None:
    answers = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(answers), deadline=time.monotonic() + 5, timed_out=str, interval=0) == "ready"


def test_wait_until_says_what_it_waited_for_when_the_deadline_passes() -> None:
    with pytest.raises(RefusedError, match=r"^timed out waiting for nothing$"):
        wait_until(
            lambda: False,
            deadline=time.monotonic() + 0.1,
            timed_out=lambda: "timed out waiting for nothing",
            error=RefusedError,
            interval=0.01,
        )


def test_wait_until_gives_up_at_once_when_a_process_has_exited() -> None:
    checks: list[int] = []
    began = time.monotonic()
    with pytest.raises(HarnessError, match="etcd exited"):
        wait_until(
            lambda: checks.append(1),
            deadline=time.monotonic() + 30,
            timed_out=str,
            exited=lambda: "etcd exited" if len(checks) == 2 else None,
        )
    assert len(checks) == 2
    assert time.monotonic() - began < 5


def test_wait_until_backs_off_up_to_its_longest_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(processes.time, "sleep", pauses.append)
    answers = iter([False] * 6 + [True])
    wait_until(lambda: next(answers), deadline=time.monotonic() + 60, timed_out=str, interval=0.1, max_interval=0.3)
    assert pauses == pytest.approx([0.1, 0.15, 0.225, 0.3, 0.3, 0.3])


def test_free_ports_are_distinct() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8
    assert all(1024 <= p < 65536 for p in ports)


def test_a_zombie_and_a_reaped_process_are_not_alive() -> None:
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child never exited"
        time.sleep(0.01)
    assert not pid_alive(child.pid)  # exited, not yet reaped: a zombie
    child.wait()
    assert not pid_alive(child.pid)
    assert pid_alive(os.getpid())


def test_a_pid_runs_only_the_program_it_was_started_with() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        # between fork and exec the child still runs this interpreter
        assert wait_until(lambda: pid_runs(child.pid, "sleep"), deadline=time.monotonic() + 10, timed_out=str)
        assert not pid_runs(child.pid, "/usr/bin/some-other-program")  # a recycled pid is never signalled
    finally:
        child.kill()
        child.wait()
    assert not pid_runs(child.pid, "sleep")


def test_stop_group_stops_the_whole_group_and_kills_what_ignores_sigterm() -> None:
    # A shell that ignores SIGTERM, with a child of its own in the same group.
    script = "trap '' TERM; sleep 60 & echo $!; wait"
    leader = subprocess.Popen(["bash", "-c", script], start_new_session=True, stdout=subprocess.PIPE, text=True)
    assert leader.stdout is not None
    child = int(leader.stdout.readline())
    began = time.monotonic()
    stop_group(leader.pid, lambda seconds: processes.wait_popen(leader, seconds), grace=0.5)
    assert leader.poll() is not None
    assert time.monotonic() - began < 5
    assert wait_until(lambda: not pid_alive(child), deadline=time.monotonic() + 5, timed_out=str)
    leader.stdout.close()


def test_a_build_script_gives_its_last_line(tmp_path: Path) -> None:
    script = tmp_path / "build.sh"
    script.write_text("echo building >&2\necho first\necho /cache/bin\n")
    assert run_build_script(script) == "/cache/bin"


def test_a_failed_build_quotes_the_end_of_its_log(tmp_path: Path) -> None:
    script = tmp_path / "build.sh"
    script.write_text("for i in $(seq 100); do echo step $i >&2; done\nexit 3\n")
    with pytest.raises(RefusedError) as failure:
        run_build_script(script, error=RefusedError)
    message = str(failure.value)
    assert f"{script} failed with exit code 3" in message
    assert "step 100" in message
    assert "step 70\n" not in message  # the last 30 lines only


def test_a_log_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    assert tail_file(tmp_path / "missing.log").startswith(f"(cannot read {tmp_path / 'missing.log'}")


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    certs = write_serving_certificate(tmp_path / "tls")

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello" if self.path == "/ok" else b"no"
            self.send_response(200 if self.path == "/ok" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hello)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certs.cert_file, certs.key_file)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], certs.ca_file
    finally:
        server.shutdown()
        server.server_close()


def test_a_get_on_loopback_verifies_the_server_against_its_ca(https_server: tuple[int, Path], tmp_path: Path) -> None:
    port, ca_file = https_server
    assert http_get(port, "/ok", https_context(ca_file)) == (200, "hello")
    assert answers_ok(port, "/ok", https_context(ca_file))
    assert not answers_ok(port, "/missing", https_context(ca_file))
    stranger = write_serving_certificate(tmp_path / "other").ca_file
    assert http_get(port, "/ok", https_context(stranger)) is None  # not verified: as good as unreachable
    assert http_get(free_ports(1)[0], "/ok", None) is None


def test_a_command_that_fails_raises_with_its_output_unless_its_failure_is_an_answer() -> None:
    with pytest.raises(RefusedError, match="exited with 3:\nout\nerr"):
        processes.run("sh", "-c", "echo out; echo err >&2; exit 3", error=RefusedError)
    assert processes.run("sh", "-c", "exit 3", check=False).returncode == 3
    assert processes.run("echo", "fine").stdout == "fine\n"
