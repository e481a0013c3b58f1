"""Configuration files mounted from ConfigMaps are read as the clients read them: a covered pod whose
mounted file routes elsewhere is never compliant, and a file ModelRoute cannot read is reported."""

from __future__ import annotations

from typing import Any

import pytest
from builders import APPROVED_URL, codes, container, context, judge, pod, workload
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelroute.engine import configfiles
from modelroute.engine.configfiles import Format
from modelroute.engine.detection import TargetKind, inspect_pod_spec
from modelroute.engine.verdict import Code, Outcome

OPENAI = "https://api.openai.com/v1"
APPROVED_V1 = APPROVED_URL + "/openai/v1"

LITELLM_CONFIG = f"""\
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: {OPENAI}
"""


def config_map_volume(name: str, config_map: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "configMap": {"name": config_map, **extra}}


def mount(name: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "mountPath": path, **extra}


def mounted_pod(
    files: dict[str, str],
    mount_path: str,
    *,
    env: dict[str, str] | None = None,
    sub_path: str | None = None,
    **fields: Any,
) -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, str]]]:
    extra = {"subPath": sub_path} if sub_path else {}
    app = container(env=env, volumeMounts=[mount("conf", mount_path, **extra)], **fields)
    return pod(app, volumes=[config_map_volume("conf", "app-config")]), {("apps", "app-config"): files}


def decide(obj: dict[str, Any], config_maps: dict[tuple[str, str], dict[str, str]], **ctx: Any) -> Any:
    return judge(obj, context(config_maps=config_maps, **ctx))


def targets_of(obj: dict[str, Any], config_maps: dict[tuple[str, str], dict[str, str]]) -> list[Any]:
    return [t for f in inspect_pod_spec(obj["spec"], "spec", "apps", config_maps) for t in f.targets]


def file_targets(obj: dict[str, Any], config_maps: dict[tuple[str, str], dict[str, str]]) -> list[Any]:
    """Targets found in mounted files (an env value holding a URL is a target of its own)."""
    return [t for t in targets_of(obj, config_maps) if "volumeMounts" in t.field]


def problems_of(obj: dict[str, Any], config_maps: dict[tuple[str, str], dict[str, str]]) -> list[Any]:
    return [p for f in inspect_pod_spec(obj["spec"], "spec", "apps", config_maps) for p in f.problems]


# -- LiteLLM ---------------------------------------------------------------------------------------


def litellm_pod(text: str, **env: str) -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, str]]]:
    return mounted_pod(
        {"config.yaml": text},
        "/app/config.yaml",
        sub_path="config.yaml",
        env=env or None,
        args=["--config", "/app/config.yaml", "--port", "4000"],
    )


def test_a_litellm_api_base_at_openai_in_a_subpath_mounted_config_denies_a_covered_pod() -> None:
    obj, cms = litellm_pod(LITELLM_CONFIG)
    decision = decide(obj, cms)
    assert not decision.allowed
    assert codes(decision) == ["EndpointNotApproved"]
    (violation,) = decision.violations
    assert violation.field == "spec.containers[0].volumeMounts[0]"
    for part in ("ConfigMap apps/app-config key 'config.yaml'", "/app/config.yaml",
                 "model_list[0].litellm_params.api_base", "https://api.openai.com/v1", "os.environ/"):  # fmt: skip
        assert part in violation.message


def test_a_litellm_config_with_the_approved_api_base_is_compliant() -> None:
    obj, cms = litellm_pod(LITELLM_CONFIG.replace(OPENAI, APPROVED_V1))
    decision = decide(obj, cms)
    assert decision.allowed, decision.violations
    assert decision.outcome is Outcome.COMPLIANT


