"""What OpenAI clients read from their environment (docs/clients.md lists them, per client).

Everything the engine knows about client conventions lives in this one table, so adding a client
is a data change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from modelroute.api.v1alpha1 import ClientProfile
from modelroute.memo import memo


class Route(Enum):
    """How an endpoint variable's value names the host a client will call."""

    URL = "url"  # a URL
    URL_LIST = "url-list"  # URLs separated by ';' (Open WebUI)
    AZURE_INSTANCE = "instance"  # an Azure OpenAI resource name: {name}.openai.azure.com


@dataclass(frozen=True, slots=True)
class EndpointVariable:
    name: str
    route: Route


ENDPOINT_VARIABLES: dict[str, EndpointVariable] = {
    v.name: v
    for v in (
        EndpointVariable("OPENAI_BASE_URL", Route.URL),
        EndpointVariable("OPENAI_API_BASE", Route.URL),
        EndpointVariable("OPENAI_API_BASE_URL", Route.URL),
        EndpointVariable("OPENAI_API_BASE_URLS", Route.URL_LIST),
        EndpointVariable("OPENAI_REVERSE_PROXY", Route.URL),
        EndpointVariable("AZURE_OPENAI_ENDPOINT", Route.URL),
        EndpointVariable("AZURE_OPENAI_BASE_URL", Route.URL),
        EndpointVariable("AZURE_OPENAI_BASEURL", Route.URL),
        EndpointVariable("AZURE_OPENAI_BASE_PATH", Route.URL),
        EndpointVariable("AZURE_API_BASE", Route.URL),
        EndpointVariable("AZURE_OPENAI_API_INSTANCE_NAME", Route.AZURE_INSTANCE),
        EndpointVariable("AZURE_RESOURCE_NAME", Route.AZURE_INSTANCE),  # @ai-sdk/azure
        EndpointVariable("AWS_BEDROCK_BASE_URL", Route.URL),
    )
}

# Any other setting whose name, reduced by `canonical_name`, mentions OPENAI and ends like this is
# judged as a URL: Spring Boot's relaxed binding (SPRING_AI_OPENAI_BASE_URL, SPRING_AI_OPENAI_BASEURL,
# spring_ai_openai_chat_base_url, -Dspring.ai.openai.base-url, -Dspring.ai.openai.baseUrl ...),
# openai-java's openai.baseUrl system property, and one-off conventions of other frameworks.
_URL_NAME_ENDINGS = ("BASEURL", "BASEURLS", "ENDPOINT", "APIBASE", "BASEPATH")


@memo(8192)
def canonical_name(name: str) -> str:
    """A setting name the way relaxed binders compare them: upper case, without '.', '_' and '-'."""
    return name.upper().replace("_", "").replace("-", "").replace(".", "")


@memo(4096)
def endpoint_variable(name: str) -> EndpointVariable | None:
    """The endpoint setting `name` is, whether an environment variable or a JVM/Spring property."""
    known = ENDPOINT_VARIABLES.get(name)
    if known is not None:
        return known
    canonical = canonical_name(name)
    if "OPENAI" in canonical and canonical.endswith(_URL_NAME_ENDINGS):
        return EndpointVariable(name, Route.URL)
    return None


#: Variables from which a JVM takes options, and so `-Dname=value` system properties: the JVM itself
#: reads JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS (the `java` launcher) and _JAVA_OPTIONS; JAVA_OPTS is
#: the convention of most start scripts. openai-java reads `openai.baseUrl` before OPENAI_BASE_URL.
JVM_OPTION_VARIABLES = frozenset({"JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS", "JAVA_OPTS"})
#: Spring Boot reads a JSON object of properties from this variable (or the spring.application.json property).
SPRING_JSON_VARIABLE = "SPRING_APPLICATION_JSON"
SPRING_JSON_PROPERTY = "spring.application.json"
#: Settings that carry other settings: their values are parsed for properties, and a value ModelRoute
#: cannot see may set any endpoint.
PROPERTY_CARRIERS = JVM_OPTION_VARIABLES | {SPRING_JSON_VARIABLE}

#: The one variable the OpenAI SDKs read for their base URL; without it they call https://api.openai.com/v1.
OPENAI_BASE_URL = "OPENAI_BASE_URL"

OPENAI_CREDENTIALS = frozenset({"OPENAI_API_KEY", "OPENAI_API_KEYS"})
AZURE_CREDENTIALS = frozenset({"AZURE_OPENAI_API_KEY", "AZURE_API_KEY", "AZURE_OPENAI_AD_TOKEN", "AZURE_AD_TOKEN"})
BEDROCK_CREDENTIALS = frozenset({"AWS_BEARER_TOKEN_BEDROCK"})
CREDENTIALS = OPENAI_CREDENTIALS | AZURE_CREDENTIALS | BEDROCK_CREDENTIALS


@dataclass(frozen=True, slots=True)
class DefaultRoute:
    """A client that calls `url` when one of `credentials` is set and none of `bases` is."""

    client: str
    credentials: tuple[str, ...]  # in the order a message names the first one present
    bases: frozenset[str]
    url: str
    relaxed: bool = False  # names compared by canonical_name (Spring Boot's relaxed binding)
    base_names: tuple[str, ...] = ()  # for messages


OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: Keys whose client goes to OpenAI itself unless its base setting is set. openai-python, -node and
#: -go read OPENAI_BASE_URL only; openai-java reads its system property `openai.baseUrl` first;
#: Spring AI's OpenAI starter `spring.ai.openai.base-url` (default https://api.openai.com); Spring
#: AI's Azure starter sends `spring.ai.azure.openai.openai-api-key` to OpenAI whatever its endpoint.
DEFAULT_ROUTES = (
    DefaultRoute("the OpenAI SDKs", ("OPENAI_API_KEY", "OPENAI_API_KEYS"),
                 frozenset({OPENAI_BASE_URL}), OPENAI_DEFAULT_BASE_URL, base_names=(OPENAI_BASE_URL,)),
    DefaultRoute("openai-java", ("openai.apiKey",), frozenset({OPENAI_BASE_URL, "openai.baseUrl"}),
                 OPENAI_DEFAULT_BASE_URL, base_names=("openai.baseUrl", OPENAI_BASE_URL)),
    DefaultRoute("Spring AI", ("SPRINGAIOPENAIAPIKEY",), frozenset({"SPRINGAIOPENAIBASEURL"}),
                 "https://api.openai.com", relaxed=True, base_names=("spring.ai.openai.base-url",)),
    DefaultRoute("Spring AI's Azure OpenAI starter", ("SPRINGAIAZUREOPENAIOPENAIAPIKEY",), frozenset(),
                 "https://api.openai.com", relaxed=True),
)  # fmt: skip
_DEFAULT_ROUTE_KEYS = frozenset(canonical_name(name) for route in DEFAULT_ROUTES for name in route.credentials)
#: Canonical names of keys that mark a container as configured for OpenAI traffic.
CREDENTIAL_NAMES = (
    frozenset(canonical_name(n) for n in CREDENTIALS)
    | _DEFAULT_ROUTE_KEYS
    | frozenset({"SPRINGAIAZUREOPENAIAPIKEY", "OPENAIADMINKEY"})
)

API_TYPE_VARIABLE = "OPENAI_API_TYPE"
#: Settings that choose the provider, and so where a key goes: never to be taken on trust.
PROVIDER_SELECTORS = frozenset({API_TYPE_VARIABLE})
BEDROCK_API_TYPES = frozenset({"amazon-bedrock", "bedrock"})


@dataclass(frozen=True, slots=True)
class RouteValues:
    """The values an approved endpoint gives each kind of client setting."""

    openai_base_url: str  # for OpenAI-style clients: the v1 API root
    azure_endpoint: str  # for Azure clients: the resource root they append /openai/... to
    api_version: str | None
    instance_name: str | None  # when the host is {name}.openai.azure.com


ValueOf = Callable[[RouteValues], str | None]


def _openai_base(r: RouteValues) -> str:
    return r.openai_base_url


def _azure_endpoint(r: RouteValues) -> str:
    return r.azure_endpoint


def _azure_base_path(r: RouteValues) -> str:
    return r.azure_endpoint + "/openai/deployments"


def _spring_openai_base(r: RouteValues) -> str:
    # Spring AI appends /v1/chat/completions to its base URL
    return r.openai_base_url.removesuffix("/v1")


def _api_version(r: RouteValues) -> str | None:
    return r.api_version


def _instance_name(r: RouteValues) -> str | None:
    return r.instance_name


#: The endpoint and key settings of Aspire's OpenAI clients (`Aspire:OpenAI:*`, `Aspire:Azure:AI:OpenAI:*`),
#: used when the connection string has no Endpoint (engine.aspire), and the sections .NET apps
#: bind by convention (`OpenAI:*`, `AzureOpenAI:*`); `__` is `:` to .NET's environment configuration provider.
ASPIRE_OPENAI_ENDPOINT = "Aspire__OpenAI__Endpoint"
ASPIRE_AZURE_OPENAI_ENDPOINT = "Aspire__Azure__AI__OpenAI__Endpoint"
ASPIRE_OPENAI_KEY = "Aspire__OpenAI__Key"
ASPIRE_AZURE_OPENAI_KEY = "Aspire__Azure__AI__OpenAI__Key"
DOTNET_OPENAI_ENDPOINT = "OpenAI__Endpoint"
DOTNET_AZURE_OPENAI_ENDPOINT = "AzureOpenAI__Endpoint"

