"""The Kubernetes API client the shells use (never the admission hot path): lists for priming the
cluster view, status patches, Events, webhook configurations."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from modelroute.api.kinds import BY_PLURAL, CONFIG_MAP, NAMESPACE, POD, WATCHED_KINDS, Kind
from modelroute.cluster.seams import DryRun

if TYPE_CHECKING:
    from modelroute.cluster import seams

log = logging.getLogger(__name__)
#: seconds one removal may take at shutdown: an API server that does not answer must not hang the exit
SHUTDOWN_REQUEST_TIMEOUT = 5.0

#: plural -> (group, version, namespaced), for every kind the operator reads
RESOURCES: dict[str, tuple[str, str, bool]] = {k.plural: (k.group, k.version, k.namespaced) for k in WATCHED_KINDS}


_T = TypeVar("_T")


def unless_absent(call: Callable[[], _T]) -> _T | None:
    """What `call` returns, or None when the API server answers that the object does not exist (404): a
    read of something absent, or a delete of something already gone."""
    try:
        return call()
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def unless_conflict(call: Callable[[], object]) -> bool:
    """Whether `call` wrote; False when someone else wrote first (409), so the write is theirs this round."""
    try:
        call()
    except ApiException as error:
        if error.status == 409:
            return False
        raise
    return True


def _pruned(value: Any) -> Any:
    """What the API server stores: empty lists and maps (e.g. `matchExpressions: []`) are dropped."""
    if isinstance(value, dict):
        return {k: p for k, v in value.items() if (p := _pruned(v)) not in ({}, [], None)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def load_config(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        config.load_incluster_config()
    else:
        config.load_kube_config(config_file=kubeconfig, context=context)
    return client.ApiClient()


class Kube:
    """Thin, typed-enough wrappers over the generated client, returning plain dicts."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.admission = client.AdmissionregistrationV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.extensions = client.ApiextensionsV1Api(api)
        self._crds: dict[str, tuple[bool, float]] = {}
        self._served: dict[tuple[str, str, str], tuple[bool, float]] = {}
        self._grants: dict[tuple[str, str], tuple[bool, float]] = {}

    def list_all(self, plural: str) -> list[dict[str, Any]]:
        """Every object of a kind, as the plain dicts a watch would deliver."""
        return self.list_with_version(plural)[0]

    def _page(self, plural: str, limit: int, token: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"limit": limit}
        if token:
            kwargs["_continue"] = token
        # the raw JSON, parsed by orjson: building the client's typed models of thousands of pods and
        # serialising them back cost seconds and a large transient heap (docs/performance.md)
        page: dict[str, Any] = orjson.loads(self._raw(plural, **kwargs).data)
        return page

    def _raw(self, plural: str, **kwargs: Any) -> Any:
        """The unread HTTP response (urllib3) of a list or watch of every object of a kind."""
        group, version, _ = RESOURCES[plural]
        if group:
            return self.custom.list_cluster_custom_object(group, version, plural, _preload_content=False, **kwargs)
        listing = {
            CONFIG_MAP.plural: self.core.list_config_map_for_all_namespaces,
            NAMESPACE.plural: self.core.list_namespace,
            POD.plural: self.core.list_pod_for_all_namespaces,
        }[plural]
        return listing(_preload_content=False, **kwargs)

    def list_with_version(self, plural: str, page_size: int = 500) -> tuple[list[dict[str, Any]], str]:
        """Every object of a kind and the resourceVersion of that consistent snapshot, to watch from."""
        group, version, _ = RESOURCES[plural]
        items: list[dict[str, Any]] = []
        token: str | None = None
        resource_version = ""
        while True:
            page = self._page(plural, page_size, token)
            resource_version = resource_version or str((page.get("metadata") or {}).get("resourceVersion") or "")
            kind = str(page.get("kind") or "").removesuffix("List") or BY_PLURAL[plural].kind
            for item in page.get("items") or []:
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", f"{group}/{version}" if group else version)
                items.append(item)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items, resource_version

    def watch(self, plural: str, resource_version: str, timeout_seconds: int) -> Any:
        """The open watch stream (urllib3 response) of a kind from `resource_version`, with bookmarks; the
        server ends it after `timeout_seconds`, and a silent connection is given up a little after that."""
        return self._raw(
            plural,
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            _request_timeout=(30, timeout_seconds + 30),
        )

    def patch_status(self, plural: str, namespace: str | None, name: str, status: dict[str, Any]) -> None:
        group, version, namespaced = RESOURCES[plural]
        body = {"status": status}
        # the answer (the whole object) is not needed: unread, it is never turned into the client's models
        if namespaced:
            response = self.custom.patch_namespaced_custom_object_status(
                group, version, namespace, plural, name, body, _preload_content=False
            )
        else:
            response = self.custom.patch_cluster_custom_object_status(
                group, version, plural, name, body, _preload_content=False
            )
        response.drain_conn()

    def read_namespace(self, name: str) -> dict[str, Any] | None:
        found = unless_absent(lambda: self.core.read_namespace(name))
        if found is None:
            return None
        body = dict(self.api.sanitize_for_serialization(found))
        body.setdefault("kind", "Namespace")
        body.setdefault("apiVersion", "v1")
        return body

    # The leader Lease (coordination.k8s.io), as plain dicts.
    def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        lease = unless_absent(lambda: self.coordination.read_namespaced_lease(name, namespace))
        return None if lease is None else dict(self.api.sanitize_for_serialization(lease))

    def create_lease(self, body: dict[str, Any]) -> bool:
        """Whether the Lease was created; False when another replica created it first."""
        namespace = body["metadata"]["namespace"]
        return unless_conflict(lambda: self.coordination.create_namespaced_lease(namespace, body))

    def replace_lease(self, body: dict[str, Any]) -> bool:
        """Whether the Lease was replaced; False when another replica wrote it first."""
        meta = body["metadata"]
        return unless_conflict(
            lambda: self.coordination.replace_namespaced_lease(meta["name"], meta["namespace"], body)
        )

    def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        self.core.create_namespaced_event(namespace, body)

    def apply_webhook_configuration(self, body: dict[str, Any]) -> None:
        kind = body["kind"]
        name = body["metadata"]["name"]
        create, replace, read = (
            (
                self.admission.create_mutating_webhook_configuration,
                self.admission.replace_mutating_webhook_configuration,
                self.admission.read_mutating_webhook_configuration,
            )
            if kind == "MutatingWebhookConfiguration"
            else (
                self.admission.create_validating_webhook_configuration,
                self.admission.replace_validating_webhook_configuration,
                self.admission.read_validating_webhook_configuration,
            )
        )
        current = unless_absent(lambda: read(name))
        if current is None:
            create(body)
            return
        body = {**body, "metadata": {**body["metadata"], "resourceVersion": current.metadata.resource_version}}
        replace(name, body)

    def delete_webhook_configuration(self, kind: str, name: str) -> None:
        delete = (
            self.admission.delete_mutating_webhook_configuration
            if kind == "MutatingWebhookConfiguration"
            else self.admission.delete_validating_webhook_configuration
        )
        unless_absent(lambda: delete(name, _request_timeout=SHUTDOWN_REQUEST_TIMEOUT))

    # Objects of any API group, as plain dicts (NetworkPolicies, CiliumNetworkPolicies, PolicyReports).

    def has_crd(self, name: str, max_age_seconds: float = 10.0) -> bool:
        """Whether a CRD exists; remembered for a few seconds, since reconciles ask on every pass."""
        now = time.monotonic()
        cached = self._crds.get(name)
        if cached is not None and now - cached[1] < max_age_seconds:
            return cached[0]
        try:
            self.extensions.read_custom_resource_definition(name)
            found = True
        except ApiException as error:
            if error.status not in (403, 404):
                raise
            found = False
        self._crds[name] = (found, now)
        return found

    def serves(self, kind: Kind, max_age_seconds: float = 10.0) -> bool:
        """Whether the API server serves `kind` at its version: its CRD is established and that version is
        served (a CRD can keep a version it no longer serves). Remembered for a few seconds."""
        key = (kind.group, kind.version, kind.plural)
        now = time.monotonic()
        cached = self._served.get(key)
        if cached is not None and now - cached[1] < max_age_seconds:
            return cached[0]
        served = False
        try:
            crd = self.extensions.read_custom_resource_definition(f"{kind.plural}.{kind.group}")
        except ApiException as error:
            if error.status not in (403, 404):
                raise
        else:
            established = any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or ())
            served = established and any(v.name == kind.version and v.served for v in crd.spec.versions)
        self._served[key] = (served, now)
        return served

    def may_create(self, group: str, plural: str, max_age_seconds: float = 60.0) -> bool:
        """Whether this process may create `plural` (a SelfSubjectAccessReview, which needs no RBAC of its own).
        The chart grants CiliumNetworkPolicies and PolicyReports only when enabled; without the grant the
        reconciler leaves them alone instead of failing on every pass. Remembered for a minute."""
        now = time.monotonic()
        cached = self._grants.get((group, plural))
        if cached is not None and now - cached[1] < max_age_seconds:
            return cached[0]
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"group": group, "resource": plural, "verb": "create"}},
        }
        result = client.AuthorizationV1Api(self.api).create_self_subject_access_review(review)
        allowed = bool(result.status.allowed)
        self._grants[(group, plural)] = (allowed, now)
        return allowed

    def list_labelled(self, group: str, version: str, plural: str, selector: str) -> list[dict[str, Any]]:
        listing = self.custom.list_cluster_custom_object(group, version, plural, label_selector=selector)
        return list(listing.get("items") or [])

    def upsert(self, group: str, version: str, plural: str, body: dict[str, Any]) -> bool:
        """Create or update a namespaced object to match `body`; True when something was written."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        current = unless_absent(
            lambda: self.custom.get_namespaced_custom_object(group, version, namespace, plural, name)
        )
        # Strict: a field the API's schema does not know is an error, never silently pruned from what we wrote
        if current is None:
            self.custom.create_namespaced_custom_object(
                group, version, namespace, plural, body, field_validation="Strict"
            )
            return True
        meta = current.get("metadata") or {}
        same = all(_pruned(current.get(k)) == _pruned(v) for k, v in body.items() if k != "metadata") and all(
            meta.get(k) == body["metadata"].get(k) for k in ("labels", "ownerReferences") if k in body["metadata"]
        )
        if same:
            return False
        merged = {**body, "metadata": {**body["metadata"], "resourceVersion": meta.get("resourceVersion")}}
        self.custom.replace_namespaced_custom_object(
            group, version, namespace, plural, name, merged, field_validation="Strict"
        )
        return True

    def delete(self, group: str, version: str, plural: str, namespace: str, name: str) -> None:
        unless_absent(lambda: self.custom.delete_namespaced_custom_object(group, version, namespace, plural, name))

    def apply_cluster_object(
        self, group: str, version: str, plural: str, body: dict[str, Any], *, strict: bool = False
    ) -> None:
        """Create or replace a cluster-scoped object of any API group; with `strict`, a field the API's schema
        does not know is an error instead of being pruned."""
        validation = {"field_validation": "Strict"} if strict else {}
        name = body["metadata"]["name"]
        current = unless_absent(lambda: self.custom.get_cluster_custom_object(group, version, plural, name))
        if current is None:
            self.custom.create_cluster_custom_object(group, version, plural, body, **validation)
            return
        version_of = (current.get("metadata") or {}).get("resourceVersion")
        replaced = {**body, "metadata": {**body["metadata"], "resourceVersion": version_of}}
        self.custom.replace_cluster_custom_object(group, version, plural, name, replaced, **validation)

    def delete_cluster_object(self, group: str, version: str, plural: str, name: str) -> None:
        unless_absent(
            lambda: self.custom.delete_cluster_custom_object(
                group, version, plural, name, _request_timeout=SHUTDOWN_REQUEST_TIMEOUT
            )
        )

    # Server-side dry runs: what the API server's admission chain answers, without a write.

    def dry_run(self, kind: str, namespace: str, body: dict[str, Any]) -> DryRun:
        """Send `body` (a Pod, a pod Binding or a NetworkPolicy) as a dry-run create and report the answer."""
        call: Callable[[], object]
        if kind == "Pod":
            call = lambda: self.core.create_namespaced_pod(namespace, body, dry_run="All")  # noqa: E731
        elif kind == "Binding":
            pod = body["metadata"]["name"]
            call = lambda: self.core.create_namespaced_pod_binding(pod, namespace, body, dry_run="All")  # noqa: E731
        elif kind == "NetworkPolicy":
            networking = client.NetworkingV1Api(self.api)
            call = lambda: networking.create_namespaced_network_policy(namespace, body, dry_run="All")  # noqa: E731
        else:
            raise ValueError(f"no dry run for {kind}")
        try:
            call()
        except ApiException as error:
            return DryRun(allowed=False, status=int(error.status or 0), message=_status_message(error))
        return DryRun(allowed=True, status=201, message="")


def _status_message(error: ApiException) -> str:
    try:
        status = orjson.loads(error.body or b"{}")
    except orjson.JSONDecodeError:
        return str(error.body or error.reason or "")
    return str(status.get("message") or error.reason or "") if isinstance(status, dict) else str(status)


def replace_crd(kube: Kube, body: dict[str, Any]) -> bool:
    """Make an existing CustomResourceDefinition `body` (a full replace, at the version read); True when it
    changed. A missing one is an error: the chart's crds/ directory creates them, this only upgrades them, so
    its ServiceAccount may update the three by name but create nothing."""
    name = body["metadata"]["name"]
    current = unless_absent(
        lambda: kube.api.sanitize_for_serialization(kube.extensions.read_custom_resource_definition(name))
    )
    if current is None:
        raise LookupError(
            f"CustomResourceDefinition {name} does not exist: install the chart without --skip-crds, or apply "
            "its crds/ directory first"
        )
    meta = current.get("metadata") or {}
    if _pruned(current.get("spec")) == _pruned(body.get("spec")) and all(
        (meta.get(k) or {}) == (body["metadata"].get(k) or {}) for k in ("labels", "annotations")
    ):
        return False
    replaced = {**body, "metadata": {**body["metadata"], "resourceVersion": meta.get("resourceVersion")}}
    kube.extensions.replace_custom_resource_definition(name, replaced)
    return True


if TYPE_CHECKING:
    # mypy checks that Kube satisfies every seam: a Protocol is structural, nothing declares it
    def _every_seam(kube: Kube) -> seams.Cluster:
        return kube
