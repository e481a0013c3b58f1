"""The client configuration file readers: where each model or provider of a file calls, and the rule
its client applies when the file names no URL. (tests/unit/test_client_files_real.py checks the same
tables against the real clients.)"""

from __future__ import annotations

import re

import pytest

from modelroute.engine.clientfiles import (
    ConfigFileError,
    FileDestination,
    codex_config_path,
    codex_destinations,
    codex_dotenv_path,
    litellm_config_paths,
    litellm_destinations,
    litellm_includes,
    oai_config_list_destinations,
    resolve,
)

OPENAI = "https://api.openai.com/v1"
AZURE = "https://contoso.openai.azure.com"


def litellm(*models: str, tail: str = "") -> str:
    return "model_list:\n" + "".join(models) + tail


def model(name: str, params: str) -> str:
    lines = "".join(f"      {line}\n" for line in params.strip().splitlines())
    return f"  - model_name: {name}\n    litellm_params:\n{lines}"


# --- LiteLLM ---------------------------------------------------------------------------------------


def test_a_litellm_model_with_its_own_api_base_calls_it_whatever_the_environment_says() -> None:
    (found,) = litellm_destinations(litellm(model("gpt-4o", "model: openai/gpt-4o\napi_base: " + OPENAI)))
    assert found.key == "model_list[0].litellm_params.api_base"
    assert found.url == OPENAI
    assert found.line == 5
    assert found.note == "LiteLLM model gpt-4o (openai/gpt-4o)"
    assert resolve(found, {"OPENAI_BASE_URL": AZURE + "/openai/v1"}) == OPENAI


def test_an_openai_model_without_api_base_reads_openai_base_url_then_openai_api_base_then_calls_openai() -> None:
    (found,) = litellm_destinations(litellm(model("m", "model: openai/gpt-4o")))
    assert (found.url, found.variable, found.fallback, found.default) == (
        None,
        None,
        ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
        OPENAI,
    )
    assert resolve(found, {}) == OPENAI
    assert resolve(found, {"OPENAI_API_BASE": AZURE}) == AZURE
    assert resolve(found, {"OPENAI_BASE_URL": "", "OPENAI_API_BASE": AZURE}) == AZURE


@pytest.mark.parametrize(
    ("model_name", "fallback", "default"),
    [
        ("azure/chat", ("AZURE_API_BASE",), None),
        ("azure_ai/mistral-large", ("AZURE_AI_API_BASE",), None),
        ("text-completion-openai/gpt-3.5-turbo-instruct", ("OPENAI_BASE_URL", "OPENAI_API_BASE"), OPENAI),
        ("gpt-4o-mini", ("OPENAI_BASE_URL", "OPENAI_API_BASE"), OPENAI),
        ("o3-mini", ("OPENAI_BASE_URL", "OPENAI_API_BASE"), OPENAI),
    ],
)
def test_each_provider_prefix_has_the_fallbacks_litellm_reads(
    model_name: str, fallback: tuple[str, ...], default: str | None
) -> None:
    (found,) = litellm_destinations(litellm(model("m", f"model: {model_name}")))
    assert (found.fallback, found.default) == (fallback, default)


def test_a_model_of_another_provider_without_a_url_of_its_own_is_no_destination() -> None:
    assert litellm_destinations(litellm(model("c", "model: anthropic/claude-3-5-sonnet"))) == ()


def test_a_model_of_another_provider_with_an_api_base_is_judged_by_that_url() -> None:
    (found,) = litellm_destinations(litellm(model("v", f"model: hosted_vllm/llama\napi_base: {OPENAI}")))
    assert (found.url, found.default) == (OPENAI, None)


def test_os_environ_names_a_variable_and_the_provider_fallbacks_follow_it() -> None:
    (found,) = litellm_destinations(litellm(model("a", "model: azure/chat\napi_base: os.environ/MY_AZURE")))
    assert (found.url, found.variable, found.fallback) == (None, "MY_AZURE", ("AZURE_API_BASE",))
    assert resolve(found, {"MY_AZURE": AZURE}) == AZURE
    assert resolve(found, {"AZURE_API_BASE": "https://other.openai.azure.com"}) == "https://other.openai.azure.com"
    assert resolve(found, {"MY_AZURE": None}) is None  # set from a Secret: not visible