def test_a_litellm_os_environ_indirection_is_judged_by_the_variable_it_names() -> None:
    text = LITELLM_CONFIG.replace(OPENAI, "os.environ/GATEWAY_BASE")
    obj, cms = litellm_pod(text, GATEWAY_BASE=OPENAI)
    (target,) = file_targets(obj, cms)
    assert target.url.host == "api.openai.com"
    assert target.setting.endswith("from GATEWAY_BASE")
    obj, cms = litellm_pod(text, GATEWAY_BASE=APPROVED_V1)
    assert decide(obj, cms).allowed


def test_a_litellm_os_environ_variable_from_a_secret_is_not_visible() -> None:
    obj, cms = litellm_pod(LITELLM_CONFIG.replace(OPENAI, "os.environ/GATEWAY_BASE"))
    obj["spec"]["containers"][0]["env"] = [
        {"name": "GATEWAY_BASE", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    ]
    assert [p.code for p in problems_of(obj, cms)] == [Code.ENDPOINT_NOT_VISIBLE]


def test_a_litellm_model_with_no_base_falls_back_to_the_env_the_mutation_writes() -> None:
    text = "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n"
    obj, cms = litellm_pod(text)
    (target,) = targets_of(obj, cms)
    assert target.kind is TargetKind.DEFAULT
    decision = decide(obj, cms)  # the OpenAI profile writes OPENAI_BASE_URL, which LiteLLM then reads
    assert decision.allowed, decision.violations


def test_a_litellm_config_named_by_an_argument_but_provided_by_no_volume_is_not_visible() -> None:
    obj = pod(container(args=["--config", "/app/config.yaml"]))
    (problem,) = problems_of(obj, {})
    assert problem.code is Code.ENDPOINT_NOT_VISIBLE
    assert "image" in problem.message


def test_a_litellm_config_from_a_secret_is_not_visible() -> None:
    app = container(args=["--config", "/etc/litellm/config.yaml"], volumeMounts=[mount("s", "/etc/litellm")])
    obj = pod(app, volumes=[{"name": "s", "secret": {"secretName": "litellm"}}])
    (problem,) = problems_of(obj, {})
    assert problem.code is Code.ENDPOINT_NOT_VISIBLE
    assert problem.field == "spec.containers[0].volumeMounts[0]"
    assert "Secret apps/litellm" in problem.message


# -- Spring Boot -----------------------------------------------------------------------------------


def spring_pod(files: dict[str, str], path: str = "/app/config", **env: str) -> Any:
    return mounted_pod(files, path, env=env or None, workingDir="/app")


def test_a_per_model_spring_ai_base_url_in_config_application_properties_is_judged() -> None:
    obj, cms = spring_pod({"application.properties": f"spring.ai.openai.chat.base-url={OPENAI}\n"})
    spring = workload(inject={"profiles": ["SpringAI"]})
    decision = decide(obj, cms, workloads=[spring])
    assert codes(decision) == ["EndpointNotApproved"]
    message = decision.violations[0].message
    assert "spring.ai.openai.chat.base-url in /app/config/application.properties" in message
    assert "${SPRING_AI_OPENAI_BASE_URL}" in message


def test_a_spring_property_the_environment_sets_under_the_same_relaxed_name_is_not_judged() -> None:
    obj, cms = spring_pod(
        {"application.yml": "spring:\n  ai:\n    openai:\n      base-url: https://api.openai.com\n"},
        SPRING_AI_OPENAI_BASE_URL=APPROVED_V1,
    )
    assert [t.url.host for t in targets_of(obj, cms)] == ["contoso-eastus.openai.azure.com"]


def test_every_document_of_a_multi_document_spring_yaml_is_judged_whatever_the_profile() -> None:
    text = (
        f"spring.ai.openai.base-url: {APPROVED_URL}\n---\n"
        "spring.config.activate.on-profile: prod\n"
        f"spring.ai.openai.chat.base-url: {OPENAI}\n"
    )
    obj, cms = spring_pod({"application.yaml": text})
    assert sorted(t.url.host for t in targets_of(obj, cms)) == ["api.openai.com", "contoso-eastus.openai.azure.com"]
    assert any("on-profile prod" in t.setting for t in targets_of(obj, cms))


def test_a_spring_placeholder_resolves_against_the_environment() -> None:
    obj, cms = spring_pod(
        {"application.properties": "spring.ai.openai.chat.base-url=${CHAT_BASE:https://api.openai.com}\n"},
        CHAT_BASE=APPROVED_V1,
    )
    assert [t.url.host for t in file_targets(obj, cms)] == ["contoso-eastus.openai.azure.com"]
    obj, cms = spring_pod(
        {"application.properties": "spring.ai.openai.chat.base-url=${CHAT_BASE:https://api.openai.com}\n"}
    )
    assert [t.url.host for t in file_targets(obj, cms)] == ["api.openai.com"]


def test_a_spring_api_key_in_a_file_with_no_base_url_means_api_openai_com() -> None:
    obj, cms = spring_pod({"application.properties": "spring.ai.openai.api-key=sk-test\n"})
    (target,) = targets_of(obj, cms)
    assert target.kind is TargetKind.DEFAULT
    assert "spring.ai.openai.api-key in /app/config/application.properties" in target.setting


def test_a_configtree_import_reads_each_file_name_as_a_property() -> None:
    app = container(
        env={"SPRING_CONFIG_IMPORT": "optional:configtree:/etc/config/"},
        volumeMounts=[mount("tree", "/etc/config")],
    )
    obj = pod(app, volumes=[config_map_volume("tree", "tree")])
    cms = {("apps", "tree"): {"spring.ai.openai.chat.base-url": OPENAI + "\n"}}
    (target,) = targets_of(obj, cms)
    assert target.url is not None
    assert target.url.host == "api.openai.com"
    assert target.field == "spec.containers[0].volumeMounts[0]"


def test_spring_config_location_names_a_file_of_any_name() -> None:
    obj, cms = mounted_pod(
        {"custom.yml": f"spring.ai.openai.base-url: {OPENAI}\n"},
        "/etc/app",
        env={"SPRING_CONFIG_LOCATION": "file:/etc/app/custom.yml"},
    )
    assert [t.url.host for t in targets_of(obj, cms)] == ["api.openai.com"]


def test_a_spring_config_location_the_image_holds_is_not_visible_unless_optional() -> None:
    obj = pod(container(env={"SPRING_CONFIG_LOCATION": "/opt/app/extra.properties"}))
    assert [p.code for p in problems_of(obj, {})] == [Code.ENDPOINT_NOT_VISIBLE]
    obj = pod(container(env={"SPRING_CONFIG_LOCATION": "optional:/opt/app/extra.properties"}))
    assert problems_of(obj, {}) == []


# -- dotenv ----------------------------------------------------------------------------------------


def test_a_dotenv_file_in_the_working_directory_is_read_as_env() -> None:
    obj, cms = mounted_pod({".env": f"OPENAI_API_BASE={OPENAI}\n"}, "/app/.env", sub_path=".env", workingDir="/app")
    langchain = workload(inject={"profiles": ["OpenAI"]})
    decision = decide(obj, cms, workloads=[langchain])
    assert codes(decision) == ["EndpointNotApproved"]
    assert "OPENAI_API_BASE in /app/.env" in decision.violations[0].message


def test_a_dotenv_file_does_not_override_what_the_container_sets() -> None:
    obj, cms = mounted_pod(
        {".env": f"OPENAI_API_BASE={OPENAI}\nOPENAI_API_KEY=sk\n"},
        "/app",
        env={"OPENAI_API_BASE": APPROVED_V1, "OPENAI_BASE_URL": APPROVED_V1},
    )
    assert {t.url.host for t in targets_of(obj, cms)} == {"contoso-eastus.openai.azure.com"}


def test_dotenv_interpolation_takes_the_environment_first() -> None:
    obj, cms = mounted_pod(
        {"app.env": "OPENAI_BASE_URL=${UPSTREAM}/v1\n"}, "/app", env={"UPSTREAM": "https://api.openai.com"}
    )
    assert [(t.variable, t.url.origin) for t in file_targets(obj, cms)] == [
        ("OPENAI_BASE_URL", "https://api.openai.com")
    ]


def test_a_dotenv_path_variable_from_a_secret_mount_is_not_visible() -> None:
    app = container(env={"DOTENV_CONFIG_PATH": "/secrets/app.env"}, volumeMounts=[mount("s", "/secrets")])
    obj = pod(app, volumes=[{"name": "s", "secret": {"secretName": "env"}}])
    assert [p.code for p in problems_of(obj, {})] == [Code.ENDPOINT_NOT_VISIBLE]


# -- Codex, OAI_CONFIG_LIST, .NET, every other file -----------------------------------------------


def test_a_codex_provider_base_url_in_a_projected_codex_home_is_judged() -> None:
    text = f'model_provider = "corp"\n[model_providers.corp]\nname = "corp"\nbase_url = "{OPENAI}"\n'
    app = container(env={"CODEX_HOME": "/codex"}, volumeMounts=[mount("codex", "/codex")])
    volume = {"name": "codex", "projected": {"sources": [{"configMap": {"name": "codex"}}]}}
    obj = pod(app, volumes=[volume])
    cms = {("apps", "codex"): {"config.toml": text}}
    (target,) = targets_of(obj, cms)
    assert target.url is not None
    assert target.url.host == "api.openai.com"
    assert "/codex/config.toml" in target.setting


def test_oai_config_list_is_decoded_as_json_in_a_variable_and_as_a_file() -> None:
    value = f'[{{"model": "gpt-4o", "base_url": "{OPENAI}"}}]'
    assert [t.url.host for t in targets_of(pod(container(env={"OAI_CONFIG_LIST": value})), {})] == ["api.openai.com"]
    obj, cms = mounted_pod({"OAI_CONFIG_LIST": value}, "/app", env={"OAI_CONFIG_LIST": "/app/OAI_CONFIG_LIST"})
    assert [t.url.host for t in targets_of(obj, cms)] == ["api.openai.com"]


def test_appsettings_json_sections_are_judged_as_section_key_settings() -> None:
    text = '{"AzureOpenAI": {"Endpoint": "https://rogue.openai.azure.com/", "Deployment": "gpt-4o"}}'
    obj, cms = mounted_pod({"appsettings.json": text}, "/app", workingDir="/app")
    (target,) = targets_of(obj, cms)
    assert target.url is not None
    assert target.url.host == "rogue.openai.azure.com"
    assert "AzureOpenAI:Endpoint in /app/appsettings.json" in target.setting
    obj, cms = mounted_pod({"appsettings.json": text}, "/app", env={"AzureOpenAI__Endpoint": APPROVED_URL})
    assert [t.url.host for t in targets_of(obj, cms)] == ["contoso-eastus.openai.azure.com"]


def test_every_other_mounted_config_map_file_is_scanned_for_model_host_urls() -> None:
    obj, cms = mounted_pod({"gateway.ini": f"[upstream]\nurl = {OPENAI}/chat\n", "notes.txt": "nothing"}, "/etc/gw")
    (target,) = targets_of(obj, cms)
    assert target.kind is TargetKind.EMBEDDED
    assert "/etc/gw/gateway.ini (ConfigMap apps/app-config key 'gateway.ini')" in target.setting
    decision = decide(obj, cms)
    assert codes(decision) == ["EndpointNotApproved"]
    assert "ModelRoute cannot change a mounted file" in decision.violations[0].message


def test_items_place_keys_at_their_paths_and_leave_other_keys_unmounted() -> None:
    app = container(volumeMounts=[mount("conf", "/app")], workingDir="/app")
    items = [{"key": "dotenv", "path": ".env"}]
    obj = pod(app, volumes=[config_map_volume("conf", "c", items=items)])
    cms = {("apps", "c"): {"dotenv": f"OPENAI_BASE_URL={OPENAI}\n", "other": f"url={OPENAI}"}}
    (target,) = targets_of(obj, cms)
    assert "OPENAI_BASE_URL in /app/.env" in target.setting


def test_a_sub_path_expr_is_expanded_with_the_container_env() -> None:
    app = container(env={"STAGE": "prod"}, volumeMounts=[mount("conf", "/app/.env", subPathExpr="$(STAGE).env")])
    obj = pod(app, volumes=[config_map_volume("conf", "c")])
    cms = {("apps", "c"): {"prod.env": f"OPENAI_BASE_URL={OPENAI}\n", "dev.env": "OPENAI_BASE_URL=http://x"}}
    (target,) = targets_of(obj, cms)
    assert "OPENAI_BASE_URL in /app/.env" in target.setting


# -- what is not flagged, what cannot be read -------------------------------------------------------


def test_a_pod_that_merely_mounts_a_tls_secret_is_not_flagged() -> None:
    app = container(volumeMounts=[mount("tls", "/etc/tls", readOnly=True)], workingDir="/app")
    obj = pod(app, app="web", volumes=[{"name": "tls", "secret": {"secretName": "web-tls"}}])
    findings = inspect_pod_spec(obj["spec"], "spec", "apps", {})
    assert not findings[0].configured_for_openai
    assert judge(obj).outcome is Outcome.NOT_APPLICABLE


def test_a_dotenv_file_from_a_secret_in_a_covered_pods_working_directory_is_not_visible() -> None:
    app = container(volumeMounts=[mount("env", "/app/.env", subPath=".env")], workingDir="/app")
    obj = pod(app, volumes=[{"name": "env", "secret": {"secretName": "app-env"}}])
    (problem,) = judge(obj).violations
    assert problem.code is Code.ENDPOINT_NOT_VISIBLE
    assert "/app/.env" in problem.message


def test_a_dotenv_file_from_a_secret_does_not_by_itself_make_a_pod_an_openai_client() -> None:
    app = container(volumeMounts=[mount("env", "/app/.env", subPath=".env")], workingDir="/app")
    obj = pod(app, app="web", volumes=[{"name": "env", "secret": {"secretName": "db-env"}}])
    assert problems_of(obj, {}) == []
    assert judge(obj).outcome is Outcome.NOT_APPLICABLE


def test_a_whole_secret_mounted_as_a_covered_pods_working_directory_is_not_visible() -> None:
    app = container(volumeMounts=[mount("env", "/app")], workingDir="/app")
    obj = pod(app, volumes=[{"name": "env", "secret": {"secretName": "app"}}])
    assert [v.code for v in judge(obj).violations] == [Code.ENDPOINT_NOT_VISIBLE]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("application.yml", "spring: [unclosed\n"),
        ("application.yml", "a: &a [1,2,3,4,5,6,7,8,9]\n" + "".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))),
        ("appsettings.json", "[" * 5000 + "]" * 5000),
        (".env", "OPENAI_BASE_URL=\x00binary"),
    ],
    ids=["bad-yaml", "alias-bomb", "deep-json", "binary-dotenv"],
)  # fmt: skip
def test_a_config_file_that_cannot_be_read_is_unreadable_never_ignored(name: str, text: str) -> None:
    obj, cms = mounted_pod({name: text}, "/app", workingDir="/app")
    decision = decide(obj, cms)
    assert "UnreadableConfigFile" in codes(decision)
    assert f"/app/{name}" in decision.violations[0].message


