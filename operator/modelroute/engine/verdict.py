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
    CHANNEL_NOT_DECLARED = "ChannelNotDeclared"
    DEPLOYMENT_NOT_ALLOWED = "DeploymentNotAllowed"
    NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
    STATEFUL_DIRECT_DENIED = "StatefulDirectDenied"
    HOST_ALIAS_OVERRIDE = "HostAliasOverride"
    UNREADABLE_CONFIG_FILE = "UnreadableConfigFile"


#: What each code means, for people: the table in docs/concepts.md, `check -o sarif`'s rules and their help text.
CODE_HELP: Mapping[Code, str] = {
    Code.ENDPOINT_NOT_APPROVED: "A setting, URL or argument points somewhere other than the workload's endpoint (or, "
    "for unmanaged pods, any Ready endpoint that admits the namespace and every procurement channel).",
    Code.DEFAULT_OPENAI_ENDPOINT: "A credential with no endpoint: the SDK default api.openai.com.",
    Code.NON_AZURE_PROVIDER: "Routing to a non-Azure provider of OpenAI models (AWS Bedrock).",
    Code.MALFORMED_ENDPOINT_URL: "An endpoint value that is not a usable URL, or one clients read differently.",
    Code.ENDPOINT_NOT_VISIBLE: "An endpoint setting, provider selector or properties carrier that comes from a Secret "
    "or a field reference, or a whole Secret loaded with envFrom.secretRef: the route cannot be checked.",
    Code.UNRESOLVED_REFERENCE: "A ConfigMap (or key) that an endpoint setting needs does not exist, or an optional "
    "reference resolves to nothing now and may at the next container start.",
    Code.UNMANAGED_OPENAI_TRAFFIC: "Configured for OpenAI traffic, covered by no ModelWorkload (unmanaged: Deny).",
    Code.AMBIGUOUS_WORKLOAD: "Selected by two ModelWorkloads; the message names both.",
    Code.ENDPOINT_NOT_FOUND: "The covering ModelWorkload's AzureEndpoint does not exist.",
    Code.ENDPOINT_NOT_READY: "The covering ModelWorkload's AzureEndpoint is not Ready (its status says why).",
    Code.CHANNEL_NOT_ALLOWED: "The endpoint does not allow the workload's procurement channel.",
    Code.CHANNEL_NOT_DECLARED: "A pod no ModelWorkload covers calls an endpoint that admits one procurement channel "
    "only (type OpenAI, or channels naming one): only a ModelWorkload declaring that channel may use it.",
    Code.DEPLOYMENT_NOT_ALLOWED: "The endpoint does not allow the workload's Azure deployment.",
    Code.NAMESPACE_NOT_ALLOWED: "The endpoint's namespaceSelector does not admit the workload's namespace.",
    Code.STATEFUL_DIRECT_DENIED: "A Stateful workload reaching OpenAI directly under statefulDirect: Deny.",
    Code.HOST_ALIAS_OVERRIDE: "hostAliases redirects a model host or an approved host.",
    Code.UNREADABLE_CONFIG_FILE: "A configuration file a client would load, mounted from a ConfigMap, cannot be read "
    "(bad syntax, too large, too deep, binary, not UTF-8 text (binaryData included), or a key the ConfigMap "
    "does not have): its route cannot be checked.",
}


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
    #: for a governed pod, the judgement of the pod it produces (the pod itself when there is no patch) up to
    #: the enforcement's decision: what evaluate_produced finishes, so the validating call reads nothing again
    produced_review: Any = field(default=None, compare=False, repr=False)

    @property
    def denial_message(self) -> str:
        lines = [f"[{v.code}] {v.message}" for v in self.violations]
        return "ModelRoute denied this object:\n" + "\n".join(f"- {line}" for line in lines)
