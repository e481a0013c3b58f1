"""A violation from a mounted file says what to change, and every hint in it is true for this pod: an
indirection names only a variable the workload's inject.profiles write (or says which profile would),
a pod no workload covers is told which URL to set (nothing is injected into it), an API key is never
told to become an endpoint, and a value that is no mounted file is not called one."""

from __future__ import annotations

from typing import Any

import pytest
from builders import codes, container, context, judge, pod, workload

OPENAI = "https://api.openai.com/v1"
LITELLM = f"model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {OPENAI}\n"


def mounted(name: str, text: str, path: str = "/app", **fields: Any) -> tuple[dict[str, Any], Any]:
    app = container(volumeMounts=[{"name": "conf", "mountPath": path}], workingDir="/app", **fields)
    return pod(app, volumes=[{"name": "conf", "configMap": {"name": "c"}}]), {("apps", "c"): {name: text}}


def messages(obj: dict[str, Any], config_maps: Any, profiles: list[str] | None = None, app: str = "chat") -> str:
    obj["metadata"]["labels"]["app"] = app
    inject = {"inject": {"profiles": profiles}} if profiles is not None else {}
    decision = judge(obj, context(config_maps=config_maps, workloads=[workload(**inject)]))
    assert codes(decision), "expected a violation"
    return "\n".join(v.message for v in decision.violations)


def compliant(obj: dict[str, Any], config_maps: Any, profiles: list[str]) -> bool:
    decision = judge(obj, context(config_maps=config_maps, workloads=[workload(inject={"profiles": profiles})]))
    return codes(decision) == []


def litellm_pod() -> tuple[dict[str, Any], Any]:
    return mounted("config.yaml", LITELLM, args=["--config", "/app/config.yaml"])


# -- indirections name what the workload injects ------------------------------------------------------


def test_litellm_is_offered_the_variable_the_default_profiles_write() -> None:
    text = messages(*litellm_pod())
    assert "os.environ/OPENAI_BASE_URL so that the injected environment supplies it" in text
    assert "AZURE_API_BASE" not in text  # the default profiles (OpenAI, AzureOpenAI) do not write it
    followed = LITELLM.replace(OPENAI, "os.environ/OPENAI_BASE_URL")
    assert compliant(
        *mounted("config.yaml", followed, args=["--config", "/app/config.yaml"]), ["OpenAI", "AzureOpenAI"]
    )


def test_litellm_is_offered_azure_api_base_when_the_litellm_profile_writes_it() -> None:
    text = messages(*litellm_pod(), profiles=["LiteLLM"])
    assert "os.environ/AZURE_API_BASE so that the injected environment supplies it" in text


def test_litellm_without_a_profile_that_writes_its_variables_is_told_which_profile_would() -> None:
    text = messages(*litellm_pod(), profiles=["SpringAI"])
    assert "os.environ/AZURE_API_BASE and add LiteLLM to the ModelWorkload's inject.profiles" in text
    assert "injected environment supplies" not in text


def test_a_spring_placeholder_is_offered_with_the_profile_that_fills_it_and_that_is_true() -> None:
    per_model = f"spring.ai.openai.chat.base-url={OPENAI}\n"  # wins over the shared base-url the profile writes
    assert "${SPRING_AI_OPENAI_BASE_URL} and add SpringAI to the ModelWorkload's inject.profiles" in messages(
        *mounted("application.properties", per_model)
    )
    assert "${SPRING_AI_OPENAI_BASE_URL}, which the injected environment fills in" in messages(
        *mounted("application.properties", per_model), profiles=["SpringAI"]
    )
    followed = "spring.ai.openai.chat.base-url=${SPRING_AI_OPENAI_BASE_URL}\n"
    assert compliant(*mounted("application.properties", followed), profiles=["SpringAI"])


@pytest.mark.parametrize(
    ("name", "text", "hint", "profile"),
    [
        ("appsettings.json", f'{{"AzureOpenAI": {{"Endpoint": "{OPENAI}"}}}}',
         "add DotNetConfiguration to the ModelWorkload's inject.profiles: the AzureOpenAI__Endpoint it writes "
         "overrides the file", "DotNetConfiguration"),
        (".env", f"OPENAI_API_BASE={OPENAI}\n",
         "add LangChain to the ModelWorkload's inject.profiles: the OPENAI_API_BASE it writes overrides the file",
         "LangChain"),
    ],
    ids=["dotnet", "dotenv"],
)  # fmt: skip
def test_a_key_the_environment_overrides_is_told_which_profile_writes_it_and_that_is_true(
    name: str, text: str, hint: str, profile: str
) -> None:
    assert hint in messages(*mounted(name, text))
    assert compliant(*mounted(name, text), profiles=["OpenAI", "AzureOpenAI", profile])


