"""The HTTPS webhook server: kopf's, with the request's namespace filled in, and its certificate files."""

from __future__ import annotations

import asyncio
import logging
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kopf
from aiohttp import web

from modelroute.admission.review import review_problem
from modelroute.cluster.certs import generate_serving_files
from modelroute.runtime import RunOptions

log = logging.getLogger("modelroute")


class NamespacedWebhookServer(kopf.WebhookServer):
    """kopf's server, plus one fix: an object's namespace is taken from the AdmissionReview request when
    the object itself does not carry it (objects created in a namespace given on the command line)."""

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        async def with_namespace(
            request: Any,
            *,
            webhook: str | None = None,
            headers: dict[str, str] | None = None,
            sslpeer: dict[str, Any] | None = None,
        ) -> Any:
            problem = review_problem(request)
            if problem is not None:
                raise web.HTTPBadRequest(reason=problem)
            review: Any = request["request"]
            if isinstance(review, dict) and review.get("namespace"):
                for key in ("object", "oldObject"):
                    obj = review.get(key)
                    if isinstance(obj, dict):
                        metadata = obj.setdefault("metadata", {})
                        if isinstance(metadata, dict) and not metadata.get("namespace"):
                            metadata["namespace"] = review["namespace"]
            return await fn(request, webhook=webhook, headers=headers, sslpeer=sslpeer)

        async for client_config in super().__call__(with_namespace):
            yield client_config


def serving_files(options: RunOptions) -> tuple[Path, Path, Path | None]:
    if options.tls_cert_file and options.tls_key_file:
        return options.tls_cert_file, options.tls_key_file, options.tls_ca_file
    directory = options.cert_dir or Path(tempfile.mkdtemp(prefix="modelroute-webhook-"))
    existing = (directory / "tls.crt", directory / "tls.key", directory / "ca.crt")
    if all(p.exists() for p in existing):
        return existing
    hosts = [
        options.webhook_host or "127.0.0.1",
        "localhost",
        "127.0.0.1",
        f"modelroute-webhook.{options.namespace}.svc",
        f"modelroute-webhook.{options.namespace}.svc.cluster.local",
    ]
    files = generate_serving_files(directory, dict.fromkeys(hosts))
    log.info("generated a webhook serving certificate in %s", directory)
    return files.cert_file, files.key_file, files.ca_file


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
