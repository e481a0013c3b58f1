"""The webhook configurations ModelRoute needs, as data: used by the local mode, which registers them
itself, and checked against the Helm chart's, which owns them in production.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelroute.api import annotations as ann
from modelroute.api.kinds import CONFIG_MAP, OWN_PLURALS, POD, POD_CONTROLLER_KINDS
from modelroute.api.meta import GROUP, VERSION
from modelroute.engine import ALWAYS_EXCLUDED_NAMESPACES, NAMESPACE_NAME_LABEL

MUTATE_PODS = "mutate-pods"
VALIDATE_PODS = "validate-pods"
VALIDATE_CONTROLLERS = "validate-pod-controllers"
VALIDATE_RESOURCES = "validate-modelroute-resources"
VALIDATE_CONFIG_MAPS = "validate-configmaps"

#: (group, version, plural) of every kind the controller webhook judges
POD_CONTROLLERS: tuple[tuple[str, str, str], ...] = tuple((k.group, k.version, k.plural) for k in POD_CONTROLLER_KINDS)
OWN_RESOURCES = OWN_PLURALS


DEFAULT_FAILURE_POLICY = "Fail"
DEFAULT_TIMEOUT_SECONDS = 5
DEFAULT_CONFIGURATION_NAME = "modelroute"
#: the ConfigMap webhook fails open (see config_map_webhook): it may hold a write this long at most
DEFAULT_CONFIG_MAP_TIMEOUT_SECONDS = 2


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    operator_namespace: str
    failure_policy: str = DEFAULT_FAILURE_POLICY
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    name: str = DEFAULT_CONFIGURATION_NAME
    config_maps: bool = True
    config_map_timeout_seconds: int = DEFAULT_CONFIG_MAP_TIMEOUT_SECONDS


ClientConfigFor = Callable[[str], dict[str, Any]]


def namespace_selector(operator_namespace: str) -> dict[str, Any]:
    """Never the system namespaces, never the operator's own, never a namespace that opted out."""
    return {
        "matchExpressions": [
            {
                "key": NAMESPACE_NAME_LABEL,
                "operator": "NotIn",
                "values": sorted(ALWAYS_EXCLUDED_NAMESPACES | {operator_namespace}),
            },
            {"key": ann.IGNORE_LABEL, "operator": "DoesNotExist"},
        ]
    }


def _webhook(
    name: str,
    path: str,
    rules: list[dict[str, Any]],
    client_config: ClientConfigFor,
    options: WebhookOptions,
    *,
    failure_policy: str | None = None,
    scoped: bool = True,
) -> dict[str, Any]:
    hook: dict[str, Any] = {
        "name": name,
        "clientConfig": client_config(path),
        "rules": rules,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": options.timeout_seconds,
        "failurePolicy": failure_policy or options.failure_policy,
        "matchPolicy": "Equivalent",
    }
    if scoped:
        hook["namespaceSelector"] = namespace_selector(options.operator_namespace)
    return hook


def _rule(group: str, version: str, resources: list[str], operations: list[str], scope: str = "*") -> dict[str, Any]:
    return {
        "apiGroups": [group],
        "apiVersions": [version],
        "resources": resources,
        "operations": operations,
        "scope": scope,
    }


#: ConfigMaps every namespace has, written by kube-controller-manager: never sent
CLUSTER_CONFIG_MAPS = ("kube-root-ca.crt",)
#: writers that are the cluster itself (kube-controller-manager, including the namespace controller that
#: deletes a namespace's ConfigMaps, the API server, kubelets, kube-system's service accounts): never sent
CLUSTER_WRITERS = ("system:kube-controller-manager", "system:kube-scheduler", "system:apiserver")
CLUSTER_WRITER_PREFIXES = ("system:serviceaccount:kube-system:", "system:node:")


def _cel_strings(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def config_map_match_conditions() -> list[dict[str, str]]:
    """CEL the API server evaluates before calling the ConfigMap webhook: what it skips costs no call."""
    prefixes = " || ".join(f"request.userInfo.username.startsWith('{p}')" for p in CLUSTER_WRITER_PREFIXES)
    return [
        {"name": "not-cluster-config-maps", "expression": f"!(request.name in {_cel_strings(CLUSTER_CONFIG_MAPS)})"},
        {
            "name": "not-cluster-writers",
            "expression": f"!(request.userInfo.username in {_cel_strings(CLUSTER_WRITERS)} || {prefixes})",
        },
        {
            # an UPDATE that leaves data as it was (labels, annotations, binaryData) cannot change a route
            "name": "data-changed",
            "expression": "request.operation != 'UPDATE' || "
            "(has(object.data) ? object.data : {}) != (has(oldObject.data) ? oldObject.data : {})",
        },
    ]


def config_map_webhook(client_config: ClientConfigFor, options: WebhookOptions) -> dict[str, Any]:
    """ConfigMap UPDATE and DELETE, judged by the running pods that read the ConfigMap. It fails open with a
    short timeout: kube-controller-manager and every controller write ConfigMaps, and an operator that is down
    must never block them; what it lets through meanwhile, the background audit reports."""
    hook = _webhook(
        "configmaps.validate.modelroute.io",
        VALIDATE_CONFIG_MAPS,
        [_rule(CONFIG_MAP.group, CONFIG_MAP.version, [CONFIG_MAP.plural], ["UPDATE", "DELETE"], "Namespaced")],
        client_config,
        options,
        failure_policy="Ignore",
    )
    hook["timeoutSeconds"] = options.config_map_timeout_seconds
    hook["matchConditions"] = config_map_match_conditions()
    return hook


def mutating_configuration(client_config: ClientConfigFor, options: WebhookOptions) -> dict[str, Any]:
    hook = _webhook(
        "pods.mutate.modelroute.io",
        MUTATE_PODS,
        [_rule(POD.group, POD.version, [POD.plural], ["CREATE"], "Namespaced")],
        client_config,
        options,
    )
    hook["reinvocationPolicy"] = "IfNeeded"
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": options.name, "labels": {ann.APP_NAME_LABEL: ann.APP_NAME}},
        "webhooks": [hook],
    }


