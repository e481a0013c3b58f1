"""The chart's operations pack, checked by a real promtool: the PrometheusRule is valid, every alert fires
from synthetic series and stays quiet on healthy ones (alerts_test.yaml), every alert links its runbook and is
listed in docs/operating.md, every dashboard query is PromQL promtool parses, and every ModelRoute metric the rules
and the dashboard read is one the operator exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelroute.observability import Metrics
from tests.monitoring.conftest import CHART, REPO_ROOT, render

HERE = Path(__file__).resolve().parent
UNIT_TESTS = HERE / "alerts_test.yaml"
DASHBOARD = CHART / "dashboards" / "modelroute.json"
RUNBOOKS = REPO_ROOT / "docs" / "runbooks.md"
OPERATING = REPO_ROOT / "docs" / "operating.md"
ENABLED = ["--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true"]
#: what Grafana substitutes before a query reaches Prometheus, as it would substitute them
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
    return found[0]


def dashboards(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ConfigMaps holding the dashboard (the chart renders others, e.g. the CRD upgrade hook's)."""
    return [d for d in docs if d["kind"] == "ConfigMap" and "modelroute.json" in (d.get("data") or {})]


def promtool_run(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def rendered(helm: Path) -> list[dict[str, Any]]:
    return documents(render(helm, *ENABLED).stdout)


@pytest.fixture(scope="module")
def rules(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups = one(rendered, "PrometheusRule")["spec"]["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.fixture(scope="module")
def rule_file(rendered: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PrometheusRule's spec as a Prometheus rule file."""
    directory = tmp_path_factory.mktemp("rules")
    spec = one(rendered, "PrometheusRule")["spec"]
    (directory / "rules.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return directory / "rules.yaml"


def unit_test_directory(spec: dict[str, Any], directory: Path) -> Path:
    """rules.yaml for promtool test rules beside alerts_test.yaml. The annotations are left out: promtool
    compares them whole, and their wording is checked elsewhere (check rules parses their templates, the
    runbook test reads their links); the unit tests are about when each alert fires and with which labels."""
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (directory / "rules.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    shutil.copy(UNIT_TESTS, directory / UNIT_TESTS.name)
    return directory


def alert_names(rules: list[dict[str, Any]]) -> list[str]:
    return [rule["alert"] for rule in rules if "alert" in rule]


# --- the rules --------------------------------------------------------------------------------------


def test_monitoring_objects_are_rendered_only_when_asked_for(helm: Path) -> None:
    kinds = {d["kind"] for d in documents(render(helm).stdout)}
    assert "PrometheusRule" not in kinds
    assert dashboards(documents(render(helm).stdout)) == []


def test_the_rendered_rules_pass_promtool_check_rules(promtool: Path, rule_file: Path) -> None:
    checked = promtool_run(
        promtool, "check", "rules", "--lint=all", "--lint-fatal", str(rule_file), cwd=rule_file.parent
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout


def test_every_alert_fires_from_synthetic_series_and_stays_quiet_without_them(
    promtool: Path, rule_file: Path, rules: list[dict[str, Any]], tmp_path: Path
) -> None:
    directory = unit_test_directory(yaml.safe_load(rule_file.read_text()), tmp_path)
    tested = promtool_run(promtool, "test", "rules", UNIT_TESTS.name, cwd=directory)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
    cases = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = set(alert_names(rules))
    assert firing == names, "every alert needs a test in which it fires, and only real alerts are tested"
    assert quiet == names, "every alert needs a test in which it stays quiet"


def test_a_broken_rule_fails_the_unit_tests(promtool: Path, rule_file: Path, tmp_path: Path) -> None:
    """The unit tests can fail: the same tests against rules whose leader alert never fires."""
    spec = yaml.safe_load(rule_file.read_text())
    for group in spec["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "ModelRouteNoLeader":
                rule["expr"] = "vector(1) < 0"
    directory = unit_test_directory(spec, tmp_path)
    tested = promtool_run(promtool, "test", "rules", UNIT_TESTS.name, cwd=directory)
    assert tested.returncode != 0
    assert "ModelRouteNoLeader" in tested.stdout + tested.stderr


def test_disabled_alerts_are_left_out(helm: Path) -> None:
    docs = documents(render(helm, *ENABLED, "--set", "prometheusRule.disabled.ModelRouteNoLeader=true").stdout)
    names = [r.get("alert") for g in one(docs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    assert "ModelRouteNoLeader" not in names
    assert "ModelRouteWebhookUnavailable" in names


def test_thresholds_and_selectors_come_from_values(helm: Path) -> None:
    docs = documents(
        render(
            helm,
            *ENABLED,
            "--set-json",
            "prometheusRule.latencyBudgetSeconds=0.25",
            "--set-string",
            'prometheusRule.operatorSelector=job="mr"',
            "--set",
            "prometheusRule.alertLabels.team=platform",
        ).stdout
    )
    by_name = {r["alert"]: r for g in one(docs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]}
    assert "> 0.25" in by_name["ModelRouteAdmissionLatencyHigh"]["expr"]
    assert 'up{job="mr"}' in by_name["ModelRouteOperatorDown"]["expr"]
    assert all(rule["labels"]["team"] == "platform" for rule in by_name.values())


def test_every_alert_is_critical_warning_or_info(rules: list[dict[str, Any]]) -> None:
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in rules}
    assert set(severities.values()) <= {"critical", "warning", "info"}
    # the alerts that mean pods cannot be admitted page
    assert severities["ModelRouteWebhookUnavailable"] == severities["ModelRouteOperatorDown"] == "critical"


def _headings(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_every_alert_links_its_own_runbook_section(rules: list[dict[str, Any]]) -> None:
    anchors = _headings(RUNBOOKS.read_text())
    for rule in rules:
        url = rule["annotations"]["runbook_url"]
        base, _, anchor = url.partition("#")
        assert base.endswith("docs/runbooks.md"), url
        assert anchor == rule["alert"].lower()
        assert anchor in anchors, f"docs/runbooks.md has no section {rule['alert']}"
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


def test_the_operating_guide_lists_every_alert_with_its_runbook(rules: list[dict[str, Any]]) -> None:
    guide = OPERATING.read_text()
    for name in alert_names(rules):
        assert f"[`{name}`](runbooks.md#{name.lower()})" in guide, name


# --- the dashboard ----------------------------------------------------------------------------------


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    queries = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            queries.extend(target["expr"] for target in panel.get("targets", []))
            walk(panel.get("panels", []))

    walk(board["panels"])
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":  # label_values(<selector>, <label>): the selector is PromQL
            inner = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["query"]["query"])
            assert inner, variable["query"]
            queries.append(inner.group(1))
    return queries


def as_prometheus_query(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def test_every_dashboard_query_parses_with_promtool(promtool: Path, tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    rules = [
        {"record": f"modelroute:dashboard_query_{i}", "expr": as_prometheus_query(q)} for i, q in enumerate(queries)
    ]
    (tmp_path / "dashboard.rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = promtool_run(promtool, "check", "rules", "dashboard.rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(queries)} rules found" in checked.stdout


def test_a_query_promtool_cannot_parse_fails_the_check(promtool: Path, tmp_path: Path) -> None:
    rules = [{"record": "modelroute:broken", "expr": "sum by (namespace (rate(x[5m]))"}]
    (tmp_path / "broken.rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert promtool_run(promtool, "check", "rules", "broken.rules.yaml", cwd=tmp_path).returncode != 0


def test_the_dashboard_ships_as_a_configmap_for_grafanas_sidecar(rendered: list[dict[str, Any]], helm: Path) -> None:
    config_map = one(dashboards(rendered), "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "modelroute-system"
    assert json.loads(config_map["data"]["modelroute.json"]) == json.loads(DASHBOARD.read_text())
    elsewhere = documents(
        render(
            helm,
            *ENABLED,
            "--set",
            "grafanaDashboard.namespace=monitoring",
            "--set",
            "grafanaDashboard.labels.grafana_dashboard=null",
            "--set",
            "grafanaDashboard.labels.dashboards=modelroute",
        ).stdout
    )
    moved = one(dashboards(elsewhere), "ConfigMap")["metadata"]
    assert moved["namespace"] == "monitoring"
    assert moved["labels"]["dashboards"] == "modelroute"
    assert "grafana_dashboard" not in moved["labels"]


def _exported_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def test_every_modelroute_metric_the_rules_and_dashboard_read_is_exported(rules: list[dict[str, Any]]) -> None:
    exported = _exported_names()
    read = set()
    for text in [rule["expr"] for rule in rules] + dashboard_queries():
        read.update(re.findall(r"\b((?:modelroute|process)_[a-z_]+)\b", text))
    assert read, "no ModelRoute metric found in the rules and dashboard"
    assert read - exported == set()
