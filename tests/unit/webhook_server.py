"""A real WebhookServer on loopback, in a loop of its own, for tests that need HTTPS and sockets."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.bench import world

from modelroute.admission.server import WebhookServer
from modelroute.admission.webhooks import AdmissionService
from modelroute.cluster.certs import ServingFiles, generate_serving_files
from modelroute.cluster.state import ClusterState
from modelroute.observability import Metrics


class Client:
    def __init__(self, port: int, files: ServingFiles, client_cert: tuple[Path, Path] | None = None) -> None:
        self.context = ssl.create_default_context(cafile=str(files.ca_file))
        if client_cert:
            self.context.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
        self.connection = http.client.HTTPSConnection("127.0.0.1", port, context=self.context, timeout=30)

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.connection.request("POST", f"/{path}", body=body, headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        return response.status, response.read()


class Served:
    def __init__(self, server: WebhookServer, files: ServingFiles, loop: asyncio.AbstractEventLoop) -> None:
        self.server, self.files, self.loop = server, files, loop

    def client(self, client_cert: tuple[Path, Path] | None = None) -> Client:
        return Client(self.server.port, self.files, client_cert)


def primed_state() -> ClusterState:
    state = ClusterState(operator_namespace="modelroute-system")
    for plural, bodies in world.cluster_bodies(3, 1).items():
        state.replace_all(plural, bodies)
    return state


async def _no_read(_: str) -> dict[str, Any] | None:
    return None


@contextlib.contextmanager
def serving(directory: Path, client_ca: Path | None = None, state: ClusterState | None = None) -> Iterator[Served]:
    files = generate_serving_files(directory / "certs", ["127.0.0.1", "localhost"])
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    service = AdmissionService(state or primed_state(), Metrics(), lambda: None, _no_read)
    server = WebhookServer(
        service, addr="127.0.0.1", port=0, cert=files.cert_file, key=files.key_file, client_ca=client_ca
    )
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
    try:
        yield Served(server, files, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@contextlib.contextmanager
def served(directory: Path) -> Iterator[Client]:
    with serving(directory) as s:
        yield s.client()