def test_a_pod_with_no_volume_mounts_reads_no_files() -> None:
    obj = pod(container(env={"OPENAI_API_KEY": "x"}), volumes=[config_map_volume("conf", "app-config")])
    cms = {("apps", "app-config"): {"gateway.ini": f"url = {OPENAI}"}}
    assert [t.kind for t in targets_of(obj, cms)] == [TargetKind.DEFAULT]


# -- parse once -------------------------------------------------------------------------------------


def test_a_mounted_file_is_parsed_once_per_config_map_version_not_per_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = configfiles._READERS[Format.DOTENV]

    def counting(text: str) -> Any:
        calls.append(text)
        return real(text)

    monkeypatch.setitem(configfiles._READERS, Format.DOTENV, counting)
    configfiles.read.cache_clear()
    text = "".join(f"VAR_{i}=value-{i}\n" for i in range(50)) + f"OPENAI_BASE_URL={OPENAI}\n"
    cms = {("apps", "app-config"): {".env": text}}
    obj, _ = mounted_pod({}, "/app", workingDir="/app")
    for _ in range(100):
        decide(obj, cms)
    assert len(calls) == 1
    cms[("apps", "app-config")] = {".env": text + "OTHER=1\n"}  # a new version of the ConfigMap
    decide(obj, cms)
    assert len(calls) == 2