def test_base_url_wins_over_api_base_as_in_completion() -> None:
    (found,) = litellm_destinations(
        litellm(model("m", f"model: openai/gpt-4o\nbase_url: {OPENAI}\napi_base: {AZURE}/openai/v1"))
    )
    assert (found.key, found.url) == ("model_list[0].litellm_params.base_url", OPENAI)


def test_litellm_settings_api_base_is_read_after_the_models_own_and_before_the_environment() -> None:
    text = litellm(
        model("own", f"model: openai/gpt-4o\napi_base: {AZURE}/openai/v1"),
        model("shared", "model: openai/gpt-4o-mini"),
        tail=f"litellm_settings:\n  api_base: {OPENAI}\n",
    )
    own, shared = litellm_destinations(text)
    assert own.url == AZURE + "/openai/v1"
    assert (shared.key, shared.url) == ("litellm_settings.api_base", OPENAI)
    assert resolve(shared, {"OPENAI_BASE_URL": AZURE}) == OPENAI


def test_environment_variables_are_written_over_the_containers_and_judged_themselves() -> None:
    text = litellm(model("m", "model: openai/gpt-4o"), tail=f"environment_variables:\n  OPENAI_BASE_URL: {OPENAI}\n")
    found, written = litellm_destinations(text)
    assert resolve(found, {"OPENAI_BASE_URL": AZURE + "/openai/v1"}) == OPENAI
    assert (written.key, written.url) == ("environment_variables.OPENAI_BASE_URL", OPENAI)
    assert written.line == 6


def test_an_environment_variable_written_for_the_second_fallback_only_applies_after_the_first() -> None:
    text = litellm(model("m", "model: openai/gpt-4o"), tail=f"environment_variables:\n  OPENAI_API_BASE: {OPENAI}\n")
    found, _ = litellm_destinations(text)
    assert resolve(found, {"OPENAI_BASE_URL": AZURE}) == AZURE
    assert resolve(found, {"OPENAI_API_BASE": AZURE}) == OPENAI


def test_included_files_add_their_models_after_the_main_files() -> None:
    main = "include:\n  - models.yaml\n" + litellm(model("a", f"model: openai/a\napi_base: {AZURE}"))
    assert litellm_includes(main) == ("models.yaml",)
    found = litellm_destinations(main, [litellm(model("b", f"model: openai/b\napi_base: {OPENAI}"))])
    assert [d.url for d in found] == [AZURE, OPENAI]


def test_yaml_anchors_and_merge_keys_are_read_as_the_safe_loader_reads_them() -> None:
    text = (
        "base: &base\n  model: openai/gpt-4o\n  api_base: https://api.openai.com/v1\n"
        "model_list:\n  - model_name: a\n    litellm_params:\n      <<: *base\n"
    )
    (found,) = litellm_destinations(text)
    assert found.url == OPENAI


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("model_list: {a: 1}\n", "model_list must be a list"),
        ("model_list:\n  - just-a-name\n", "model_list[0] must be a mapping"),
        ("model_list:\n  - model_name: a\n    litellm_params: [1]\n", "model_list[0].litellm_params must be a mapping"),
        ("model_list:\n  - litellm_params:\n      model: openai/x\n      api_base: 7\n", "api_base must be a string"),
        ("- a\n- b\n", "a LiteLLM config must be a mapping"),
        ("model_list: [\n", "invalid YAML"),
        ("a: 1\n---\nb: 2\n", "invalid YAML"),
    ],
)
def test_a_litellm_config_the_proxy_cannot_read_is_a_config_file_error(text: str, what: str) -> None:
    with pytest.raises(ConfigFileError, match=re.escape(what)):
        litellm_destinations(text)


def test_an_include_that_is_not_a_list_of_paths_is_a_config_file_error() -> None:
    with pytest.raises(ConfigFileError, match="'include' must be a list"):
        litellm_includes("include: models.yaml\n")


def test_an_error_says_the_line() -> None:
    with pytest.raises(ConfigFileError) as caught:
        litellm_destinations("model_list:\n  - litellm_params:\n      model: openai/x\n      api_base: 7\n")
    assert str(caught.value).startswith("line 4: ")


def test_an_empty_litellm_config_has_no_destinations() -> None:
    assert litellm_destinations("") == ()
    assert litellm_destinations("general_settings: {}\n") == ()


