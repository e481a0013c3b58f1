"""No secret in any sink: a marker planted in every position of a URL (user information, each path
segment, query, fragment, and a path expanded from $(OPENAI_API_KEY)) never reaches the engine's
messages, the CLI's text or JSON output, an Event or a policy report."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from planted import KEY, MARKER, PLANTED_URLS, planted_pod
from tests.unit.builders import endpoint_manifest, policy_manifest, workload_manifest
from tests.unit.command_line import modelroute

from modelroute.api.kinds import OPENREPORTS
from modelroute.cli.manifests import build_context, read_documents
from modelroute.cluster.events import event_body
from modelroute.engine import hosts
from modelroute.engine.audit import audit
from modelroute.engine.evaluate import evaluate
from modelroute.engine.redaction import REDACTED_SEGMENT, redact_path, redact_text, redact_url
from modelroute.engine.reports import workload_reports

CONTOSO = "https://contoso.openai.azure.com"
ENDPOINT = endpoint_manifest(url=CONTOSO, deployments=[{"name": "gpt-4o", "model": "gpt-4o"}])
WORKLOAD = workload_manifest(namespace="default", procurement={"channel": "Microsoft", "reference": "PO-1"})
POLICY = policy_manifest("warn", enforcement="Warn")


def all_pods() -> list[dict[str, Any]]:
    return [planted_pod(p, app) for p in PLANTED_URLS for app in ("nobody", "chat")]


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("planted") / "planted.yaml"
    path.write_text(yaml.safe_dump_all([ENDPOINT, WORKLOAD, POLICY, *all_pods()]))
    return path


def decisions(path: Path) -> list[Any]:
    documents = read_documents([str(path)])
    context = build_context(documents, "default", "modelroute-system")
    return [evaluate(d.obj, context) for d in documents if d.kind == "Pod"]


def test_every_planted_url_is_judged_and_reported(manifests: Path) -> None:
    judged = decisions(manifests)
    assert len(judged) == 2 * len(PLANTED_URLS)
    assert all(d.violations or d.warnings for d in judged)


def test_no_marker_in_the_engines_messages(manifests: Path) -> None:
    for decision in decisions(manifests):
        texts = [v.message for v in decision.violations] + list(decision.warnings) + [decision.denial_message]
        texts += [json.dumps(decision.annotations)]
        assert not [t for t in texts if MARKER in t]


@pytest.mark.parametrize("output", ["text", "json"])
def test_no_marker_in_the_cli_output(manifests: Path, output: str) -> None:
    result = modelroute("check", str(manifests), "-o", output)
    assert result.returncode == 0, result.stderr  # Warn: reported, not denied
    assert "api.openai.com" in result.stdout
    assert MARKER not in result.stdout  # the JSON patch included: it is shown redacted
    assert MARKER not in result.stderr


def test_no_marker_in_policy_reports_or_events(manifests: Path) -> None:
    documents = read_documents([str(manifests)])
    context = build_context(documents, "default", "modelroute-system")
    pods = [d.obj for d in documents if d.kind == "Pod"]
    reports = workload_reports(audit(pods, context), OPENREPORTS, seconds=0)
    assert reports
    assert MARKER not in json.dumps(list(reports.values()))
    now = datetime.datetime.now(datetime.UTC)
    for pod, decision in zip(pods, decisions(manifests), strict=True):
        for message in (decision.denial_message, *decision.warnings):
            assert MARKER not in json.dumps(event_body(pod, "default", "Warning", "RouteViolation", message, now))


def test_an_event_message_with_a_raw_url_is_redacted_at_the_sink() -> None:
    now = datetime.datetime.now(datetime.UTC)
    body = event_body({"metadata": {"name": "p"}}, "default", "Warning", "X", PLANTED_URLS["path-last"], now)
    assert body["message"] == f"https://api.openai.com/v1/{REDACTED_SEGMENT}"


@pytest.mark.parametrize("position", sorted(PLANTED_URLS))
def test_redact_text_keeps_scheme_host_port_and_api_words_only(position: str) -> None:
    text = f"calls {PLANTED_URLS[position].replace('$(OPENAI_API_KEY)', KEY)} now"
    redacted = redact_text(text)
    assert MARKER not in redacted
    assert redacted.startswith("calls https://")
    assert redacted.endswith(" now")


def test_a_redacted_url_shows_origin_port_and_api_path() -> None:
    url = hosts.parse_url(f"https://u:{MARKER}@contoso.openai.azure.com:8443/openai/deployments/{MARKER}/chat?k=1")
    assert redact_url(url) == f"https://contoso.openai.azure.com:8443/openai/deployments/{REDACTED_SEGMENT}/chat"
    assert redact_path("/openai/v1/2024-10-21/responses") == "/openai/v1/2024-10-21/responses"


@given(st.text(max_size=200))
def test_redact_text_is_idempotent(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


@given(st.from_regex(r"[A-Za-z0-9._~%!$&()*+,;=:@-]{8,40}", fullmatch=True))
def test_no_path_segment_outside_the_api_words_survives(secret: str) -> None:
    redacted = redact_text(f"https://api.openai.com/v1/{secret}x/chat")
    assert f"{secret}x" not in redacted
    assert redacted.startswith("https://api.openai.com/v1/")


def test_prose_punctuation_after_a_url_stays_with_the_prose() -> None:
    from modelroute.engine.redaction import redact_text

    text = "(so the OpenAI SDKs would call https://api.openai.com/v1) [DefaultOpenAIEndpoint]"
    assert redact_text(text) == text
    assert redact_text("call https://api.openai.com/Zq7sekret2/v1).") == "call https://api.openai.com/<redacted>/v1)."