def validating_configuration(client_config: ClientConfigFor, options: WebhookOptions) -> dict[str, Any]:
    controller_rules = [_rule(g, v, [r], ["CREATE", "UPDATE"], "Namespaced") for g, v, r in POD_CONTROLLERS]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": options.name, "labels": {ann.APP_NAME_LABEL: ann.APP_NAME}},
        "webhooks": [
            _webhook(
                "pods.validate.modelroute.io",
                VALIDATE_PODS,
                [
                    _rule(POD.group, POD.version, [POD.plural], ["CREATE"], "Namespaced"),
                    _rule(POD.group, POD.version, [f"{POD.plural}/ephemeralcontainers"], ["UPDATE"], "Namespaced"),
                ],
                client_config,
                options,
            ),
            _webhook(
                "controllers.validate.modelroute.io", VALIDATE_CONTROLLERS, controller_rules, client_config, options
            ),
            # ModelRoute's own kinds are checked for what the schema cannot say; an operator that is down must
            # never stop anyone from fixing them, so this one fails open.
            _webhook(
                "resources.validate.modelroute.io",
                VALIDATE_RESOURCES,
                [_rule(GROUP, VERSION, list(OWN_RESOURCES), ["CREATE", "UPDATE", "DELETE"])],
                client_config,
                options,
                failure_policy="Ignore",
                scoped=False,
            ),
            *([config_map_webhook(client_config, options)] if options.config_maps else []),
        ],
    }


def _owned_keys() -> str:
    return "[" + ", ".join(f"'{key}'" for key in ann.OWNED_POD_ANNOTATIONS) + "]"


def _annotation_guard_expression() -> str:
    return (
        f"request.operation != 'UPDATE' || {_owned_keys()}.all(k, (k in variables.after ? variables.after[k] : '') "
        "== (k in variables.before ? variables.before[k] : ''))"
    )


def _binding_guard_expression() -> str:
    # A Binding's annotations are copied onto the pod it binds.
    return f"request.operation != 'CREATE' || !{_owned_keys()}.exists(k, k in variables.after)"


#: Every write path to a pod's metadata: the pod itself and its subresources that carry the whole
#: object (status, ephemeralcontainers, resize, and any later one), plus binding, which copies annotations.
GUARDED_POD_RESOURCES = (POD.plural, f"{POD.plural}/*")
BINDING_SUBRESOURCE = f"{POD.plural}/binding"


def annotation_guard_name(configuration_name: str) -> str:
    return f"{configuration_name}-annotations"


def annotation_guard(options: WebhookOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ValidatingAdmissionPolicy (CEL in the API server, no webhook to be down) and its binding that keep
    the modelroute.io/ annotations of a pod as admission wrote them: no later UPDATE of the pod or of any
    of its subresources may change them, and no Binding may carry them."""
    name = annotation_guard_name(options.name)
    labels = {ann.APP_NAME_LABEL: ann.APP_NAME}
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    _rule(POD.group, POD.version, list(GUARDED_POD_RESOURCES), ["UPDATE"], "Namespaced"),
                    _rule(POD.group, POD.version, [BINDING_SUBRESOURCE], ["CREATE"], "Namespaced"),
                ]
            },
            "variables": [
                {
                    "name": "before",
                    "expression": "oldObject != null && has(oldObject.metadata.annotations) ? "
                    "oldObject.metadata.annotations : {}",
                },
                {"name": "after", "expression": "has(object.metadata.annotations) ? object.metadata.annotations : {}"},
            ],
            "validations": [
                {
                    "expression": _annotation_guard_expression(),
                    "message": "modelroute.io/ annotations record what ModelRoute decided at admission; they cannot "
                    "be changed afterwards",
                    "reason": "Forbidden",
                },
                {
                    "expression": _binding_guard_expression(),
                    "message": "a Binding cannot set modelroute.io/ annotations on a pod",
                    "reason": "Forbidden",
                },
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": namespace_selector(options.operator_namespace)},
        },
    }
    return policy, binding


#: (group, resource, subresource) of a rule resource: "pods/ephemeralcontainers" is ("", "pods", "ephemeralcontainers")
Route = tuple[str, str, str]


def routes() -> dict[str, dict[Route, frozenset[str]]]:
    """The operations each webhook path is registered for, by (group, resource, subresource), read from the
    configurations themselves (every optional webhook included): what the request path accepts per path."""

    def by_path(path: str) -> dict[str, Any]:
        return {"path": path}

    options = WebhookOptions(operator_namespace="")
    served: dict[str, dict[Route, frozenset[str]]] = {}
    for configuration in (mutating_configuration(by_path, options), validating_configuration(by_path, options)):
        for hook in configuration["webhooks"]:
            path_routes = served.setdefault(hook["clientConfig"]["path"], {})
            for rule in hook["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        plural, _, sub = resource.partition("/")
                        route = (group, plural, sub)
                        path_routes[route] = path_routes.get(route, frozenset()) | frozenset(rule["operations"])
    return served