@pytest.mark.parametrize(
    ("argv", "env", "paths"),
    [
        (["--config", "/app/config.yaml", "--port", "4000"], {}, ("/app/config.yaml",)),
        (["litellm", "--port", "4000", "--config=/etc/litellm/c.yaml"], {}, ("/etc/litellm/c.yaml",)),
        (["/usr/local/bin/litellm", "-c", "config.yaml"], {}, ("config.yaml",)),
        (["python", "-m", "litellm.proxy.proxy_cli", "-cconfig.yml"], {}, ("config.yml",)),
        (["sh", "-c", "litellm --config /a.yaml --config /b.yaml"], {}, ("/b.yaml",)),
        (["--port", "4000"], {}, ()),
        (["--config", "/app/config.yaml"], {"CONFIG_FILE_PATH": "/etc/proxy.yaml"}, ("/etc/proxy.yaml",)),
        (["--config", "/app/config.yaml"], {"CONFIG_FILE_PATH": "/etc/proxy.json"}, ()),
        (["--config", "/app/config.yaml"], {"CONFIG_FILE_PATH": None}, ()),
        (["--config", "/app/config.yaml"], {"LITELLM_CONFIG_BUCKET_NAME": "b"}, ()),
    ],
)
def test_the_proxy_loads_config_file_path_else_the_config_argument(
    argv: list[str], env: dict[str, str | None], paths: tuple[str, ...]
) -> None:
    assert litellm_config_paths(argv, env) == paths


# --- Codex CLI ---------------------------------------------------------------------------------------


def test_codex_calls_the_selected_providers_base_url() -> None:
    text = f'model_provider = "corp"\n\n[model_providers.corp]\nname = "Corp"\nbase_url = "{AZURE}/openai/v1"\n'
    (found,) = codex_destinations(text)
    assert found == FileDestination(
        "model_providers.corp.base_url",
        AZURE + "/openai/v1",
        None,
        (),
        OPENAI,
        5,
        "Codex model provider corp (selected)",
    )


def test_codex_without_a_provider_uses_the_built_in_openai_which_reads_openai_base_url() -> None:
    (found,) = codex_destinations('model = "gpt-5"\n')
    assert (found.key, found.url, found.fallback, found.default) == (
        "openai_base_url",
        None,
        ("OPENAI_BASE_URL",),
        OPENAI,
    )
    assert resolve(found, {"OPENAI_BASE_URL": AZURE}) == AZURE
    (configured,) = codex_destinations(f'openai_base_url = "{OPENAI}"\n')
    assert (configured.url, configured.line) == (OPENAI, 1)


def test_a_provider_table_cannot_replace_the_built_in_openai() -> None:
    (found,) = codex_destinations(f'[model_providers.openai]\nbase_url = "{AZURE}"\n')
    assert (found.url, found.default) == (None, OPENAI)


def test_the_active_profile_selects_the_provider_and_the_others_stay_selectable() -> None:
    text = (
        'profile = "prod"\n[profiles.prod]\nmodel_provider = "az"\n[profiles.dev]\nmodel_provider = "ollama"\n'
        f'[model_providers.az]\nbase_url = "{AZURE}/openai"\n[model_providers.spare]\nbase_url = "{OPENAI}"\n'
    )
    found = codex_destinations(text)
    assert [(d.key, d.note.rsplit("(", 1)[1]) for d in found] == [
        ("model_providers.az.base_url", "selected)"),
        ("model_providers.ollama", "selectable)"),
        ("model_providers.spare.base_url", "selectable)"),
    ]


def test_a_custom_provider_without_base_url_calls_openai() -> None:
    (found,) = codex_destinations('model_provider = "x"\n[model_providers.x]\nname = "X"\n')
    assert resolve(found, {"OPENAI_BASE_URL": AZURE}) == OPENAI


@pytest.mark.parametrize(
    "text",
    [
        'model_provider = "missing"\n',
        "model_providers = 3\n",
        '[model_providers.x]\nbase_url = 3\nmodel_provider = "x"\n',
        "model_provider = \n",
        "[a]\n[a]\n",
    ],
)
def test_a_codex_config_codex_cannot_load_is_a_config_file_error(text: str) -> None:
    with pytest.raises(ConfigFileError):
        codex_destinations(text)


