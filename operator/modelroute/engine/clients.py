"""What OpenAI clients read from their environment (the README lists them, per client).

Everything the engine knows about client conventions lives in this one table, so adding a client
is a data change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from modelroute.api.v1alpha1 import ClientProfile


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
        EndpointVariable("AWS_BEDROCK_BASE_URL", Route.URL),
    )
}

#: The one variable the OpenAI SDKs read for their base URL; without it they call https://api.openai.com/v1.
OPENAI_BASE_URL = "OPENAI_BASE_URL"

OPENAI_CREDENTIALS = frozenset({"OPENAI_API_KEY", "OPENAI_API_KEYS"})
AZURE_CREDENTIALS = frozenset({"AZURE_OPENAI_API_KEY", "AZURE_API_KEY", "AZURE_OPENAI_AD_TOKEN", "AZURE_AD_TOKEN"})
BEDROCK_CREDENTIALS = frozenset({"AWS_BEARER_TOKEN_BEDROCK"})
CREDENTIALS = OPENAI_CREDENTIALS | AZURE_CREDENTIALS | BEDROCK_CREDENTIALS

API_TYPE_VARIABLE = "OPENAI_API_TYPE"
BEDROCK_API_TYPES = frozenset({"amazon-bedrock", "bedrock"})
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


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


def _api_version(r: RouteValues) -> str | None:
    return r.api_version


def _instance_name(r: RouteValues) -> str | None:
    return r.instance_name


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
    "OPENAI_API_VERSION": _api_version,
    "AZURE_API_VERSION": _api_version,
    "AZURE_OPENAI_API_VERSION": _api_version,
}


@dataclass(frozen=True, slots=True)
class ProfileRecipe:
    settings: tuple[str, ...]  # variables written from the approved route
    credentials: tuple[str, ...]  # variables that receive credentialsSecretRef
    azure_only: bool = False  # meaningless for an endpoint of type OpenAI


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
}

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "NODE_USE_ENV_PROXY")
DEFAULT_NO_PROXY = "localhost,127.0.0.1,.svc,.cluster.local"
