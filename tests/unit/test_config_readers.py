"""The configuration file readers: what each format's own library reads, bounded work on hostile
files, a clear reason for every file that cannot be read, never a crash."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import javaproperties
import pytest
import yaml
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelroute.engine.configfiles import MAX_DEPTH, MAX_FILE_CHARS, MAX_VALUES, Format, flatten, read

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
VALUES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)
SCALARS = st.one_of(st.integers(), st.booleans(), VALUES)
NESTED = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, min_size=1, max_size=3) | st.dictionaries(KEYS, children, min_size=1, max_size=3)
    ),
    max_leaves=12,
)


def as_dict(fmt: Format, text: str) -> dict[str, str | None]:
    reading = read(fmt, text)
    assert reading.error is None, reading.error
    return {entry.key: entry.value for entry in reading.entries}


# -- dotenv ------------------------------------------------------------------------------------------


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_dotenv_reads_exactly_what_python_dotenv_loads(text: str) -> None:
    reading = read(Format.DOTENV, text)
    if reading.error is not None:
        assert "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)
        return
    ours = {e.key: e.value for e in reading.entries}
    assert ours == dotenv_values(stream=io.StringIO(text), interpolate=False)


def test_dotenv_export_quotes_and_comments() -> None:
    text = "export OPENAI_BASE_URL=\"https://api.openai.com/v1\" # prod\nOPENAI_API_KEY='sk-x'\n# X=1\n"
    assert as_dict(Format.DOTENV, text) == {"OPENAI_BASE_URL": "https://api.openai.com/v1", "OPENAI_API_KEY": "sk-x"}


# -- Java properties -------------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.dictionaries(st.text(max_size=12), VALUES, max_size=8))
def test_properties_read_back_what_java_properties_writes(data: dict[str, str]) -> None:
    assert as_dict(Format.PROPERTIES, javaproperties.dumps(data, timestamp=False)) == data


def test_properties_separators_escapes_and_continuations() -> None:
    text = "a.b = https\\://api.openai.com\\\n    /v1\nc:d\ne f\n"
    assert as_dict(Format.PROPERTIES, text) == {"a.b": "https://api.openai.com/v1", "c": "d", "e": "f"}


def test_every_document_of_a_multi_document_properties_file_is_kept() -> None:
    text = "x=1\n#---\nspring.config.activate.on-profile=prod\nx=2\n"
    entries = read(Format.PROPERTIES, text).entries
    assert [(e.key, e.value, e.condition) for e in entries if e.key == "x"] == [
        ("x", "1", ""),
        ("x", "2", "on-profile prod"),
    ]


def test_an_invalid_unicode_escape_makes_a_properties_file_unreadable() -> None:
    assert "not a valid properties file" in (read(Format.PROPERTIES, "a=\\u12G4\n").error or "")


# -- YAML and appsettings.json -----------------------------------------------------------------------


@settings(max_examples=150)
@given(st.dictionaries(KEYS, NESTED, min_size=1, max_size=4))
def test_spring_yaml_flattens_as_spring_binds_it(data: dict[str, Any]) -> None:
    got = as_dict(Format.YAML, yaml.safe_dump(data))
    assert got == dict(flatten(data, ".", "[]"))


def test_spring_yaml_keys_and_indexes() -> None:
    text = "spring:\n  ai:\n    openai:\n      base-url: https://x\n  list: [a, {b: c}]\n"
    assert as_dict(Format.YAML, text) == {
        "spring.ai.openai.base-url": "https://x",
        "spring.list[0]": "a",
        "spring.list[1].b": "c",
    }


@settings(max_examples=150)
@given(st.dictionaries(KEYS, NESTED, min_size=1, max_size=4))
def test_appsettings_flattens_to_section_colon_key(data: dict[str, Any]) -> None:
    got = as_dict(Format.APPSETTINGS, json.dumps(data))
    assert got == dict(flatten(data, ":", ":"))


def test_appsettings_sections() -> None:
    text = '{"AzureOpenAI": {"Endpoint": "https://x/", "Models": ["a", {"Name": "b"}]}}'
    assert as_dict(Format.APPSETTINGS, text) == {
        "AzureOpenAI:Endpoint": "https://x/",
        "AzureOpenAI:Models:0": "a",
        "AzureOpenAI:Models:1:Name": "b",
    }


# -- hostile files ---------------------------------------------------------------------------------


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("fmt", "text", "reason"),
    [
        (Format.YAML, ALIAS_BOMB, f"more than {MAX_VALUES} values"),
        (Format.YAML, "a: &a [*a]\n", "deeper than"),
        (Format.YAML, "a: " + "[" * 200 + "]" * 200, f"deeper than {MAX_DEPTH}"),
        (Format.YAML, "a: [\n", "not valid YAML"),
        (Format.YAML, "- a\n- b\n", "not a mapping"),
        (Format.YAML, "a: !!python/object:os.system x\n", "not valid YAML"),
        (Format.APPSETTINGS, "[" * 100_000 + "]" * 100_000, "deeper than"),
        (Format.APPSETTINGS, '{"a": 1,,}', "not valid JSON (at line 1"),
        (Format.APPSETTINGS, "[1]", "not a JSON object"),
        (Format.DOTENV, "A=" + "x" * (MAX_FILE_CHARS + 1), "larger than"),
        (Format.DOTENV, "A=\x00\x01\x02", "binary"),
        (Format.PROPERTIES, "a=\udcff", "not valid UTF-8"),
    ],
    ids=["alias-bomb", "recursive-alias", "deep-yaml", "bad-yaml", "yaml-list", "python-tag", "deep-json",
         "double-comma", "json-list", "huge", "binary", "surrogate"],
)  # fmt: skip
def test_a_hostile_file_is_refused_quickly_with_a_reason(fmt: Format, text: str, reason: str) -> None:
    started = time.perf_counter()
    reading = read(fmt, text)
    assert time.perf_counter() - started < 2.0
    assert reading.error is not None
    assert reason in reading.error
    assert reading.entries == ()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(Format)), st.text(max_size=300))
def test_any_text_in_any_format_is_read_or_refused_never_a_crash(fmt: Format, text: str) -> None:
    reading = read(fmt, text)
    assert (reading.error is None) or (reading.entries == () and reading.error)
    assert len(reading.entries) <= MAX_VALUES


def test_a_reading_is_cached_by_format_and_text() -> None:
    text = "A=1\n"
    assert read(Format.DOTENV, text) is read(Format.DOTENV, "".join(["A=1", "\n"]))
    assert read(Format.PROPERTIES, text) is not read(Format.DOTENV, text)
