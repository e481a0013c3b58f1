""".NET settings files (`appsettings*.json`) are read as .NET's JSON configuration provider reads them
(Microsoft.Extensions.Configuration.Json `JsonConfigurationFileParser`: a StreamReader that drops a
byte order mark, then System.Text.Json with comments skipped and trailing commas allowed): a file .NET
loads is judged by its values, never refused for its BOM, comments or commas; a file .NET refuses is
still UnreadableConfigFile, saying what and where."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from builders import APPROVED_URL, codes, container, context, judge, pod
from hypothesis import given, settings
from hypothesis import strategies as st

from modelroute.engine.configfiles import Format, flatten, read
from modelroute.engine.verdict import Outcome

BOM = "\ufeff"
OPENAI = "https://api.openai.com/v1"


def settings_pod(text: str, *, app: str = "chat") -> tuple[dict[str, Any], dict[Any, dict[str, str]]]:
    app_container = container(volumeMounts=[{"name": "conf", "mountPath": "/app"}], workingDir="/app")
    obj = pod(app_container, app=app, volumes=[{"name": "conf", "configMap": {"name": "web-settings"}}])
    return obj, {("apps", "web-settings"): {"appsettings.json": text}}


def decide(text: str, *, app: str = "chat") -> Any:
    obj, config_maps = settings_pod(text, app=app)
    return judge(obj, context(config_maps=config_maps))


def entries(text: str) -> dict[str, str | None]:
    reading = read(Format.APPSETTINGS, text)
    assert reading.error is None, reading.error
    return {entry.key: entry.value for entry in reading.entries}


COMMENTED = f"""\
{{
  // the upstream; {OPENAI} was the old one
  "AzureOpenAI": {{
    /* {OPENAI}
       is not used any more */
    "Endpoint": "{APPROVED_URL}/", // approved
    "Deployment": "gpt-4o",
  }},
  "Logging": {{ "LogLevel": {{ "Default": "Information", }}, }},
  "AllowedHosts": ["*", ],
}}
"""


# -- what .NET loads is read ----------------------------------------------------------------------


def test_a_byte_order_mark_is_not_part_of_the_settings() -> None:
    # Visual Studio saves appsettings.json as UTF-8 with a BOM; .NET's StreamReader drops it
    assert entries(BOM + '{"AzureOpenAI": {"Endpoint": "https://x/"}}') == {"AzureOpenAI:Endpoint": "https://x/"}


def test_comments_and_trailing_commas_are_read_as_dotnet_reads_them() -> None:
    assert entries(COMMENTED) == {
        "AzureOpenAI:Endpoint": APPROVED_URL + "/",
        "AzureOpenAI:Deployment": "gpt-4o",
        "Logging:LogLevel:Default": "Information",
        "AllowedHosts:0": "*",
    }


@pytest.mark.parametrize(
    "text",
    [
        BOM + f'{{"AzureOpenAI": {{"Endpoint": "{APPROVED_URL}/"}}}}',
        COMMENTED,
        BOM + COMMENTED,
    ],
    ids=["bom", "comments-and-commas", "bom-comments-and-commas"],
)
def test_a_covered_pod_whose_settings_name_the_approved_endpoint_is_compliant(text: str) -> None:
    decision = decide(text)
    assert codes(decision) == []
    assert decision.outcome is Outcome.COMPLIANT


def test_a_url_in_a_comment_is_no_destination() -> None:
    # .NET skips comments: a URL there configures nothing, in a covered pod or an unmanaged one
    assert OPENAI not in "".join(v or "" for v in entries(COMMENTED).values())
    assert codes(decide(COMMENTED, app="web")) == ["UnmanagedOpenAITraffic"]  # the approved Endpoint is a signal
    only_comment = BOM + f'{{\n  // "Endpoint": "{OPENAI}",\n  "Logging": {{"LogLevel": {{"Default": "Warning"}}}},\n}}'
    assert codes(decide(only_comment, app="web")) == []
    assert codes(decide(only_comment)) == []


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (BOM + f'{{"AzureOpenAI": {{"Endpoint": "{OPENAI}", }}, }}', "EndpointNotApproved"),
        ('{\n  /* prod */\n  "ConnectionStrings": {"openai": "Key=sk-x",} // no Endpoint\n}', "DefaultOpenAIEndpoint"),
    ],
    ids=["endpoint-value", "connection-string-without-endpoint"],
)  # fmt: skip
def test_a_value_that_routes_elsewhere_is_judged_in_a_file_with_bom_comments_and_commas(text: str, code: str) -> None:
    decision = decide(text)
    assert code in codes(decision)
    assert "UnreadableConfigFile" not in codes(decision)
    assert "/app/appsettings.json" in " ".join(v.message for v in decision.violations)


def test_a_connection_string_in_the_settings_is_told_to_get_an_approved_endpoint() -> None:
    decision = decide('{"ConnectionStrings": {"openai": "Key=sk-x"}}')
    assert codes(decision) == ["DefaultOpenAIEndpoint"]
    message = decision.violations[0].message
    assert "ConnectionStrings:openai in /app/appsettings.json" in message
    assert (
        "set the Endpoint of ConnectionStrings:openai in ConfigMap apps/web-settings key 'appsettings.json'" in message
    )
    assert "inject.profiles: [Aspire] writes" not in message  # the profile writes env, never the file


KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
VALUES = st.one_of(st.integers(), st.booleans(), st.none(), st.text(st.characters(codec="utf-8"), max_size=20))
SETTINGS = st.dictionaries(
    KEYS,
    st.recursive(
        VALUES,
        lambda inner: st.lists(inner, min_size=1, max_size=3) | st.dictionaries(KEYS, inner, min_size=1, max_size=3),
        max_leaves=10,
    ),
    max_size=4,
)
GAPS = st.sampled_from(["", " ", "\n  ", " // a note, with a comma, and {braces}\n", "/* [x], */", "\n/* a\n b */ "])


def written_as_people_write_it(data: Any, draw: Any) -> str:
    """JSON with comments between the tokens and a trailing comma after some last members."""

    def gap() -> str:
        return str(draw(GAPS))

    if isinstance(data, dict):
        members = [
            f"{gap()}{json.dumps(k)}{gap()}:{gap()}{written_as_people_write_it(v, draw)}" for k, v in data.items()
        ]
        trailing = "," if members and draw(st.booleans()) else ""
        return "{" + ",".join(members) + trailing + gap() + "}"
    if isinstance(data, list):
        items = [gap() + written_as_people_write_it(v, draw) for v in data]
        trailing = "," if draw(st.booleans()) else ""
        return "[" + ",".join(items) + trailing + gap() + "]"
    return json.dumps(data)


@settings(max_examples=200)
@given(SETTINGS, st.booleans(), st.data())
def test_comments_commas_and_a_bom_never_change_the_settings_read(data: Any, bom: bool, draw: Any) -> None:
    text = (BOM if bom else "") + written_as_people_write_it(data, draw.draw)
    assert entries(text) == dict(flatten(data, ":", ":"))


def test_an_aspire_key_in_the_settings_with_no_endpoint_anywhere_goes_to_openai() -> None:
    # Aspire's OpenAIClient without an Endpoint calls api.openai.com, as with Aspire__OpenAI__Key in env
    text = BOM + '{\n  // the key only\n  "Aspire": {"OpenAI": {"Key": "sk-x",}},\n}'
    decision = decide(text)
    assert codes(decision) == ["DefaultOpenAIEndpoint"]
    assert "Aspire:OpenAI:Key in /app/appsettings.json" in decision.violations[0].message
    assert decision.violations[0].field == "spec.containers[0].volumeMounts[0]"
    with_endpoint = f'{{"Aspire": {{"OpenAI": {{"Key": "sk-x", "Endpoint": "{APPROVED_URL}/openai/v1/"}}}}}}'
    assert codes(decide(with_endpoint)) == []


# -- what .NET refuses is still unreadable -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{\n  "AzureOpenAI": {\n    "Endpoint" "https://x/"\n  }\n}', "line 3"),
        ('{\n  "a": 1,,\n}', "line 2"),
        ('{"a": 1}\n/* never closed', "line 2"),
        ("{'a': 'single quotes'}", "line 1"),
        ('{"a": 1} {"b": 2}', "line 1"),
        ('["not", "an", "object"]', "not a JSON object"),
        (BOM, "line 1"),
    ],
    ids=["missing-colon", "double-comma", "open-comment", "single-quotes", "two-roots", "array", "empty"],
)
def test_json_that_dotnet_refuses_is_unreadable_saying_where(text: str, where: str) -> None:
    reading = read(Format.APPSETTINGS, text)
    assert reading.error is not None
    assert where in reading.error
    decision = decide(text)
    assert codes(decision) == ["UnreadableConfigFile"]
    assert "/app/appsettings.json" in decision.violations[0].message
    assert where in decision.violations[0].message


def test_the_line_of_an_error_is_right_after_multi_byte_characters() -> None:
    # the parser reports a byte offset; multi-byte characters before it do not shift the line
    reading = read(Format.APPSETTINGS, '{\n  "Größe€": "ä",\n  "b" 1\n}')
    assert reading.error is not None
    assert "line 3" in reading.error


@pytest.mark.parametrize(
    "text",
    [
        '{"a": ' + "[" * 65 + "]" * 65 + "}",
        '{"a": ' + "[" * 500_000 + "]" * 500_000 + "}",
        '{"a": ' + "[/* ] */" * 65 + "]" * 65 + "}",
    ],
    ids=["just-too-deep", "a-million-brackets", "brackets-in-comments-count-nothing"],
)
def test_settings_nested_deeper_than_dotnet_reads_are_refused_before_parsing(text: str) -> None:
    # .NET's JsonDocument refuses more than 64 levels; the parser's own stack is never the limit,
    # whatever the interpreter's recursion limit (the check runs in a process that raised it)
    script = (
        "import sys; sys.setrecursionlimit(10**7)\n"
        "from modelroute.engine.configfiles import Format, read\n"
        "print(read(Format.APPSETTINGS, sys.stdin.read()).error)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "nested deeper than 64 levels" in done.stdout
    assert entries('{"a": ' + "[/* [[[ */" * 63 + "]" * 63 + "}") == {}
