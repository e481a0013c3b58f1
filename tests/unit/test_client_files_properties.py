"""Whatever a ConfigMap holds, the client file readers answer destinations or ConfigFileError, in
bounded time: never another exception, never a hang."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelroute.engine.clientfiles import (
    ConfigFileError,
    FileDestination,
    codex_destinations,
    litellm_config_paths,
    litellm_destinations,
    litellm_includes,
    oai_config_list_destinations,
    resolve,
)

Reader = Callable[[str], tuple[FileDestination, ...]]
READERS: tuple[Reader, ...] = (litellm_destinations, codex_destinations, oai_config_list_destinations)
SLOW = 2.0  # seconds: far above any real file, far below a hang

# any code point, lone surrogates (what invalid UTF-8 becomes with surrogateescape) and NUL included
hostile_text = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=400)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["openai/gpt-4o", "azure/x", "os.environ/OPENAI_BASE_URL", "https://api.openai.com/v1"]),
)
keys = st.sampled_from(
    [
        "model_list",
        "litellm_params",
        "model",
        "api_base",
        "base_url",
        "model_name",
        "litellm_settings",
        "environment_variables",
        "OPENAI_BASE_URL",
        "model_provider",
        "model_providers",
        "profiles",
        "profile",
        "openai_base_url",
        "api_type",
        "azure_endpoint",
        "include",
    ]
) | st.text(max_size=8)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=30
)


def answers_or_refuses(reader: Reader, text: str) -> None:
    start = time.perf_counter()
    try:
        found = reader(text)
    except ConfigFileError as error:
        refused = str(error)
        assert refused
    else:
        assert isinstance(found, tuple)
        assert all(isinstance(d, FileDestination) for d in found)
        for d in found:
            resolve(d, {"OPENAI_BASE_URL": "https://x.example/v1", "AZURE_API_BASE": None})
    assert time.perf_counter() - start < SLOW


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_text)
def test_any_text_is_answered_or_refused(text: str) -> None:
    for reader in READERS:
        answers_or_refuses(reader, text)
    with contextlib.suppress(ConfigFileError):
        litellm_includes(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_yaml_document_is_answered_or_refused(document: Any) -> None:
    answers_or_refuses(litellm_destinations, yaml.safe_dump(document))
    answers_or_refuses(litellm_destinations, yaml.safe_dump({"model_list": [document]}))
    answers_or_refuses(
        litellm_destinations, yaml.safe_dump({"model_list": [{"model_name": "m", "litellm_params": document}]})
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_json_document_is_answered_or_refused(document: Any) -> None:
    answers_or_refuses(oai_config_list_destinations, json.dumps(document))
    answers_or_refuses(oai_config_list_destinations, json.dumps([document]))


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, documents, max_size=5))
def test_any_toml_document_is_answered_or_refused(document: dict[str, Any]) -> None:
    text = "\n".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in document.items() if v is not None)
    answers_or_refuses(codex_destinations, text)


@settings(max_examples=60)
@given(st.integers(1, 12), st.integers(2, 12))
def test_alias_bombs_of_any_shape_are_refused_quickly(levels: int, width: int) -> None:
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    text = "\n".join(lines) + "\n"
    expanded = sum(width**i for i in range(1, levels + 1))
    start = time.perf_counter()
    try:
        litellm_destinations(text)
    except ConfigFileError as error:
        refused = str(error)
        assert "aliases" in refused
        assert expanded > 100_000
    else:
        assert expanded <= 400_000
    assert time.perf_counter() - start < SLOW


@settings(max_examples=300)
@given(st.lists(st.text(max_size=20), max_size=8), st.dictionaries(st.text(max_size=20), st.none() | st.text()))
def test_any_command_line_gives_at_most_one_config_path(argv: list[str], env: dict[str, str | None]) -> None:
    assert len(litellm_config_paths(argv, env)) <= 1


def test_deep_nesting_in_every_format_is_refused_quickly() -> None:
    for reader, text in (
        (litellm_destinations, "[" * 200_000),
        (litellm_destinations, "a:\n" + "".join(" " * i + "- \n" for i in range(2000))),
        (codex_destinations, "a = " + "[" * 200_000),
        (oai_config_list_destinations, "[" * 200_000),
        (oai_config_list_destinations, '{"a":' * 100_000),
    ):
        answers_or_refuses(reader, text)
