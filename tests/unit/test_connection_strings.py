""".NET configuration: `Section__Key` variables, and `ConnectionStrings__<name>` parsed as
DbConnectionStringBuilder parses them and judged where an Aspire OpenAI client would read them."""

from __future__ import annotations

import pytest
from builders import APPROVED_URL, codes, container, context, endpoint, judge, pod, policy, workload
from hypothesis import given, settings
from hypothesis import strategies as st

from modelroute.engine.aspire import is_aspire_endpoint
from modelroute.engine.connection_strings import ConnectionString, ConnectionStringError, connection_name, parse
from modelroute.engine.verdict import Outcome

UNMANAGED_ALLOWED = [policy(unmanaged="Allow")]
SECRET = {"secretKeyRef": {"name": "llm", "key": "connection"}}


def unmanaged(env: dict[str, str]) -> dict[str, object]:
    return pod(container(env=env), app="nobody")


# --- parsing, as DbConnectionStringBuilder does ---------------------------------------------------


def test_pairs_are_separated_by_semicolons_and_keys_compare_without_case() -> None:
    parsed = parse("Endpoint=https://contoso.openai.azure.com/;Key=abc")
    assert parsed.get("endpoint") == "https://contoso.openai.azure.com/"
    assert parsed.get("KEY") == "abc"
    assert parsed.keys == {"endpoint", "key"}


def test_whitespace_and_extra_semicolons_around_pairs_are_ignored() -> None:
    assert parse(" ;; Key = a b ; ;").get("Key") == "a b"


@pytest.mark.parametrize(
    ("text", "value"),
    [('Key="a;b"', "a;b"), ("Key='it''s'", "it's"), ('Key="say ""hi"""', 'say "hi"'), ("Key=''", "")],
)
def test_quoted_values_keep_what_is_inside_with_the_quote_doubled(text: str, value: str) -> None:
    assert parse(text).get("Key") == value


def test_a_doubled_equals_sign_is_a_literal_one_in_a_key() -> None:
    assert parse("a==b=c").get("a=b") == "c"


def test_the_last_of_a_repeated_key_wins_and_an_empty_value_removes_it() -> None:
    assert parse("Key=a;key=b").get("Key") == "b"
    assert parse("Key=a;Key=").get("Key") is None
    assert parse("Key=a;Key=  ;Endpoint=x").keys == {"endpoint"}


@pytest.mark.parametrize("text", ["Key", "Key='abc", "Key=abc'", "=abc", "Key='a'b", "Key=a\x01b"])
def test_what_dot_net_refuses_is_refused(text: str) -> None:
    with pytest.raises(ConnectionStringError):
        parse(text)


def test_a_huge_value_is_refused_without_parsing() -> None:
    with pytest.raises(ConnectionStringError, match="longer than"):
        parse("Key=" + "a" * 100_000)


_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=12).filter(
    lambda k: k.strip() == k and not k.startswith(";")
)
_VALUES = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\0"), max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_KEYS, _VALUES), max_size=5, unique_by=lambda pair: pair[0].lower()))
def test_a_written_connection_string_reads_back_as_it_was(pairs: list[tuple[str, str]]) -> None:
    written = str(ConnectionString(tuple(pairs)))
    assert parse(written) == ConnectionString(tuple(pairs))


@pytest.mark.parametrize(
    ("variable", "name"),
    [
        ("ConnectionStrings__openai", "openai"),
        ("CONNECTIONSTRINGS__OPENAI", "OPENAI"),
        ("ConnectionStrings:chat", "chat"),
        ("DOTNET_ConnectionStrings__openai", "openai"),
        ("ASPNETCORE_ConnectionStrings__openai", "openai"),
        ("CUSTOMCONNSTR_openai", "openai"),
        ("ConnectionStrings__openai__Endpoint", None),
        ("ConnectionStrings__", None),
        ("OPENAI_BASE_URL", None),
    ],
)
def test_which_variables_set_a_connection_string(variable: str, name: str | None) -> None:
    assert connection_name(variable) == name


@pytest.mark.parametrize(
    ("variable", "aspire"),
    [
        ("Aspire__OpenAI__Endpoint", True),
        ("Aspire__OpenAI__chat__Endpoint", True),
        ("Aspire__OpenAI__ClientOptions__Endpoint", True),
        ("Aspire__Azure__AI__OpenAI__Endpoint", True),
        ("OpenAI__Endpoint", False),
    ],
)
def test_aspire_endpoint_settings(variable: str, aspire: bool) -> None:
    assert is_aspire_endpoint(variable) is aspire


# --- which connection strings are OpenAI ones, and where they go --------------------------------


def test_a_key_without_an_endpoint_calls_api_openai_com() -> None:
    decision = judge(
        unmanaged({"ConnectionStrings__openai": "Key=sk-not-a-real-key"}), context(policies=UNMANAGED_ALLOWED)
    )
    assert codes(decision) == ["DefaultOpenAIEndpoint"]
    message = decision.violations[0].message
    assert "ConnectionStrings__openai" in message
    assert "api.openai.com" in message
    assert "sk-not-a-real-key" not in message


