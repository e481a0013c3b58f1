"""A real OCI registry on loopback: CNCF Distribution (hack/build-registry.sh) serving HTTPS with its own CA.

The release (hack/release.sh) pushes the operator image and the chart to it, and the node pulls from
it. TLS rather than plain HTTP: every client then verifies the registry the way it would verify a
production one, each told to trust this CA in its own configuration (buildah's --cert-dir, helm's
--ca-file, containerd's hosts.toml `ca`), and none is told to skip verification or to speak plain HTTP.

Library use::

    registry = LocalRegistry(workdir, binary)
    registry.start()            # registry.host == "127.0.0.1:<port>", registry.ca_file
    ...
    registry.stop()

Command line (from the repository's root)::

    python -m tests.harness.registry up --workdir .release/registry [--port 5000]   # prints REGISTRY=... CA_FILE=...
    python -m tests.harness.registry down --workdir .release/registry

The storage (workdir/data) outlives the process, so a registry started again serves what was pushed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

from tests.harness import pki, processes
from tests.harness.commands import Subcommand, up_and_down

BUILD_SCRIPT = processes.HACK_DIR / "build-registry.sh"
START_TIMEOUT_SECONDS = 30.0
COMMAND = "python -m tests.harness.registry"


class LocalRegistryError(processes.HarnessError):
    """The registry could not be built, started or stopped."""


def build_registry() -> Path:
    """Run hack/build-registry.sh (cached after the first build) and return the binary."""
    binary = Path(processes.run_build_script(BUILD_SCRIPT, error=LocalRegistryError))
    if not binary.is_file():
        raise LocalRegistryError(f"{BUILD_SCRIPT} returned {binary}, which is not a file")
    return binary


class LocalRegistry:
    """One registry process. Files in workdir: ca.crt (what clients trust), tls.crt/tls.key, config.yml,
    data/ (the blobs and manifests), port (the last one served), registry.pid and registry.log."""

    def __init__(self, workdir: Path, binary: Path, *, port: int | None = None, detached: bool = False) -> None:
        self.workdir = Path(workdir).resolve()
        self.binary = Path(binary).resolve()
        self.port = port or self._remembered_port() or processes.free_port()
        self.detached = detached
        self.ca_file = self.workdir / "ca.crt"
        self.log_file = self.workdir / "registry.log"
        self.pid_file = self.workdir / "registry.pid"

    @property
    def host(self) -> str:
        """What image references and oci:// URLs name: `127.0.0.1:<port>`."""
        return f"127.0.0.1:{self.port}"

    def running(self) -> bool:
        pid = self._pid()
        return pid is not None and processes.pid_runs(pid, str(self.binary))

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        if self.running():
            raise LocalRegistryError(f"a registry from {self.workdir} is still running; stop it first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        proc = processes.spawn(
            [str(self.binary), "serve", str(self.workdir / "config.yml")],
            self.log_file,
            cwd=self.workdir,
            detached=self.detached,
            # Distribution reads REGISTRY_* variables as configuration overrides (none from outside),
            # and would export OpenTelemetry traces to localhost:4318 unless told not to.
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "OTEL_"))},
                "OTEL_TRACES_EXPORTER": "none",
            },
        )
        self.pid_file.write_text(json.dumps({"pid": proc.pid}) + "\n")
        (self.workdir / "port").write_text(f"{self.port}\n")
        ctx = processes.https_context(self.ca_file)

        def failed() -> str:
            self.stop()
            return f"the registry did not answer https://{self.host}/v2/; {processes.last_lines(self.log_file)}"

        processes.wait_until(
            lambda: processes.answers_ok(self.port, "/v2/", ctx),
            deadline=time.monotonic() + timeout,
            exited=lambda: failed() if proc.poll() is not None else None,
            timed_out=failed,
            error=LocalRegistryError,
            interval=0.1,
        )

    def stop(self) -> None:
        pid = self._pid()
        if pid is not None and processes.pid_runs(pid, str(self.binary)):
            processes.stop_group(pid)
        self.pid_file.unlink(missing_ok=True)

    def _pid(self) -> int | None:
        try:
            return int(json.loads(self.pid_file.read_text())["pid"])
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def _remembered_port(self) -> int | None:
        try:
            return int((self.workdir / "port").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _write_config(self) -> None:
        """A CA and a serving certificate for 127.0.0.1 (kept across restarts, so trust set up once
        holds), and Distribution's configuration: filesystem storage, HTTPS on loopback only, deletes
        refused, no outbound notifications."""
        if not self.ca_file.exists():
            pki.write_serving_certificate(self.workdir, ca_name="modelroute-local-registry-ca")
        config = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text"},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "data")},
                "delete": {"enabled": False},
            },
            "http": {
                "addr": self.host,
                # Signs upload state between requests; one process, so a fresh one per start will do.
                "secret": secrets.token_hex(32),
                "tls": {"certificate": str(self.workdir / "tls.crt"), "key": str(self.workdir / "tls.key")},
                "debug": {"addr": ""},
            },
        }
        # JSON is YAML: no serialiser beyond the standard library is needed for this file.
        pki.write_private(self.workdir / "config.yml", (json.dumps(config, indent=2) + "\n").encode())


def _cmd_up(args: argparse.Namespace) -> int:
    try:
        binary = Path(args.binary) if args.binary else build_registry()
        registry = LocalRegistry(Path(args.workdir), binary, port=args.port, detached=True)
        if not registry.running():
            registry.start()
    except LocalRegistryError as e:
        print(f"registry: {e}", file=sys.stderr)
        return 1
    print(f"REGISTRY={registry.host}")
    print(f"CA_FILE={registry.ca_file}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    try:
        binary = Path(args.binary) if args.binary else build_registry()
    except LocalRegistryError as e:
        print(f"registry: {e}", file=sys.stderr)
        return 1
    LocalRegistry(Path(args.workdir), binary, detached=True).stop()
    return 0


UP = Subcommand(
    _cmd_up,
    "start the registry (unless it is running), left serving after this command returns",
    [("--port", {"type": int, "help": "port on 127.0.0.1 (default: the last one used, else a free one)"})],
)
DOWN = Subcommand(_cmd_down, "stop the registry started in --workdir")


def main(argv: list[str] | None = None) -> int:
    return up_and_down(
        argv,
        COMMAND,
        __doc__,
        UP,
        DOWN,
        options=[("--binary", {"help": "the registry binary (default: build-registry.sh)"})],
    )


if __name__ == "__main__":
    sys.exit(main())
