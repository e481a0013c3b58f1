"""What the engine says about an object: violations with stable codes, and the Decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from modelroute.api.v1alpha1 import Enforcement

JSONPatch = list[dict[str, Any]]


class Code(StrEnum):
    """Stable violation codes: tests, docs, dashboards and users rely on these strings."""

    ENDPOINT_NOT_APPROVED = "EndpointNotApproved"
    DEFAULT_OPENAI_ENDPOINT = "DefaultOpenAIEndpoint"
    NON_AZURE_PROVIDER = "NonAzureProvider"
    MALFORMED_ENDPOINT_URL = "MalformedEndpointURL"
    ENDPOINT_NOT_VISIBLE = "EndpointNotVisible"
    UNRESOLVED_REFERENCE = "UnresolvedReference"
    UNMANAGED_OPENAI_TRAFFIC = "UnmanagedOpenAITraffic"
    AMBIGUOUS_WORKLOAD = "AmbiguousWorkload"
    ENDPOINT_NOT_FOUND = "EndpointNotFound"
    ENDPOINT_NOT_READY = "EndpointNotReady"
    CHANNEL_NOT_ALLOWED = "ChannelNotAllowed"
    DEPLOYMENT_NOT_ALLOWED = "DeploymentNotAllowed"
    NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
    STATEFUL_DIRECT_DENIED = "StatefulDirectDenied"
    HOST_ALIAS_OVERRIDE = "HostAliasOverride"


class Outcome(StrEnum):
    """What the policy decided; written as the modelroute.io/decision annotation."""

    COMPLIANT = "compliant"
    REWRITTEN = "rewritten"
    WARNED = "warned"
    AUDITED = "audited"
    DENIED = "denied"
    UNMANAGED = "unmanaged"
    NOT_APPLICABLE = "not-applicable"
    EXCLUDED = "excluded"
    UNGOVERNED = "ungoverned"


@dataclass(frozen=True, slots=True)
class Violation:
    code: Code
    message: str
    container: str | None = None
    field: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"code": str(self.code), "message": self.message}
        if self.container is not None:
            out["container"] = self.container
        if self.field is not None:
            out["field"] = self.field
        return out

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's whole answer about one pod or pod template."""

    allowed: bool
    outcome: Outcome
    enforcement: Enforcement | None
    violations: tuple[Violation, ...] = ()
    warnings: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    patch: JSONPatch = field(default_factory=list)
    workload: str | None = None
    endpoint: str | None = None
    #: the pod as `patch` leaves it (kind, metadata, spec), for a pod with a patch: what the validating call
    #: will judge, known without applying the patch
    produced: Mapping[str, Any] | None = None
    #: what the engine read of the produced pod's containers (ContainerFindings), for evaluate_produced
    produced_findings: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    @property
    def denial_message(self) -> str:
        lines = [f"[{v.code}] {v.message}" for v in self.violations]
        return "ModelRoute denied this object:\n" + "\n".join(f"- {line}" for line in lines)
