"""The modelroute.io/v1alpha1 kinds: the one source of truth for the CRD schemas.

Each field's description becomes its `kubectl explain` text; rules the API server can check on its
own are CEL `x-kubernetes-validations`; rules that need other objects live in the engine.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from modelroute import urls
from modelroute.api.meta import (
    DNS_SUBDOMAIN_MAX,
    Conditions,
    LabelSelector,
    WireModel,
)

URL_MAX = 2048
_READY = '.status.conditions[?(@.type=="Ready")].status'
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_REASON = {
    "name": "Reason",
    "type": "string",
    "priority": 1,
    "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
}


class AzureCloud(StrEnum):
    PUBLIC = "AzurePublic"
    US_GOVERNMENT = "AzureUSGovernment"
    CHINA = "AzureChina"


class EndpointType(StrEnum):
    AZURE_OPENAI = "AzureOpenAI"
    API_MANAGEMENT = "APIManagement"
    OPENAI = "OpenAI"
    GATEWAY = "Gateway"


class ProcurementChannel(StrEnum):
    MICROSOFT = "Microsoft"
    OPENAI = "OpenAI"


class ApiMode(StrEnum):
    STATELESS = "Stateless"
    STATEFUL = "Stateful"


class ClientProfile(StrEnum):
    OPENAI = "OpenAI"
    AZURE_OPENAI = "AzureOpenAI"
    LANGCHAIN = "LangChain"
    LITELLM = "LiteLLM"
    LLAMA_INDEX = "LlamaIndex"
    SEMANTIC_KERNEL = "SemanticKernel"
    OPEN_WEBUI = "OpenWebUI"
    SPRING_AI = "SpringAI"
    SPRING_AI_AZURE_OPENAI = "SpringAIAzureOpenAI"
    VERCEL_AI = "VercelAI"
    ASPIRE = "Aspire"
    DOTNET_CONFIGURATION = "DotNetConfiguration"


class Enforcement(StrEnum):
    ENFORCE = "Enforce"
    WARN = "Warn"
    AUDIT = "Audit"


class UnmanagedAction(StrEnum):
    DENY = "Deny"
    WARN = "Warn"
    ALLOW = "Allow"


class StatefulDirect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class ObjectMeta(WireModel):
    """The part of metav1.ObjectMeta that ModelRoute reads."""

    model_config = WireModel.model_config | ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=DNS_SUBDOMAIN_MAX)
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None
    uid: str | None = None
    resource_version: str | None = None

    @field_validator("labels", "annotations", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class ReconciledStatus(WireModel):
    """What every ModelRoute status carries: the generation it describes and its conditions."""

    model_config = WireModel.model_config | ConfigDict(extra="ignore")

    observed_generation: int | None = Field(default=None, description="The generation last reconciled.")
    conditions: Conditions


# ---------------------------------------------------------------------------------------------
# AzureEndpoint


class Deployment(WireModel):
    name: str = Field(description="Azure deployment name, as in /openai/deployments/{name}/.", max_length=64)
    model: str | None = Field(default=None, description="The model behind it, e.g. gpt-4o (for reports).")


class EndpointEgress(WireModel):
    cidrs: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        description="Where the endpoint resolves inside the network (private endpoints), for the "
        "NetworkPolicies ModelRoute generates.",
        max_length=64,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self.all(c, isCIDR(c))", "message": "every entry must be a CIDR, e.g. 10.1.0.0/24"}
            ],
        },
    )
    proxy: str | None = Field(
        default=None,
        description="HTTP(S) egress proxy URL that pods must use to reach the endpoint.",
        max_length=URL_MAX,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "isURL(self) && url(self).getScheme() in ['http', 'https']",
                    "message": "proxy must be an http:// or https:// URL",
                }
            ]
        },
    )

    @field_validator("cidrs")
    @classmethod
    def _cidrs_are_networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as error:
                raise ValueError(f"{cidr!r} is not a CIDR, e.g. 10.1.0.0/24") from error
        return value

    @field_validator("proxy")
    @classmethod
    def _proxy_is_url(cls, value: str | None) -> str | None:
        if value is not None:
            urls.parse_url(value)
        return value


class AzureEndpointSpec(WireModel):
    """The approved route: where it is, what kind of host it is, and who may use it."""

    model_config = WireModel.model_config | ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'OpenAI' || !has(self.channels) || self.channels.all(c, c == 'OpenAI')",
                    "message": "an endpoint of type OpenAI cannot admit the Microsoft channel",
                }
            ]
        }
    )

    url: str = Field(
        description="https:// base URL of the approved route, e.g. https://contoso-eastus.openai.azure.com. "
        "Its host and port (default 443) are what pods' endpoint settings are matched against.",
        max_length=URL_MAX,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "isURL(self) && url(self).getScheme() == 'https'",
                    "message": "url must be an https:// URL, e.g. https://contoso-eastus.openai.azure.com",
                },
                {
                    "rule": "!self.matches('^[^:]+://[^/?#]*@')",
                    "message": "url must not carry user information (user:password@)",
                },
            ]
        },
    )
    type: EndpointType = Field(
        default=EndpointType.AZURE_OPENAI,
        description="AzureOpenAI: an Azure OpenAI, Cognitive Services or AI Foundry host of `cloud`. "
        "APIManagement: an Azure API Management host (*.azure-api.net or sovereign equivalent). "
        "OpenAI: an OpenAI-operated host, usable only by workloads bought through the OpenAI channel. "
        "Gateway: an explicitly declared corporate or in-cluster gateway that forwards to Azure; any host.",
    )
    cloud: AzureCloud = Field(
        default=AzureCloud.PUBLIC,
        description="The Azure cloud of the host; must agree with the host suffix for AzureOpenAI and "
        "APIManagement endpoints.",
    )
    default_api_version: str | None = Field(
        default=None,
        description="api-version injected for classic Azure clients (OPENAI_API_VERSION), e.g. 2024-10-21.",
        max_length=64,
        pattern=r"^\d{4}-\d{2}-\d{2}(-preview)?$",
    )
    deployments: list[Deployment] = Field(
        default_factory=list,
        description="Azure deployment names workloads may call through this endpoint; empty means any.",
        max_length=256,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    channels: list[ProcurementChannel] = Field(
        default_factory=list,
        description="Procurement channels allowed to use this endpoint; empty means both "
        "(an endpoint of type OpenAI admits the OpenAI channel only).",
        max_length=2,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    namespace_selector: LabelSelector | None = Field(
        default=None, description="Namespaces whose workloads may use this endpoint; empty means all."
    )
    egress: EndpointEgress | None = Field(
        default=None, description="Network facts for generated egress policies and proxy injection."
    )

    @field_validator("url")
    @classmethod
    def _url_is_https(cls, value: str) -> str:
        parsed = urls.parse_url(value)
        if "@" in value.split("://", 1)[-1].split("/", 1)[0]:
            raise ValueError("url must not carry user information (user:password@)")
        if parsed.scheme != "https":
            raise ValueError("url must be an https:// URL, e.g. https://contoso-eastus.openai.azure.com")
        return value

    @model_validator(mode="after")
    def _openai_type_means_openai_channel(self) -> AzureEndpointSpec:
        if self.type is EndpointType.OPENAI and ProcurementChannel.MICROSOFT in self.channels:
            raise ValueError("an endpoint of type OpenAI cannot admit the Microsoft channel")
        return self

    @property
    def allowed_channels(self) -> frozenset[ProcurementChannel]:
        if self.type is EndpointType.OPENAI:
            return frozenset({ProcurementChannel.OPENAI})
        return frozenset(self.channels or ProcurementChannel)


class AzureEndpointStatus(ReconciledStatus):
    host: str | None = Field(
        default=None, description="The host (with its port when not 443) that pods are matched against."
    )
    workloads: int = Field(default=0, description="ModelWorkloads that reference this endpoint.", ge=0)


class _Resource(WireModel):
    """What each of ModelRoute's kinds shares: `KIND`, read from the model's `kind` field (where the kind is
    stated once), and the API server's own fields it does not model ignored rather than refused."""

    KIND: ClassVar[str]
    model_config = WireModel.model_config | ConfigDict(extra="ignore")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.KIND = str(cls.model_fields["kind"].default)