def test_a_litellm_config_from_a_bucket_is_not_visible() -> None:
    obj = pod(container(env={"LITELLM_CONFIG_BUCKET_NAME": "configs"}, args=["--port", "4000"]))
    (problem,) = problems_of(obj, {})
    assert problem.code is Code.ENDPOINT_NOT_VISIBLE
    assert "bucket" in problem.message


def test_a_litellm_include_is_read_from_the_config_directory() -> None:
    files = {"config.yaml": "include:\n  - models.yaml\n", "models.yaml": LITELLM_CONFIG}
    obj, cms = mounted_pod(files, "/app", args=["--config", "/app/config.yaml"])
    (target,) = file_targets(obj, cms)
    assert target.url is not None
    assert target.url.host == "api.openai.com"
    # the model is written in the included file: the message names it, its key and its line
    assert (
        "(model_list[0].litellm_params.api_base) in /app/models.yaml (ConfigMap apps/app-config key " in target.setting
    )
    assert "line 5" in target.setting
    assert "key 'models.yaml'" in str(target.remedy.text(frozenset()))


def test_the_models_of_a_litellm_include_follow_the_main_files_each_named_in_its_own_file() -> None:
    main = LITELLM_CONFIG.replace("gpt-4o", "main-model") + "include:\n  - models.yaml\n"
    files = {"config.yaml": main, "models.yaml": LITELLM_CONFIG.replace(OPENAI, "https://rogue.openai.azure.com")}
    obj, cms = mounted_pod(files, "/app", args=["--config", "/app/config.yaml"])
    settings = [t.setting for t in file_targets(obj, cms)]
    assert len(settings) == 2
    assert "main-model" in settings[0]
    assert "in /app/config.yaml" in settings[0]
    assert "(model_list[0].litellm_params.api_base) in /app/models.yaml" in settings[1]