#: The approved value of each endpoint setting ModelRoute can write or rewrite.
APPROVED_VALUE: dict[str, ValueOf] = {
    "OPENAI_BASE_URL": _openai_base,
    "OPENAI_API_BASE": _openai_base,
    "OPENAI_API_BASE_URL": _openai_base,
    "OPENAI_API_BASE_URLS": _openai_base,
    "OPENAI_REVERSE_PROXY": _openai_base,
    "AZURE_OPENAI_ENDPOINT": _azure_endpoint,
    "AZURE_OPENAI_BASE_URL": _openai_base,
    "AZURE_OPENAI_BASEURL": _azure_endpoint,
    "AZURE_OPENAI_BASE_PATH": _azure_base_path,
    "AZURE_API_BASE": _azure_endpoint,
    "AZURE_OPENAI_API_INSTANCE_NAME": _instance_name,
    "AZURE_RESOURCE_NAME": _instance_name,
    "SPRING_AI_OPENAI_BASE_URL": _spring_openai_base,
    "SPRING_AI_OPENAI_BASEURL": _spring_openai_base,
    "SPRING_AI_AZURE_OPENAI_ENDPOINT": _azure_endpoint,
    # .NET configuration keys (Section:Key); Aspire.OpenAI builds an OpenAIClient, Aspire.Azure.AI.OpenAI an
    # AzureOpenAIClient on the resource root
    ASPIRE_OPENAI_ENDPOINT: _openai_base,
    ASPIRE_AZURE_OPENAI_ENDPOINT: _azure_endpoint,
    DOTNET_OPENAI_ENDPOINT: _openai_base,
    DOTNET_AZURE_OPENAI_ENDPOINT: _azure_endpoint,
    "OPENAI_API_VERSION": _api_version,
    "AZURE_API_VERSION": _api_version,
    "AZURE_OPENAI_API_VERSION": _api_version,
}


@dataclass(frozen=True, slots=True)
class ProfileRecipe:
    settings: tuple[str, ...]  # variables written from the approved route
    credentials: tuple[str, ...]  # variables that receive credentialsSecretRef
    azure_only: bool = False  # meaningless for an endpoint of type OpenAI
    azure_settings: tuple[str, ...] = ()  # written too, except for an endpoint of type OpenAI
    connection_strings: bool = False  # writes the Endpoint of the container's OpenAI connection strings


PROFILES: dict[ClientProfile, ProfileRecipe] = {
    ClientProfile.OPENAI: ProfileRecipe(("OPENAI_BASE_URL",), ("OPENAI_API_KEY",)),
    ClientProfile.AZURE_OPENAI: ProfileRecipe(
        ("AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"), ("AZURE_OPENAI_API_KEY",), azure_only=True
    ),
    ClientProfile.LANGCHAIN: ProfileRecipe(
        ("OPENAI_API_BASE", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"),
        ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"),
    ),
    ClientProfile.LITELLM: ProfileRecipe(
        ("AZURE_API_BASE", "AZURE_API_VERSION", "OPENAI_BASE_URL"), ("AZURE_API_KEY", "OPENAI_API_KEY")
    ),
    ClientProfile.LLAMA_INDEX: ProfileRecipe(
        ("OPENAI_API_BASE", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"),
        ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"),
    ),
    ClientProfile.SEMANTIC_KERNEL: ProfileRecipe(
        ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_VERSION"), ("AZURE_OPENAI_API_KEY",), azure_only=True
    ),
    ClientProfile.OPEN_WEBUI: ProfileRecipe(("OPENAI_API_BASE_URL", "OPENAI_BASE_URL"), ("OPENAI_API_KEY",)),
    # Spring Boot binds SPRING_AI_OPENAI_BASEURL before SPRING_AI_OPENAI_BASE_URL: both are written
    ClientProfile.SPRING_AI: ProfileRecipe(
        ("SPRING_AI_OPENAI_BASEURL", "SPRING_AI_OPENAI_BASE_URL"), ("SPRING_AI_OPENAI_API_KEY",)
    ),
    ClientProfile.SPRING_AI_AZURE_OPENAI: ProfileRecipe(
        ("SPRING_AI_AZURE_OPENAI_ENDPOINT",), ("SPRING_AI_AZURE_OPENAI_API_KEY",), azure_only=True
    ),
    # @ai-sdk/openai reads OPENAI_BASE_URL; @ai-sdk/azure builds https://{AZURE_RESOURCE_NAME}.openai.azure.com
    ClientProfile.VERCEL_AI: ProfileRecipe(
        ("OPENAI_BASE_URL", "AZURE_RESOURCE_NAME"), ("OPENAI_API_KEY", "AZURE_API_KEY")
    ),
    # Aspire's OpenAI clients read ConnectionStrings:<name> first, then Aspire:OpenAI[:<name>]:Endpoint
    ClientProfile.ASPIRE: ProfileRecipe(
        (ASPIRE_OPENAI_ENDPOINT,),
        (ASPIRE_OPENAI_KEY, ASPIRE_AZURE_OPENAI_KEY),
        azure_settings=(ASPIRE_AZURE_OPENAI_ENDPOINT,),
        connection_strings=True,
    ),
    # the sections .NET apps and samples bind by convention: OpenAI:Endpoint, AzureOpenAI:Endpoint
    ClientProfile.DOTNET_CONFIGURATION: ProfileRecipe(
        (DOTNET_OPENAI_ENDPOINT,),
        ("OpenAI__ApiKey", "AzureOpenAI__ApiKey"),
        azure_settings=(DOTNET_AZURE_OPENAI_ENDPOINT,),
    ),
}

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "NODE_USE_ENV_PROXY")
DEFAULT_NO_PROXY = "localhost,127.0.0.1,.svc,.cluster.local"
