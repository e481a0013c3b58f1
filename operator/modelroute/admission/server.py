"""The HTTPS webhook server and its certificate files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from pathlib import Path

from modelroute.admission.connection import LargeBodies, ReviewConnection
from modelroute.admission.webhooks import AdmissionService
from modelroute.cluster import certificate_not_after
from modelroute.observability import Metrics

log = logging.getLogger("modelroute")


#: The API server accepts requests up to 3 MiB; an UPDATE review carries the object twice (object and
#: oldObject), JSON-escaped, so the webhook accepts twice that and a margin rather than a 1 MiB default.
API_SERVER_REQUEST_LIMIT = 3 * 1024 * 1024
REQUEST_LIMIT = 2 * API_SERVER_REQUEST_LIMIT + 256 * 1024
#: a body larger than this (or of unknown length) is read, parsed and judged only while fewer than
#: LARGE_BODIES_AT_ONCE others are: the request path's peak memory is bounded by a few parsed large bodies
#: (each many times its size once parsed), however many callers send one at once. Pods are a few KiB.
LARGE_BODY = 256 * 1024
LARGE_BODIES_AT_ONCE = 2
#: a caller that opens a connection and never finishes the TLS handshake is dropped after this long
HANDSHAKE_SECONDS = 10.0


def server_tls(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """TLS 1.2+ with the serving certificate; with a client CA, callers must present a certificate it signed
    (the API server's client certificate, when the cluster is configured to send one)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(client_ca))
    return context


class WebhookServer:
    """A lean HTTPS server for the admission webhooks, in the operator's event loop.

    Each connection is a ReviewConnection (HTTP/1.1 read by llhttp) handing POST /<webhook> to the admission
    service; the serving certificate is re-read when its files change (no restart); no access log line per
    review (metrics count them); the listening socket is not shareable (no SO_REUSEPORT).
    """

    def __init__(
        self,
        service: AdmissionService,
        *,
        addr: str,
        port: int,
        cert: Path,
        key: Path,
        client_ca: Path | None = None,
        file_check_interval: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.service = service
        self.metrics = metrics
        self.addr, self.port = addr, port
        self.cert, self.key, self.client_ca = cert, key, client_ca
        self.file_check_interval = file_check_interval
        self.tls = server_tls(cert, key, client_ca)
        self._stamp = self._files_stamp()
        self._publish_expiry()
        self._server: asyncio.Server | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._connections: set[ReviewConnection] = set()

    def _files_stamp(self) -> tuple[tuple[int, int], ...]:
        out = []
        for path in (self.cert, self.key):
            try:
                st = path.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((0, 0))
        return tuple(out)

    async def start(self) -> int:
        large_bodies = LargeBodies(LARGE_BODIES_AT_ONCE)

        def connection() -> ReviewConnection:
            return ReviewConnection(
                self.service.review_now,
                request_limit=REQUEST_LIMIT,
                large_body=LARGE_BODY,
                large_bodies=large_bodies,
                connections=self._connections,
            )

        sock = socket.socket(socket.AF_INET6 if ":" in self.addr else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart-friendly, but never SO_REUSEPORT
        sock.bind((self.addr, self.port))
        sock.listen(1024)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            connection, sock=sock, ssl=self.tls, ssl_handshake_timeout=HANDSHAKE_SECONDS
        )
        self.port = int(sock.getsockname()[1])
        self._watcher = asyncio.create_task(self._watch_files(), name="modelroute-webhook-tls")
        log.info("serving admission webhooks on https://%s:%d", self.addr, self.port)
        return self.port

    def reload_if_changed(self) -> bool:
        stamp = self._files_stamp()
        if stamp == self._stamp:
            return False
        try:
            self.tls.load_cert_chain(str(self.cert), str(self.key))  # new handshakes use the new pair
        except (OSError, ssl.SSLError) as error:  # half-written files: try again next round
            log.warning("could not load the rotated serving certificate yet: %s", error)
            return False
        self._stamp = stamp
        self._publish_expiry()
        log.info("serving the rotated certificate from %s", self.cert)
        return True

    def _publish_expiry(self) -> None:
        not_after = certificate_not_after(self.cert) if self.metrics is not None else None
        if self.metrics is not None and not_after is not None:
            self.metrics.serving_certificate_expiry.set(not_after)

    async def _watch_files(self) -> None:
        while True:
            await asyncio.sleep(self.file_check_interval)
            self.reload_if_changed()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop listening, let the requests under way be answered for up to `grace` seconds, then close."""
        if self._watcher is not None:
            self._watcher.cancel()
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for connection in list(self._connections):
            connection.drain()
        deadline = asyncio.get_running_loop().time() + grace
        while self._connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), timeout=1.0)


async def wait_serving(host: str, port: int, timeout: float = 60.0) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port, ssl=context)
            writer.close()
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
