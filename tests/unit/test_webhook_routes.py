"""Each webhook path answers exactly what the webhook configurations route to it: the paths, the kinds and
the operations are written once, in the configurations, and the request path reads them from there."""

from __future__ import annotations

from typing import Any

from modelroute.admission import configurations as cfg
from modelroute.admission.webhooks import ROUTES

OPTIONS = cfg.WebhookOptions(operator_namespace="modelroute")


def _path_only(path: str) -> dict[str, Any]:
    return {"service": {"path": f"/{path}"}}


def _registered() -> dict[str, set[tuple[str, str, str, str]]]:
    """(group, resource, subresource, operation) of every rule, by the path its webhook is served at."""
    registered: dict[str, set[tuple[str, str, str, str]]] = {}
    for configuration in (
        cfg.mutating_configuration(_path_only, OPTIONS),
        cfg.validating_configuration(_path_only, OPTIONS),
    ):
        for hook in configuration["webhooks"]:
            path = hook["clientConfig"]["service"]["path"].lstrip("/")
            for rule in hook["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        plural, _, sub = resource.partition("/")
                        for operation in rule["operations"]:
                            registered.setdefault(path, set()).add((group, plural, sub, operation))
    return registered


def _served() -> dict[str, set[tuple[str, str, str, str]]]:
    return {
        path: {(*route, operation) for route, operations in routes.items() for operation in operations}
        for path, routes in ROUTES.items()
    }


def test_every_path_answers_exactly_what_the_configurations_route_to_it() -> None:
    assert _served() == _registered()


def test_every_webhook_path_is_served() -> None:
    assert set(ROUTES) == {
        cfg.MUTATE_PODS,
        cfg.VALIDATE_PODS,
        cfg.VALIDATE_CONTROLLERS,
        cfg.VALIDATE_RESOURCES,
        cfg.VALIDATE_CONFIG_MAPS,
    }