class AzureEndpoint(_Resource):
    """An approved route for stateless OpenAI API traffic."""

    PLURAL: ClassVar[str] = "azureendpoints"
    SCOPE: ClassVar[str] = "Cluster"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("aze",)
    PRINTER_COLUMNS: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
        {"name": "URL", "type": "string", "jsonPath": ".spec.url"},
        {"name": "Cloud", "type": "string", "jsonPath": ".spec.cloud", "priority": 1},
        {"name": "Ready", "type": "string", "jsonPath": _READY},
        {"name": "Workloads", "type": "integer", "jsonPath": ".status.workloads"},
        _REASON,
        _AGE,
    )
    api_version: Literal["modelroute.io/v1alpha1"] = "modelroute.io/v1alpha1"
    kind: Literal["AzureEndpoint"] = "AzureEndpoint"
    metadata: ObjectMeta
    spec: AzureEndpointSpec
    status: AzureEndpointStatus | None = None


# ---------------------------------------------------------------------------------------------
# ModelWorkload


class EndpointRef(WireModel):
    name: str = Field(description="Name of the AzureEndpoint.", min_length=1, max_length=DNS_SUBDOMAIN_MAX)


class Procurement(WireModel):
    channel: ProcurementChannel = Field(
        description="The door the access was bought from: Microsoft (Azure OpenAI Service) or OpenAI."
    )
    reference: str | None = Field(default=None, description="Contract or purchase-order reference.", max_length=256)
    cost_center: str | None = Field(default=None, description="Chargeback key.", max_length=256)