@pytest.mark.parametrize(
    "variable",
    ["ConnectionStrings__chat", "CONNECTIONSTRINGS__CHAT", "CUSTOMCONNSTR_chat", "DOTNET_ConnectionStrings__chat"],
)
def test_a_key_only_connection_string_of_any_name_is_an_openai_one(variable: str) -> None:
    decision = judge(unmanaged({variable: "Key=k;Model=gpt-4o"}), context(policies=UNMANAGED_ALLOWED))
    assert codes(decision) == ["DefaultOpenAIEndpoint"]


def test_a_key_only_connection_string_takes_the_aspire_endpoint_setting() -> None:
    env = {"ConnectionStrings__openai": "Key=k", "Aspire__OpenAI__Endpoint": APPROVED_URL + "/openai/v1"}
    decision = judge(unmanaged(env), context(policies=UNMANAGED_ALLOWED))
    assert decision.allowed
    assert codes(decision) == []
    assert decision.outcome is Outcome.UNMANAGED


def test_an_endpoint_elsewhere_is_not_approved_and_the_key_never_shows() -> None:
    env = {"ConnectionStrings__openai": "Endpoint=https://api.openai.com/v1;Key=sk-secret-value"}
    decision = judge(pod(container(env=env)))
    assert codes(decision) == ["EndpointNotApproved"]
    assert "ConnectionStrings__openai Endpoint" in decision.violations[0].message
    assert "sk-secret-value" not in str(decision.violations)


@pytest.mark.parametrize("separator", ["/;", ";"])
def test_an_approved_endpoint_in_a_connection_string_is_compliant(separator: str) -> None:
    env = {"ConnectionStrings__openai": f"Endpoint={APPROVED_URL}{separator}Deployment=gpt-4o"}
    decision = judge(pod(container(env=env)))
    assert decision.allowed, decision.violations
    assert decision.outcome is Outcome.COMPLIANT


def test_the_deployment_of_a_connection_string_must_be_allowed_by_the_endpoint() -> None:
    env = {"ConnectionStrings__openai": f"Endpoint={APPROVED_URL}/;Deployment=o3"}
    ctx = context(endpoints=[endpoint(deployments=[{"name": "gpt-4o"}])])
    assert codes(judge(pod(container(env=env)), ctx)) == ["DeploymentNotAllowed"]


def test_an_endpoint_that_is_no_absolute_url_is_malformed_since_aspire_would_call_openai_instead() -> None:
    env = {"ConnectionStrings__openai": "Endpoint=contoso-eastus.openai.azure.com;Key=k"}
    decision = judge(pod(container(env=env)))
    assert codes(decision) == ["MalformedEndpointURL"]
    assert "api.openai.com" in decision.violations[0].message


def test_a_connection_string_that_is_a_bare_url_is_judged_as_its_endpoint() -> None:
    decision = judge(pod(container(env={"ConnectionStrings__openai": "https://api.openai.com/v1"})))
    assert codes(decision) == ["EndpointNotApproved"]


def test_a_gateway_endpoint_is_recognised_by_the_keys_only_openai_clients_read() -> None:
    env = {"ConnectionStrings__llm": "Endpoint=https://llm.corp.example/openai;Key=k;Deployment=gpt-4o"}
    assert codes(judge(pod(container(env=env)))) == ["EndpointNotApproved"]


def test_a_connection_string_from_a_config_map_is_judged() -> None:
    c = container(env=None, envFrom=[{"configMapRef": {"name": "app"}}])
    ctx = context(config_maps={("apps", "app"): {"ConnectionStrings__openai": "Key=k"}}, policies=UNMANAGED_ALLOWED)
    assert codes(judge(pod(c, app="nobody"), ctx)) == ["DefaultOpenAIEndpoint"]


def test_an_openai_connection_string_from_a_secret_is_not_visible_and_says_what_to_do() -> None:
    c = container(env=None)
    c["env"] = [{"name": "ConnectionStrings__openai", "valueFrom": SECRET}]
    decision = judge(pod(c, app="nobody"), context(policies=UNMANAGED_ALLOWED))
    assert codes(decision) == ["EndpointNotVisible"]
    assert "Aspire__OpenAI__Endpoint" in decision.violations[0].message


def test_an_endpoint_built_from_a_secret_value_is_not_visible() -> None:
    c = container(env=None)
    c["env"] = [
        {"name": "HOST", "valueFrom": SECRET},
        {"name": "ConnectionStrings__chat", "value": "Endpoint=https://$(HOST)/;Deployment=gpt-4o"},
    ]
    assert codes(judge(pod(c, app="nobody"), context(policies=UNMANAGED_ALLOWED))) == ["EndpointNotVisible"]


