"""The command line's read-only view of a live cluster: `check --cluster` and `report` without `--from`.

Only what a decision reads is read: AzureEndpoints, ModelWorkloads, RoutePolicies, Namespaces (their
labels) and, for `check`, the ConfigMaps the judged manifests reference, one by one. Never a Secret.
Every way the cluster can fail to answer (no kubeconfig, no such context, unreachable, forbidden, the
CRDs not installed) is bad input: exit 2 with what to do, never an internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TextIO, TypeVar

from pydantic import ValidationError

from modelroute.api import kinds
from modelroute.api.meta import explain
from modelroute.cli.manifests import Document, InputError, is_context_object
from modelroute.engine import POD_TEMPLATE_PATHS, config_maps_read

_T = TypeVar("_T")

#: The kinds `check --cluster` lists in full (ConfigMaps are read one by one, as referenced).
CLUSTER_CONTEXT_PLURALS: tuple[str, ...] = (*kinds.OWN_PLURALS, kinds.NAMESPACE.plural)
CLUSTER_SOURCE = "cluster"


def add_cluster_arguments(parser: argparse.ArgumentParser, *, switch: bool) -> None:
    """--kubeconfig and --context, and with `switch` the --cluster flag that turns the cluster on."""
    if switch:
        parser.add_argument(
            "--cluster",
            action="store_true",
            help="add the policy context of the cluster of the kubeconfig (read-only: AzureEndpoints, "
            "ModelWorkloads, RoutePolicies, Namespace labels, the referenced ConfigMaps); policy objects "
            "in the input add to it and replace the cluster's object of the same kind, namespace and name",
        )
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context (default: its current context)")


def _hint(alternative: str) -> str:
    return f"; point at a cluster with --kubeconfig PATH or --context NAME{alternative}"


class ClusterReader:
    """One cluster, read through the Kubernetes client; every failure becomes an InputError with a hint."""

    def __init__(self, kubeconfig: str | None, context: str | None, *, offline_hint: str = "") -> None:
        self._kubeconfig, self._context, self._offline = kubeconfig, context, offline_hint
        self._kube: Any = None

    @property
    def kube(self) -> Any:
        if self._kube is None:
            from kubernetes.config.config_exception import ConfigException

            from modelroute.cluster import Kube, load_config

            try:
                self._kube = Kube(load_config(self._kubeconfig, self._context))
            except (ConfigException, OSError, ValueError, TypeError, KeyError) as error:
                from_env = os.environ.get("KUBECONFIG")
                which = self._kubeconfig or (f"$KUBECONFIG={from_env}" if from_env else "~/.kube/config")
                raise InputError(
                    f"cannot use the kubeconfig ({which}): {_one_line(error)}" + _hint(self._offline)
                ) from error
        return self._kube

    @property
    def server(self) -> str:
        return str(self.kube.api.configuration.host)

    def _ask(self, what: str, call: Callable[[], _T]) -> _T:
        from kubernetes.client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return call()
        except ApiException as error:
            if error.status in (401, 403):
                why = "unauthorized" if error.status == 401 else "forbidden"
                raise InputError(
                    f"the cluster at {self.server} refused to list {what} ({why}); the kubeconfig's user needs "
                    "get and list on it (docs/rbac/check-cluster-reader.yaml)"
                ) from error
            if error.status == 404 and what.endswith(kinds.OWN_KINDS[0].group):
                raise InputError(
                    f"the cluster at {self.server} has no {what}: ModelRoute's CRDs are not installed there "
                    "(modelroute crds | kubectl apply -f -, or the Helm chart)"
                ) from error
            raise InputError(
                f"the cluster at {self.server} answered {error.status} {error.reason} to a read of {what}"
            ) from error
        except (HTTPError, OSError) as error:
            raise InputError(
                f"cannot reach the cluster at {self.server}: {_one_line(error)}" + _hint(self._offline)
            ) from error

    def list_all(self, plural: str) -> list[dict[str, Any]]:
        kind = kinds.BY_PLURAL[plural]
        what = f"{plural}.{kind.group}" if kind.group else plural
        return self._ask(what, lambda: self.kube.list_all(plural))

    def config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        from modelroute.cluster import unless_absent

        def read() -> dict[str, Any] | None:
            found = unless_absent(lambda: self.kube.core.read_namespaced_config_map(name, namespace))
            if found is None:
                return None
            body = dict(self.kube.api.sanitize_for_serialization(found))
            return {"apiVersion": "v1", "kind": "ConfigMap", **body}

        return self._ask(f"configmap {namespace}/{name}", read)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:300]


# --- the policy context a cluster adds to the input's -------------------------------------------------


def _as_document(body: dict[str, Any], position: int) -> Document:
    return Document(CLUSTER_SOURCE, str(position), body)


def identity(doc: Document, default_namespace: str) -> tuple[str, str, str]:
    """What makes two objects the same object: kind, namespace (none for cluster-scoped kinds), name."""
    kind = kinds.BY_KIND.get(doc.kind)
    namespaced = kind.namespaced if kind is not None else True
    return doc.kind, doc.namespace(default_namespace) if namespaced else "", doc.name


def merged(cluster: Iterable[Document], local: Iterable[Document], default_namespace: str) -> list[Document]:
    """The cluster's context objects with the input's on top: an input object replaces the cluster's of the
    same identity (it is what is about to be applied), the others are added."""
    by_identity: dict[tuple[str, str, str], Document] = {}
    for doc in (*cluster, *local):
        by_identity[identity(doc, default_namespace)] = doc
    return list(by_identity.values())


def config_map_references(obj: Mapping[str, Any], default_namespace: str) -> Iterator[tuple[str, str]]:
    """(namespace, name) of every ConfigMap a Pod or a pod template reads: env, envFrom and volumes."""
    node: Any = obj
    for step in POD_TEMPLATE_PATHS.get(str(obj.get("kind")), ()):
        node = node.get(step) if isinstance(node, Mapping) else None
    spec = node.get("spec") if isinstance(node, Mapping) else None
    if not isinstance(spec, Mapping):
        return
    metadata = obj.get("metadata") or {}
    namespace = str((metadata.get("namespace") if isinstance(metadata, Mapping) else None) or default_namespace)
    for name in sorted(config_maps_read(spec)):
        yield namespace, name


class ReadsCluster(Protocol):
    def list_all(self, plural: str) -> list[dict[str, Any]]: ...

    def config_map(self, namespace: str, name: str) -> dict[str, Any] | None: ...


def _valid(body: dict[str, Any], notes: TextIO) -> bool:
    """Whether a cluster object is one the operator's view would use. One its API model refuses is left out,
    as the webhook leaves it out (and reports it in the object's status), and said on stderr."""
    model = kinds.MODELS_BY_KIND.get(str(body.get("kind")))
    if model is None:
        return True
    try:
        model.model_validate(body)
    except ValidationError as error:
        metadata = body.get("metadata") or {}
        name = "/".join(str(p) for p in (metadata.get("namespace"), metadata.get("name")) if p)
        notes.write(
            f"modelroute: note: the cluster's {body.get('kind')} {name} is invalid and left out, as the "
            f"webhook leaves it out: {explain(error)}\n"
        )
        return False
    return True


@dataclass
class ClusterContext:
    """`check --cluster`: the cluster's policy context, merged under the input's."""

    reader: ReadsCluster
    notes: TextIO = sys.stderr

    def documents(self, local: list[Document], judged: Iterable[Document], default_namespace: str) -> list[Document]:
        """The context documents to judge with: the cluster's objects (and the ConfigMaps the judged
        manifests reference that the input does not hold), then the input's on top."""
        found: list[dict[str, Any]] = []
        for plural in CLUSTER_CONTEXT_PLURALS:
            found.extend(body for body in self.reader.list_all(plural) if _valid(body, self.notes))
        given = {identity(doc, default_namespace) for doc in local if is_context_object(doc)}
        wanted: dict[tuple[str, str], None] = {}
        for doc in judged:
            for ref in config_map_references(doc.obj, default_namespace):
                if (kinds.CONFIG_MAP.kind, *ref) not in given:
                    wanted.setdefault(ref)
        for namespace, name in wanted:
            body = self.reader.config_map(namespace, name)
            if body is not None:  # absent: the engine reports the reference as unresolved, as the webhook does
                found.append(body)
        cluster = [_as_document(body, position) for position, body in enumerate(found, start=1)]
        return merged(cluster, local, default_namespace)


def cluster_context(args: argparse.Namespace) -> ClusterContext | None:
    """The ClusterContext `check` asked for, or None; --kubeconfig or --context without --cluster is a usage error."""
    if not args.cluster:
        if args.kubeconfig or args.context:
            raise InputError("--kubeconfig and --context need --cluster (check reads no cluster without it)")
        return None
    return ClusterContext(ClusterReader(args.kubeconfig, args.context, offline_hint=", or check without --cluster"))