class SecretKeyRef(WireModel):
    name: str = Field(description="Secret name, in the workload's namespace.", min_length=1, max_length=253)
    key: str = Field(description="Key within the Secret.", min_length=1, max_length=253)


DEFAULT_PROFILES = (ClientProfile.OPENAI, ClientProfile.AZURE_OPENAI)


class Inject(WireModel):
    profiles: list[ClientProfile] = Field(
        default_factory=lambda: list(DEFAULT_PROFILES),
        description="Client conventions whose environment variables are written into the containers: "
        + ", ".join(ClientProfile)
        + ".",
        max_length=8,
        json_schema_extra={"x-kubernetes-list-type": "set", "default": [str(p) for p in DEFAULT_PROFILES]},
    )
    containers: list[str] = Field(
        default_factory=list,
        description="Names of the containers to inject into; empty means all app containers.",
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    credentials_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="API key injected as valueFrom.secretKeyRef into each profile's key variable. "
        "ModelRoute never reads Secret data.",
    )


class WorkloadEgress(WireModel):
    restrict: bool = Field(
        default=False,
        description="Generate and own a NetworkPolicy limiting the pods' egress to DNS and the endpoint route.",
    )


class ModelWorkloadSpec(WireModel):
    """Which pods make OpenAI calls, through which endpoint, bought through which channel."""

    model_config = WireModel.model_config | ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.apiMode) && self.apiMode == 'Stateful') || has(self.endpointRef)",
                    "message": "endpointRef is required when apiMode is Stateless",
                }
            ]
        }
    )

    selector: LabelSelector = Field(description="Pods in the same namespace that this workload covers.")
    endpoint_ref: EndpointRef | None = Field(
        default=None, description="The AzureEndpoint to route through; required when apiMode is Stateless."
    )
    api_mode: ApiMode = Field(
        default=ApiMode.STATELESS, description="What kind of OpenAI API traffic the workload makes."
    )
    deployment: str | None = Field(
        default=None, description="The Azure deployment it calls; must be allowed by the endpoint.", max_length=64
    )
    procurement: Procurement = Field(description="Where the model access was bought, for auditors.")
    inject: Inject = Field(
        default_factory=Inject,
        description="What to write into the pods' containers.",
        json_schema_extra={"default": {}},
    )
    egress: WorkloadEgress = Field(
        default_factory=WorkloadEgress,
        description="Egress restriction for the covered pods.",
        json_schema_extra={"default": {}},
    )

    @model_validator(mode="after")
    def _stateless_needs_endpoint(self) -> ModelWorkloadSpec:
        if self.api_mode is ApiMode.STATELESS and self.endpoint_ref is None:
            raise ValueError("endpointRef is required when apiMode is Stateless")
        return self


