"""What to change when a client's configuration file routes elsewhere: the mutation writes env
variables, never a file, so a violation from a file says what to edit in it.

A remedy is known where the file is read; its words depend on the pod's ModelWorkload, known only at
judgement: an indirection (LiteLLM `os.environ/VAR`, a Spring `${VAR}` placeholder, a .NET key left
to the environment) is offered only with a variable the workload's inject.profiles write, and an
unmanaged pod, into which nothing is injected, is told which kind of URL to set instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from modelroute.api.v1alpha1 import ClientProfile
from modelroute.engine.aspire import ENDPOINT as _ENDPOINT
from modelroute.engine.clients import PROFILES

#: Which profile writes a variable (the first that does) and how it spells it, for "add it to
#: inject.profiles" hints; keyed upper-cased, as .NET and Spring match names whatever their case.
_WRITER: dict[str, tuple[ClientProfile, str]] = {}
for _profile, _recipe in PROFILES.items():
    for _name in (*_recipe.settings, *_recipe.azure_settings):
        _WRITER.setdefault(_name.upper(), (_profile, _name))

_LITELLM_VARIABLES = ("AZURE_API_BASE", "OPENAI_BASE_URL")
_SPRING_VARIABLES = ("SPRING_AI_OPENAI_BASE_URL", "SPRING_AI_AZURE_OPENAI_ENDPOINT")


def written_by(profiles: list[ClientProfile]) -> frozenset[str]:
    """The variables (upper-cased) a workload's inject.profiles write from the approved route."""
    return frozenset(
        name.upper()
        for profile in profiles
        for name in (*PROFILES[profile].settings, *PROFILES[profile].azure_settings)
    )


@dataclass(frozen=True, slots=True)
class Remedy:
    key: str  # the key inside the file: "OPENAI_BASE_URL", "spring.ai.openai.base-url", "AzureOpenAI:Endpoint"
    where: str  # "ConfigMap apps/c key 'application.yml'", or the env variable that holds the text
    style: str  # the file's format or client: "dotenv", "properties", "yaml", "appsettings", "litellm", ...
    mounted: bool = True  # False: the text is an env value (OAI_CONFIG_LIST as JSON), not a mounted file
    credential: bool = False  # the key is an API key with no base URL beside it
    also: str = ""  # a further way out, after the change: "stop sourcing it: ..."
    #: the whole advice where no key of a file can be changed (a client run with no file), `{url}` standing
    #: for the approved endpoint
    advice: str = ""

    @classmethod
    def instead(cls, advice: str) -> Remedy:
        """A remedy that is only advice: `{url}` in it is the approved endpoint (or, for a pod no workload
        covers, the URL of an approved endpoint)."""
        return cls("", "", "", advice=advice)

    def without_base_url(self) -> Remedy:
        """The remedy for a key whose file names no base URL: add one, the key itself is right."""
        return replace(self, credential=True)

    def text(self, written: frozenset[str] | None) -> str:
        """`written`: the variables the pod's workload injects; None for a pod no workload covers."""
        url = "the approved endpoint" if written is not None else "the URL of an approved endpoint"
        if self.advice:
            return self.advice.format(url=url)
        cannot = "ModelRoute cannot change a mounted file" if self.mounted else "ModelRoute does not rewrite this value"
        if self.credential:
            return f"{cannot}: {self.where} sets {self.key} but no base URL; add one set to {url}"
        what = self.key
        if self.style == "appsettings" and self.key.lower().startswith("connectionstrings:"):
            what = f"the {_ENDPOINT} of {self.key}"  # a connection string: Endpoint=...;Key=...
        change = f"{cannot}: set {what} in {self.where} to {url}"
        also = f", or {self.also}" if self.also else ""
        return change + (self._indirection(written) if written is not None else "") + also

    def _indirection(self, written: frozenset[str]) -> str:
        if self.style == "dotenv":
            return _override(self.key, written)
        if self.style in ("properties", "yaml"):
            wanted = _SPRING_VARIABLES[1] if "azure" in self.key.lower() else _SPRING_VARIABLES[0]
            return _offer(
                f"make it the placeholder ${{{wanted}}}", ", which the injected environment fills in", wanted, written
            )
        if self.style == "appsettings":
            if self.key.lower().startswith("connectionstrings:"):
                return ""  # the Aspire profile writes a connection string's Endpoint into env, never into the file
            return _override(self.key.replace(":", "__"), written)
        if self.style == "env":  # a key that writes an environment variable: LiteLLM environment_variables.X
            variable = self.key.rsplit(".", 1)[-1]
            return _offer("delete it", f" so that the injected {variable} applies", variable, written)
        if self.style == "litellm":
            chosen = next((v for v in _LITELLM_VARIABLES if v in written), _LITELLM_VARIABLES[0])
            return _offer(
                f"write os.environ/{chosen}", " so that the injected environment supplies it", chosen, written
            )
        return ""


_PROFILES = "the ModelWorkload's inject.profiles"


def _offer(fix: str, effect: str, variable: str, written: frozenset[str]) -> str:
    """An indirection through `variable`: offered as it is when the workload writes it, else with the
    profile that would; not at all when no profile writes it."""
    return _through(
        variable,
        written,
        f", or {fix}{effect}",
        lambda profile, writes: f", or {fix} and add {profile} to {_PROFILES}, which writes {writes}",
    )


def _override(variable: str, written: frozenset[str]) -> str:
    """A file key the environment overrides (dotenv, .NET): the profile that writes `variable` fixes it."""
    return _through(
        variable,
        written,
        f", or delete it so that the injected {variable} applies",
        lambda profile, writes: f", or add {profile} to {_PROFILES}: the {writes} it writes overrides the file",
    )


def _through(variable: str, written: frozenset[str], if_written: str, if_not: Callable[[str, str], str]) -> str:
    """`if_written` when the workload writes `variable`; else `if_not(profile, what it writes)` for the
    profile that would write it; nothing when no profile does."""
    if variable.upper() in written:
        return if_written
    writer = _WRITER.get(variable.upper())
    return "" if writer is None else if_not(*writer)