def test_codex_home_defaults_to_dot_codex_in_home() -> None:
    assert codex_config_path({}, "/home/app") == "/home/app/.codex/config.toml"
    assert codex_config_path({"CODEX_HOME": "/etc/codex"}, "/home/app") == "/etc/codex/config.toml"
    assert codex_config_path({"CODEX_HOME": ""}, "/root") == "/root/.codex/config.toml"
    assert codex_config_path({"CODEX_HOME": None}, "/root") is None
    assert codex_config_path({}, None) is None
    assert codex_dotenv_path({"CODEX_HOME": "/etc/codex"}, None) == "/etc/codex/.env"


# --- AG2 / AutoGen ------------------------------------------------------------------------------------


def test_an_oai_config_list_entry_calls_its_base_url_else_openai_base_url_else_openai() -> None:
    text = f'[{{"model": "gpt-4o", "base_url": "{OPENAI}"}}, {{"model": "gpt-4o-mini", "api_type": "openai"}}]'
    own, bare = oai_config_list_destinations(text)
    assert (own.key, own.url) == ("[0].base_url", OPENAI)
    assert (bare.url, bare.fallback, bare.default) == (None, ("OPENAI_BASE_URL",), OPENAI)


def test_an_azure_entry_calls_azure_endpoint_or_base_url_else_azure_openai_endpoint() -> None:
    text = (
        f'[{{"model": "a", "api_type": "azure", "base_url": "{AZURE}"}},'
        f' {{"model": "b", "api_type": "azure", "azure_endpoint": "{AZURE}", "base_url": "{OPENAI}"}},'
        ' {"model": "c", "api_type": "azure"}]'
    )
    first, second, third = oai_config_list_destinations(text)
    assert (first.key, first.url) == ("[0].base_url", AZURE)
    assert (second.key, second.url) == ("[1].azure_endpoint", AZURE)
    assert (third.url, third.fallback, third.default) == (None, ("AZURE_OPENAI_ENDPOINT",), None)


def test_entries_of_other_providers_count_only_with_a_url_of_their_own() -> None:
    text = '[{"model": "claude", "api_type": "anthropic"}, {"model": "x", "model_client_cls": "Mine"}]'
    assert oai_config_list_destinations(text) == ()


@pytest.mark.parametrize(
    "text", ['{"model": "gpt-4"}', "[1]", '[{"model": "x", "base_url": 3}]', "[{'model': 'x'}]", ""]
)
def test_an_oai_config_list_that_is_not_a_list_of_objects_is_a_config_file_error(text: str) -> None:
    with pytest.raises(ConfigFileError):
        oai_config_list_destinations(text)


# --- hostile files -------------------------------------------------------------------------------------

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (BILLION_LAUGHS, "aliases"),
        ("a: &a [*a]\n", "aliases"),
        ("a: " + "[" * 70 + "]" * 70 + "\n", "nested deeper"),
        ("a: b\x00\n", "binary"),
        ("a: \udcff\n", "not valid UTF-8"),
        ("a: " + "b" * (1024 * 1024) + "\n", "larger than"),
        ("a: \x07\n", "invalid YAML"),
    ],
)
def test_hostile_yaml_is_refused_with_what_is_wrong(text: str, what: str) -> None:
    with pytest.raises(ConfigFileError, match=what):
        litellm_destinations(text)


@pytest.mark.parametrize(
    "text",
    ["a = " + "[" * 70 + "]" * 70, "a = 1\x00", '[model_providers.x]\nbase_url = "\udcff"\n', "a" * (1024 * 1024 + 1)],
)
def test_hostile_toml_is_refused(text: str) -> None:
    with pytest.raises(ConfigFileError):
        codex_destinations(text)


@pytest.mark.parametrize("text", ["[" * 100_000, "[" * 70 + "]" * 70, '["\x00"]', "[1]" + " " * (1024 * 1024)])
def test_hostile_json_is_refused(text: str) -> None:
    with pytest.raises(ConfigFileError):
        oai_config_list_destinations(text)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '[{"model": "' + "[" * 100 + f'", "base_url": "{OPENAI}"}}]'
    assert oai_config_list_destinations(text)[0].url == OPENAI
    toml = (
        'model_provider = "x"\n# ' + "[" * 100 + f'\n[model_providers.x]\nname = "{"{" * 100}"\nbase_url = "{OPENAI}"\n'
    )
    assert codex_destinations(toml)[0].url == OPENAI