def test_the_codex_dotenv_file_is_loaded_over_the_environment() -> None:
    app = container(env={"CODEX_HOME": "/codex", "OPENAI_BASE_URL": APPROVED_V1}, volumeMounts=[mount("c", "/codex")])
    obj = pod(app, volumes=[config_map_volume("c", "codex")])
    cms = {("apps", "codex"): {".env": f"OPENAI_BASE_URL={OPENAI}\n"}}
    assert [t.url.host for t in file_targets(obj, cms)] == ["api.openai.com"]


def test_a_spring_config_location_given_as_a_jvm_property_names_the_file() -> None:
    obj, cms = mounted_pod(
        {"custom.properties": f"spring.ai.openai.base-url={OPENAI}\n"},
        "/etc/app",
        env={"JAVA_TOOL_OPTIONS": "-Dspring.config.additional-location=/etc/app/custom.properties"},
    )
    obj["spec"]["containers"][0].pop("volumeMounts")
    (problem,) = problems_of(obj, cms)
    assert problem.code is Code.ENDPOINT_NOT_VISIBLE
    assert "/etc/app/custom.properties" in problem.message


def test_a_mounted_client_config_is_parsed_once_per_text_not_per_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelroute.engine import clientconfig, clientfiles

    calls: list[str] = []
    real = clientfiles.litellm_destinations

    def counting(text: str, included: Any = ()) -> Any:
        calls.append(text)
        return real(text, included)

    monkeypatch.setattr(clientfiles, "litellm_destinations", counting)
    clientconfig._PARSED.clear()
    obj, cms = litellm_pod(LITELLM_CONFIG)
    for _ in range(100):
        assert not decide(obj, cms).allowed
    assert len(calls) == 1