def test_a_key_from_a_secret_inside_a_visible_connection_string_is_fine() -> None:
    c = container(env=None)
    c["env"] = [
        {"name": "KEY", "valueFrom": SECRET},
        {"name": "ConnectionStrings__openai", "value": f"Endpoint={APPROVED_URL}/;Key=$(KEY)"},
    ]
    decision = judge(pod(c))
    assert decision.allowed, decision.violations
    assert not any("literal Key" in w for w in decision.warnings)


def test_a_literal_key_in_a_connection_string_is_warned_about() -> None:
    decision = judge(pod(container(env={"ConnectionStrings__openai": f"Endpoint={APPROVED_URL}/;Key=sk-1"})))
    assert any("literal Key" in w for w in decision.warnings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ServiceBus", "Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=abc="),
        (
            "Storage",
            "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=YWJj==;EndpointSuffix=core.windows.net",
        ),
        ("Default", "Server=tcp:shop.database.windows.net,1433;Database=shop;User ID=app;Password=p@ss;"),
        ("postgres", "Host=db;Port=5432;Database=shop;Username=app;Password=secret"),
        ("search", "Endpoint=https://shop.search.windows.net;Key=abc"),
        ("qdrant", "Endpoint=http://qdrant:6334;Key=abc"),
        ("config", "Endpoint=https://shop.azconfig.io;Id=abc;Secret=def"),
        ("ollama", "Endpoint=http://ollama:11434;Model=llama3"),
        ("cache", "cache:6379,password=abc,ssl=True"),
        ("broken", "Server='unterminated"),
    ],
)
def test_other_connection_strings_are_not_openai_traffic(name: str, value: str) -> None:
    decision = judge(unmanaged({f"ConnectionStrings__{name}": value}))  # unmanaged: Deny
    assert decision.allowed, decision.violations
    assert decision.outcome is Outcome.NOT_APPLICABLE


def test_a_database_connection_string_from_a_secret_is_not_flagged() -> None:
    c = container(env=None)
    c["env"] = [{"name": "ConnectionStrings__Default", "valueFrom": SECRET}]
    assert judge(pod(c, app="nobody")).outcome is Outcome.NOT_APPLICABLE


def test_a_model_host_in_another_connection_string_is_still_found() -> None:
    value = "Server=db;OpenAIUrl=https://api.openai.com/v1"
    assert codes(judge(pod(container(env={"ConnectionStrings__Default": value})))) == ["EndpointNotApproved"]


# --- Section__Key settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "variable", ["AzureOpenAI__Endpoint", "OpenAI__Endpoint", "Aspire__OpenAI__Endpoint", "AZUREOPENAI__ENDPOINT"]
)
def test_section_key_endpoint_settings_are_judged(variable: str) -> None:
    assert codes(judge(pod(container(env={variable: "https://api.openai.com/v1"})))) == ["EndpointNotApproved"]


def test_an_approved_section_key_endpoint_is_compliant() -> None:
    decision = judge(pod(container(env={"AzureOpenAI__Endpoint": APPROVED_URL})))
    assert decision.outcome is Outcome.COMPLIANT


def test_a_workload_of_another_channel_gets_its_own_message() -> None:
    ctx = context(workloads=[workload(channel="OpenAI")], endpoints=[endpoint(channels=["Microsoft"])])
    assert codes(judge(pod(container(env={"ConnectionStrings__openai": "Key=k"})), ctx)) == ["ChannelNotAllowed"]


# --- Aspire's own key setting --------------------------------------------------------------------


def test_an_aspire_key_with_no_endpoint_anywhere_calls_api_openai_com() -> None:
    c = container(env=None)
    c["env"] = [{"name": "Aspire__OpenAI__Key", "valueFrom": SECRET}]
    decision = judge(pod(c, app="nobody"), context(policies=UNMANAGED_ALLOWED))
    assert codes(decision) == ["DefaultOpenAIEndpoint"]
    assert "Aspire__OpenAI__Key" in decision.violations[0].message


@pytest.mark.parametrize(
    "endpoint_setting",
    [
        {"Aspire__OpenAI__Endpoint": APPROVED_URL + "/openai/v1"},
        {"Aspire__OpenAI__chat__ClientOptions__Endpoint": APPROVED_URL + "/openai/v1"},
        {"ConnectionStrings__chat": f"Endpoint={APPROVED_URL}/openai/v1;IsAzure=false"},
    ],
)
def test_an_aspire_key_takes_the_endpoint_given_elsewhere(endpoint_setting: dict[str, str]) -> None:
    env = {"Aspire__OpenAI__chat__Key": "k", **endpoint_setting}
    decision = judge(unmanaged(env), context(policies=UNMANAGED_ALLOWED))
    assert codes(decision) == []


def test_an_aspire_key_beside_an_openai_connection_string_from_a_secret_is_not_visible_only() -> None:
    c = container(env={"Aspire__OpenAI__Key": "k"})
    c["env"].append({"name": "ConnectionStrings__openai", "valueFrom": SECRET})
    assert codes(judge(pod(c, app="nobody"), context(policies=UNMANAGED_ALLOWED))) == ["EndpointNotVisible"]
