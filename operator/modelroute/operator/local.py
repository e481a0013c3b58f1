"""Local mode: the operator registers its own webhook configurations (URL clientConfig) and removes
them on a graceful exit. In a cluster the Helm chart owns them instead."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from modelroute.admission import configurations as cfg
from modelroute.admission.server import wait_serving
from modelroute.operator.runtime import Runtime

log = logging.getLogger("modelroute")
_ADMISSION_API = ("admissionregistration.k8s.io", "v1")
_GUARD_PLURALS = ("validatingadmissionpolicies", "validatingadmissionpolicybindings")


def _client_config_for(runtime: Runtime) -> cfg.ClientConfigFor:
    assert runtime.serving is not None
    _, _, ca = runtime.serving
    ca_bundle = base64.b64encode(ca.read_bytes()).decode() if ca else None
    host = runtime.options.webhook_host or "127.0.0.1"

    def client_config(path: str) -> dict[str, Any]:
        out: dict[str, Any] = {"url": f"https://{host}:{runtime.options.webhook_port}/{path}"}
        if ca_bundle:
            out["caBundle"] = ca_bundle
        return out

    return client_config


async def register_when_serving(runtime: Runtime) -> None:
    options = runtime.options
    await wait_serving(options.webhook_host or "127.0.0.1", options.webhook_port)
    client_config = _client_config_for(runtime)
    webhook_options = options.webhook_options()
    for body in (
        cfg.mutating_configuration(client_config, webhook_options),
        cfg.validating_configuration(client_config, webhook_options),
    ):
        await asyncio.to_thread(runtime.kube.apply_webhook_configuration, body)
    for body, plural in zip(cfg.annotation_guard(webhook_options), _GUARD_PLURALS, strict=True):
        await asyncio.to_thread(runtime.kube.apply_cluster_object, *_ADMISSION_API, plural, body)
    log.info(
        "registered webhook configurations %r (failurePolicy %s)",
        options.webhook_configuration_name,
        options.failure_policy,
    )


def unregister(runtime: Runtime) -> None:
    name = runtime.options.webhook_configuration_name
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        runtime.kube.delete_webhook_configuration(kind, name)
    for plural in _GUARD_PLURALS:
        runtime.kube.delete_cluster_object(*_ADMISSION_API, plural, cfg.annotation_guard_name(name))
    log.info("removed webhook configurations %r", name)