# -- a pod no workload covers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("config.yaml", LITELLM),
        ("application.properties", f"spring.ai.openai.base-url={OPENAI}\n"),
        ("appsettings.json", f'{{"OpenAI": {{"Endpoint": "{OPENAI}"}}}}'),
        (".env", f"OPENAI_BASE_URL={OPENAI}\n"),
    ],
    ids=["litellm", "spring", "dotnet", "dotenv"],
)
def test_an_unmanaged_pod_is_told_to_set_an_approved_url_not_offered_injection(name: str, text: str) -> None:
    found = messages(*mounted(name, text, args=["--config", "/app/config.yaml"]), app="web")
    assert "to the URL of an approved endpoint" in found
    assert "inject" not in found


# -- the hint fits the key and the place ---------------------------------------------------------------


def test_an_api_key_without_a_base_url_is_told_to_add_one_not_to_become_an_endpoint() -> None:
    text = messages(*mounted("application.properties", "spring.ai.openai.api-key=sk-x\n"))
    assert "set spring.ai.openai.api-key" not in text
    assert "sets spring.ai.openai.api-key but no base URL; add one set to the approved endpoint" in text


def test_an_oai_config_list_variable_is_not_called_a_mounted_file() -> None:
    config = f'[{{"model": "gpt-4o", "base_url": "{OPENAI}"}}]'
    decision = judge(pod(container(env={"OAI_CONFIG_LIST": config})), context())
    text = "\n".join(v.message for v in decision.violations)
    assert "EndpointNotApproved" in codes(decision)
    assert "mounted file" not in text


def test_a_litellm_environment_variables_url_is_judged_as_the_url_the_file_sets() -> None:
    config = (
        f"environment_variables:\n  OPENAI_BASE_URL: {OPENAI}\n"
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: gpt-4o\n"
    )
    obj, config_maps = mounted("proxy.yml", config, args=["-c", "/app/proxy.yml"])
    decision = judge(obj, context(config_maps=config_maps))
    assert codes(decision) == ["EndpointNotApproved"]
    text = decision.violations[0].message
    assert "names no base URL" not in text
    assert "from environment_variables.OPENAI_BASE_URL -> https://api.openai.com/v1" in text
    assert "set environment_variables.OPENAI_BASE_URL in ConfigMap apps/c key 'proxy.yml'" in text
    assert "delete it so that the injected OPENAI_BASE_URL applies" in text
    followed = config.replace(f"environment_variables:\n  OPENAI_BASE_URL: {OPENAI}\n", "")
    assert compliant(*mounted("proxy.yml", followed, args=["-c", "/app/proxy.yml"]), ["OpenAI", "AzureOpenAI"])


def test_a_hidden_spring_placeholder_is_shown_as_written_in_the_file() -> None:
    app = container(
        env=None,
        volumeMounts=[{"name": "conf", "mountPath": "/app"}],
        workingDir="/app",
    )
    app["env"] = [{"name": "UPSTREAM", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    obj = pod(app, volumes=[{"name": "conf", "configMap": {"name": "c"}}])
    config_maps = {("apps", "c"): {"application.properties": "spring.ai.openai.chat.base-url=${UPSTREAM}/v1\n"}}
    decision = judge(obj, context(config_maps=config_maps))
    text = "\n".join(v.message for v in decision.violations)
    assert "depends on ${UPSTREAM}, whose value ModelRoute cannot see" in text
    assert "$(UPSTREAM)" not in text


def test_a_profile_variable_is_named_as_the_profile_writes_it_whatever_the_files_case() -> None:
    text = messages(*mounted("appsettings.json", f'{{"openai": {{"endpoint": "{OPENAI}"}}}}'))
    assert "add DotNetConfiguration to the ModelWorkload's inject.profiles: the OpenAI__Endpoint it writes" in text