FILE_NAMES = (".env", "application.yml", "application.properties", "appsettings.json", "config.yaml",
              "config.toml", "OAI_CONFIG_LIST", "gateway.ini")  # fmt: skip
HOSTILE_TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["a: &a [*a]\n", "[" * 3000, '{"a": ' * 3000, "model_list: 5\n", "include: [x.yaml]\n"]),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(FILE_NAMES), HOSTILE_TEXT)
def test_any_text_under_any_config_name_is_judged_or_reported_never_a_crash(name: str, text: str) -> None:
    env = {"CODEX_HOME": "/app", "OAI_CONFIG_LIST": "/app/OAI_CONFIG_LIST", "DOTENV_PATH": "/app/.env"}
    obj, cms = mounted_pod({name: text}, "/app", env=env, args=["--config", "/app/config.yaml"], workingDir="/app")
    findings = inspect_pod_spec(obj["spec"], "spec", "apps", cms)
    for problem in findings[0].problems:
        assert problem.code in set(Code)
        assert problem.field is not None
        assert problem.field.startswith("spec.containers[0]")
    decide(obj, cms)


def test_a_named_config_file_from_a_config_map_that_does_not_exist_is_unresolved() -> None:
    obj, _ = litellm_pod(LITELLM_CONFIG)
    (problem,) = problems_of(obj, {})
    assert problem.code is Code.UNRESOLVED_REFERENCE
    assert "ConfigMap apps/app-config, which does not exist" in problem.message


