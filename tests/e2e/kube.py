"""Small helpers the end-to-end tests share: apply, get, and wait until something is true."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import yaml
from localcluster import ClusterClient, CommandError


def apply(cluster: ClusterClient, *objects: dict[str, Any], check: bool = True, args: tuple[str, ...] = ()) -> Any:
    return cluster.kubectl("apply", *args, "-f", "-", input=yaml.safe_dump_all(objects), check=check)


def get(cluster: ClusterClient, *args: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl("get", *args, "-o", "json").stdout))


def eventually(check: Callable[[], Any], what: str = "condition", timeout: float = 30, interval: float = 0.3) -> Any:
    """The first truthy result of `check`; errors while the cluster catches up count as not yet."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (AssertionError, CommandError, KeyError, IndexError, StopIteration) as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"{what}: not true within {timeout}s; last: {last}")


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