class PodCounts(WireModel):
    matched: int = Field(default=0, ge=0, description="Pods the selector matches.")
    compliant: int = Field(default=0, ge=0, description="Of those, pods the policy finds compliant.")
    violating: int = Field(default=0, ge=0, description="Of those, pods with violations.")


class ModelWorkloadStatus(ReconciledStatus):
    endpoint_host: str | None = Field(default=None, description="host:port of the endpoint in use.")
    pods: PodCounts | None = Field(default=None, description="Counts from the background audit.")


class ModelWorkload(_Resource):
    """A model-backed workload: which pods, which endpoint, which procurement channel."""

    PLURAL: ClassVar[str] = "modelworkloads"
    SCOPE: ClassVar[str] = "Namespaced"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("mw",)
    PRINTER_COLUMNS: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Channel", "type": "string", "jsonPath": ".spec.procurement.channel"},
        {"name": "Endpoint", "type": "string", "jsonPath": ".spec.endpointRef.name"},
        {"name": "Mode", "type": "string", "jsonPath": ".spec.apiMode"},
        {"name": "Ready", "type": "string", "jsonPath": _READY},
        {"name": "Pods", "type": "integer", "jsonPath": ".status.pods.matched"},
        {"name": "Violating", "type": "integer", "jsonPath": ".status.pods.violating"},
        _REASON,
        _AGE,
    )
    api_version: Literal["modelroute.io/v1alpha1"] = "modelroute.io/v1alpha1"
    kind: Literal["ModelWorkload"] = "ModelWorkload"
    metadata: ObjectMeta
    spec: ModelWorkloadSpec
    status: ModelWorkloadStatus | None = None


# ---------------------------------------------------------------------------------------------
# RoutePolicy


class RoutePolicySpec(WireModel):
    """How strictly routes are enforced, and in which namespaces."""

    enforcement: Enforcement = Field(
        default=Enforcement.ENFORCE,
        description="Enforce denies violating pods; Warn admits them with admission warnings; "
        "Audit admits silently and only records.",
    )
    namespace_selector: LabelSelector | None = Field(
        default=None, description="Namespaces this policy governs; empty means all."
    )
    excluded_namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces never governed. kube-system, kube-public, kube-node-lease and the "
        "operator's own namespace are always excluded.",
        max_length=256,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    unmanaged: UnmanagedAction = Field(
        default=UnmanagedAction.DENY,
        description="Pods configured for OpenAI traffic but covered by no ModelWorkload: Deny, Warn or "
        "Allow. Deny is still softened by Warn or Audit enforcement.",
    )
    rewrite: bool = Field(
        default=False,
        description="For covered pods, rewrite non-approved endpoint settings to the approved route "
        "instead of denying.",
    )
    stateful_direct: StatefulDirect = Field(
        default=StatefulDirect.ALLOW,
        description="Whether Stateful workloads may reach OpenAI-operated hosts without an approved endpoint.",
    )


class RoutePolicyStatus(ReconciledStatus):
    governed_namespaces: int = Field(default=0, ge=0, description="Namespaces this policy currently governs.")


class RoutePolicy(_Resource):
    """How strictly ModelRoute enforces approved routes, and in which namespaces."""

    PLURAL: ClassVar[str] = "routepolicies"
    SCOPE: ClassVar[str] = "Cluster"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("rp",)
    PRINTER_COLUMNS: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Enforcement", "type": "string", "jsonPath": ".spec.enforcement"},
        {"name": "Unmanaged", "type": "string", "jsonPath": ".spec.unmanaged"},
        {"name": "Rewrite", "type": "boolean", "jsonPath": ".spec.rewrite"},
        {"name": "StatefulDirect", "type": "string", "jsonPath": ".spec.statefulDirect", "priority": 1},
        {"name": "Namespaces", "type": "integer", "jsonPath": ".status.governedNamespaces"},
        _AGE,
    )
    api_version: Literal["modelroute.io/v1alpha1"] = "modelroute.io/v1alpha1"
    kind: Literal["RoutePolicy"] = "RoutePolicy"
    metadata: ObjectMeta
    spec: RoutePolicySpec = Field(default_factory=RoutePolicySpec)
    status: RoutePolicyStatus | None = None
