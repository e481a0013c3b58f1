"""The real Codex CLI (npm's @openai/codex, its Linux binary) calls the host the Codex reader resolves
for its config.toml. The CLI honours HTTPS_PROXY: a recording proxy on loopback answers every CONNECT
with 403 and keeps the host, so nothing leaves the machine. Besides the model provider, the CLI looks
up github.com, api.github.com and chatgpt.com whatever its configuration (not model API calls); they
are set apart."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from builders import APPROVED_HOST

from modelroute.engine.clientfiles import ConfigFileError, codex_config_path, codex_destinations, resolve

#: The version the Codex reader was checked against; installed once per machine with npm.
PACKAGE = "@openai/codex@0.171.0"
CLI_DIR = Path(os.environ.get("MODELROUTE_CACHE_DIR", Path.home() / ".cache/modelroute")) / "codex-cli" / "0.171.0"
#: what the CLI contacts whatever its provider
BACKGROUND = {"github.com", "api.github.com", "chatgpt.com"}
APPROVED = f"https://{APPROVED_HOST}/openai/v1"


def codex_cli() -> Path:
    """The Codex CLI's command, installed with npm once per machine."""
    binary = CLI_DIR / "node_modules" / ".bin" / "codex"
    if not binary.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install the Codex CLI"
        CLI_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", PACKAGE], cwd=CLI_DIR, check=True, timeout=600
        )
    assert binary.exists(), f"npm installed no codex binary in {CLI_DIR}"
    return binary


@pytest.fixture(scope="module")
def codex() -> Path:
    return codex_cli()


@contextmanager
def recording_proxy() -> Iterator[tuple[int, list[str]]]:
    """An HTTP proxy on loopback that refuses every CONNECT and records the host asked for."""
    asked: list[str] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                try:
                    line = connection.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
                except OSError:
                    continue
                if line.startswith("CONNECT "):
                    asked.append(line.split()[1].rsplit(":", 1)[0])
                connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], asked
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def codex_environment(home: Path, proxy: str) -> dict[str, str]:
    """What `codex exec` runs with: `home` as HOME, a key from a Secret, every request through `proxy`."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), "OPENAI_API_KEY": "key-from-secret", "HTTPS_PROXY": proxy}


def model_hosts(codex: Path, home: Path, env: Mapping[str, str], work: Path | None = None) -> set[str]:
    """The hosts `codex exec` sends its model requests to, with `home` as HOME, run in `work`."""
    if work is None:
        work = home / "work"
    work.mkdir(parents=True, exist_ok=True)
    with recording_proxy() as (port, asked):
        process = subprocess.Popen(
            [str(codex), "exec", "--skip-git-repo-check", "say hi"],
            cwd=work,
            env={**codex_environment(home, f"http://127.0.0.1:{port}"), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and not set(asked) - BACKGROUND and process.poll() is None:
                time.sleep(0.2)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # the npm launcher and the codex binary it starts
            process.wait()
        return set(asked) - BACKGROUND


CASES = {
    "a selected provider's base_url": (
        'model = "gpt-4o"\nmodel_provider = "corp"\n[model_providers.corp]\nname = "Corp"\n'
        'base_url = "https://api.openai.com/v1"\nenv_key = "OPENAI_API_KEY"\nwire_api = "responses"\n',
        {"OPENAI_BASE_URL": APPROVED},
    ),
    "the built-in provider's openai_base_url": (f'openai_base_url = "{APPROVED}"\n', {}),
    "the built-in provider does not read OPENAI_BASE_URL": (
        'model_provider = "openai"\n',
        {"OPENAI_BASE_URL": APPROVED},
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_codex_calls_the_host_the_reader_resolves(case: str, codex: Path, tmp_path: Path) -> None:
    text, env = CASES[case]
    path = codex_config_path(env, str(tmp_path))
    assert path is not None
    Path(path).parent.mkdir(parents=True)
    Path(path).write_text(text)
    selected = codex_destinations(text)[0]
    assert selected.note.endswith("(selected)")
    assert model_hosts(codex, tmp_path, env) == {urlsplit(resolve(selected, env)).hostname}


def test_a_table_named_after_a_built_in_provider_is_refused_by_codex_and_by_the_reader(
    codex: Path, tmp_path: Path
) -> None:
    text = f'model_provider = "openai"\n[model_providers.openai]\nname = "Mine"\nbase_url = "{APPROVED}"\n'
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "config.toml").write_text(text)
    with pytest.raises(ConfigFileError, match="Codex refuses"):
        codex_destinations(text)
    result = subprocess.run(
        [str(codex), "exec", "--skip-git-repo-check", "say hi"],
        cwd=tmp_path,
        env=codex_environment(tmp_path, "http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Built-in providers cannot be overridden" in result.stdout + result.stderr
