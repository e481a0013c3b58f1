"""What the end-to-end tests build their objects from (applying, reading and waiting are tests.harness.client's)."""

from __future__ import annotations

from typing import Any


def pod(name: str, namespace: str, app: str = "chat", env: dict[str, str] | None = None) -> dict[str, Any]:
    """A one-container Pod labelled app=<app>, with literal env values."""
    container: dict[str, Any] = {"name": "app", "image": "registry.example.com/app:1"}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {"containers": [container]},
    }