def test_spring_config_name_renames_the_files_spring_boot_loads() -> None:
    obj, cms = spring_pod({"gateway-prod.yml": f"spring.ai.openai.base-url: {OPENAI}\n"}, SPRING_CONFIG_NAME="gateway")
    (target,) = file_targets(obj, cms)
    assert "spring.ai.openai.base-url in /app/config/gateway-prod.yml" in target.setting


def test_a_spring_config_location_argument_names_the_file() -> None:
    obj, cms = mounted_pod(
        {"extra.properties": f"spring.ai.openai.base-url={OPENAI}\n"},
        "/etc/extra",
        args=["--spring.config.additional-location=file:/etc/extra/extra.properties"],
    )
    (target,) = file_targets(obj, cms)
    assert target.url is not None
    assert target.url.host == "api.openai.com"


def test_files_behind_a_sub_path_expr_that_cannot_be_expanded_are_still_scanned() -> None:
    app = container(
        env=[],
        volumeMounts=[mount("conf", "/etc/gw", subPathExpr="$(POD_NAME)")],
    )
    app["env"] = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    obj = pod(app, volumes=[config_map_volume("conf", "c")])
    cms = {("apps", "c"): {"gw.ini": f"url = {OPENAI}"}}
    (target,) = file_targets(obj, cms)
    assert target.kind is TargetKind.EMBEDDED


def test_litellm_short_config_option_and_spring_application_json_locations_are_read() -> None:
    obj, cms = litellm_pod(LITELLM_CONFIG)
    obj["spec"]["containers"][0]["args"] = ["-c", "/app/config.yaml"]
    assert [t.url.host for t in file_targets(obj, cms)] == ["api.openai.com"]
    location = '{"spring": {"config": {"location": "/etc/app/custom.yml"}}}'
    obj, cms = mounted_pod(
        {"custom.yml": f"spring.ai.openai.base-url: {OPENAI}\n"}, "/etc/app", env={"SPRING_APPLICATION_JSON": location}
    )
    assert [t.url.host for t in file_targets(obj, cms)] == ["api.openai.com"]
