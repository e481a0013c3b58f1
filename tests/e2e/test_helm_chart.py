"""The Helm chart on a real API server: it lints, renders what the server accepts, mirrors the webhooks
the operator registers itself, and its ServiceAccount is enough, and no more than enough, to run the
operator.

The cluster has no kubelet, so the chart's Deployment cannot run here. The lifecycle tests install
the chart with `webhook.url` pointing at `modelroute run` on this host, started with a token of the
chart's ServiceAccount: the webhooks, the RBAC and the RoutePolicy are the chart's; only the process
runs outside. Those tests share one release and run in file order: install, use, upgrade, uninstall.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from kube import pod
from tests.harness.client import ClusterClient, apply, eventually, get
from tests.harness.operator import WEBHOOK_HOST_ENV, RunProcess, answers_ready
from tests.harness.processes import free_port

from modelroute.admission import configurations as cfg
from modelroute.api.annotations import MANAGED_BY
from modelroute.cluster.certs import generate_serving_files

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "modelroute"
RELEASE = "modelroute"
RELEASE_NAMESPACE = "modelroute-helm"
# fullname: a release named like the chart is not prefixed twice.
SERVICE_ACCOUNT = "modelroute"
SERVICE_ACCOUNT_USER = f"system:serviceaccount:{RELEASE_NAMESPACE}:{SERVICE_ACCOUNT}"
# Not the operator fixture's `modelroute-e2e`, so both can exist in one session.
CONFIGURATION = "modelroute-helm-e2e"
WEBHOOK_KINDS = ("validatingwebhookconfiguration", "mutatingwebhookconfiguration")
AZURE_URL = "https://contoso-helm.openai.azure.com"
DIRECT_OPENAI = {"OPENAI_BASE_URL": "https://api.openai.com/v1"}
#: no kubelet here to run the chart's hook Jobs, which helm would wait for (the node suite runs them)
NO_HOOK_JOBS = {"crds.upgrade": False, "enforcementCheck.enabled": False}
FAKE_CA_BUNDLE = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot checked when rendering\n").decode()


# --- helpers ----------------------------------------------------------------------------------------


def set_args(values: dict[str, Any]) -> list[str]:
    """--set-json for every value: no escaping rules of --set to get wrong."""
    args: list[str] = []
    for key, value in values.items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    return args


_KUBE_VERSIONS: dict[Path, str] = {}


def kube_version(cluster: ClusterClient) -> str:
    # helm template otherwise assumes a default version that may be older than the chart's kubeVersion.
    if cluster.kubeconfig not in _KUBE_VERSIONS:
        version = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
        _KUBE_VERSIONS[cluster.kubeconfig] = str(version)
    return _KUBE_VERSIONS[cluster.kubeconfig]


def render(cluster: ClusterClient, values: dict[str, Any] | None = None, *, check: bool = True) -> Any:
    return cluster.helm(
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        RELEASE_NAMESPACE,
        "--kube-version",
        kube_version(cluster),
        *set_args(values or {}),
        check=check,
    )


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, rendered {len(found)}"
    return found[0]


def url_mode(ca_bundle: str = FAKE_CA_BUNDLE, url: str = "https://127.0.0.1:9443") -> dict[str, Any]:
    return {"operator.enabled": False, "webhook.url": url, "webhook.caBundle": ca_bundle}


def builtin_exclusions(namespace: str = RELEASE_NAMESPACE) -> list[dict[str, Any]]:
    return list(cfg.namespace_selector(namespace)["matchExpressions"])


# --- lint and render -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {},
        url_mode(),
        {"certManager.enabled": True, "metrics.serviceMonitor.enabled": True},
        {"certManager.enabled": True, "certManager.issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer"}},
        {"replicas": 1, "podAntiAffinity": "hard", "leaderElection.enabled": False, "routePolicy.create": False},
        {"webhook.clientCA.secretName": "apiserver-clients", "webhook.clientCA.key": "clients.pem"},
    ],
    ids=["defaults", "webhook-url", "cert-manager", "cluster-issuer", "single-replica", "client-ca"],
)
def test_the_chart_passes_strict_lint(cluster: ClusterClient, values: dict[str, Any]) -> None:
    result = cluster.helm("lint", "--strict", str(CHART), *set_args(values), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"unknownKey": 1}, "additional properties 'unknownKey' not allowed"),
        ({"routePolicy.enforcement": "Block"}, "/routePolicy/enforcement"),
        ({"webhook.failurePolicy": "Maybe"}, "/webhook/failurePolicy"),
        ({"webhook.timeoutSeconds": 31}, "/webhook/timeoutSeconds"),
        (
            {"operator.enabled": False, "webhook.url": "http://127.0.0.1:9443", "webhook.caBundle": "QQ=="},
            "/webhook/url",
        ),
        ({"operator.enabled": False, "webhook.url": "https://127.0.0.1:9443"}, "webhook.url needs webhook.caBundle"),
        ({"webhook.url": "https://127.0.0.1:9443", "webhook.caBundle": "QQ=="}, "set operator.enabled=false"),
        ({"operator.enabled": False}, "operator.enabled=false needs webhook.url"),
        ({"metrics.serviceMonitor.enabled": True, "metrics.service.enabled": False}, "needs metrics.service.enabled"),
    ],
    ids=[
        "unknown-key",
        "enforcement-enum",
        "failure-policy-enum",
        "timeout-range",
        "plain-http-url",
        "url-without-ca",
        "url-with-deployment",
        "no-server",
        "servicemonitor-without-service",
    ],
)
def test_broken_values_are_refused_with_the_reason(
    cluster: ClusterClient, values: dict[str, Any], message: str
) -> None:
    result = render(cluster, values, check=False)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.fixture(scope="module")
def release_namespace(cluster: ClusterClient) -> Iterator[str]:
    cluster.kubectl("create", "namespace", RELEASE_NAMESPACE, check=False)
    yield RELEASE_NAMESPACE
    cluster.kubectl("delete", "namespace", RELEASE_NAMESPACE, "--wait=false", "--ignore-not-found", check=False)


@pytest.mark.parametrize("values", [{}, url_mode()], ids=["defaults", "webhook-url"])
def test_the_rendered_chart_passes_server_side_dry_run(
    cluster: ClusterClient, crds: None, release_namespace: str, values: dict[str, Any]
) -> None:
    rendered = render(cluster, values).stdout
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered, check=False)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
    kinds = {d["kind"] for d in documents(rendered)}
    assert {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "RoutePolicy", "ClusterRole"} <= kinds
    assert ("Deployment" in kinds) == (values == {})


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"webhook.failurePolicy": "Ignore", "webhook.timeoutSeconds": 12, "webhook.configMaps.timeoutSeconds": 4},
        {"webhook.configMaps.enabled": False},
    ],
    ids=["defaults", "ignore-12s", "no-configmaps"],
)
def test_the_charts_webhooks_are_the_ones_the_operator_registers_itself(
    cluster: ClusterClient, values: dict[str, Any]
) -> None:
    url = "https://127.0.0.1:9443"
    docs = documents(
        render(cluster, {**url_mode(url=url), "webhook.configurationName": CONFIGURATION, **values}).stdout
    )

    def client_config(path: str) -> dict[str, Any]:
        return {"url": f"{url}/{path}", "caBundle": FAKE_CA_BUNDLE}

    options = cfg.WebhookOptions(
        operator_namespace=RELEASE_NAMESPACE,
        failure_policy=values.get("webhook.failurePolicy", "Fail"),
        timeout_seconds=values.get("webhook.timeoutSeconds", 5),
        name=CONFIGURATION,
        config_maps=values.get("webhook.configMaps.enabled", True),
        config_map_timeout_seconds=values.get("webhook.configMaps.timeoutSeconds", 2),
    )
    for kind, expected in (
        ("MutatingWebhookConfiguration", cfg.mutating_configuration(client_config, options)),
        ("ValidatingWebhookConfiguration", cfg.validating_configuration(client_config, options)),
    ):
        rendered = one(docs, kind)
        assert rendered["metadata"]["name"] == CONFIGURATION
        assert rendered["webhooks"] == expected["webhooks"]


def test_the_charts_default_configuration_names_are_the_operators(cluster: ClusterClient) -> None:
    """A release named like the chart names its webhook configurations and annotation guard as the operator
    does by default (cfg.DEFAULT_CONFIGURATION_NAME), so `modelroute verify` finds them without flags."""
    docs = documents(render(cluster, url_mode()).stdout)
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert one(docs, kind)["metadata"]["name"] == cfg.DEFAULT_CONFIGURATION_NAME
    guard = cfg.annotation_guard_name(cfg.DEFAULT_CONFIGURATION_NAME)
    assert one(docs, "ValidatingAdmissionPolicy", guard)["metadata"]["name"] == guard
    assert one(docs, "ValidatingAdmissionPolicyBinding", guard)["spec"]["policyName"] == guard


def test_the_charts_annotation_guard_is_the_one_the_operator_registers_itself(cluster: ClusterClient) -> None:
    url = "https://127.0.0.1:9443"
    docs = documents(render(cluster, {**url_mode(url=url), "webhook.configurationName": CONFIGURATION}).stdout)
    policy, binding = cfg.annotation_guard(cfg.WebhookOptions(operator_namespace=RELEASE_NAMESPACE, name=CONFIGURATION))
    name = policy["metadata"]["name"]
    assert one(docs, "ValidatingAdmissionPolicy", name)["spec"] == policy["spec"]
    assert one(docs, "ValidatingAdmissionPolicyBinding", name)["spec"] == binding["spec"]
    disabled = documents(render(cluster, {**url_mode(url=url), "annotationGuard.enabled": False}).stdout)
    policies = [d["metadata"]["name"] for d in disabled if d["kind"] == "ValidatingAdmissionPolicy"]
    assert not [n for n in policies if n.endswith("-annotations")], policies


def test_user_namespace_requirements_narrow_the_built_in_exclusions(cluster: ClusterClient) -> None:
    team = {"key": "team", "operator": "In", "values": ["payments"]}
    docs = documents(render(cluster, {"webhook.namespaceSelector.matchExpressions": [team]}).stdout)
    kinds = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
    hooks = [hook for kind in kinds for hook in one(docs, kind)["webhooks"]]
    scoped = {h["name"]: h.get("namespaceSelector") for h in hooks}
    assert scoped.pop("resources.validate.modelroute.io") is None, "fixing ModelRoute's own kinds is never blocked"
    assert set(scoped) == {
        "pods.mutate.modelroute.io",
        "pods.validate.modelroute.io",
        "controllers.validate.modelroute.io",
        "configmaps.validate.modelroute.io",
    }
    for selector in scoped.values():
        assert selector == {"matchExpressions": [*builtin_exclusions(), team]}
    assert {"kube-system", "kube-public", "kube-node-lease", RELEASE_NAMESPACE} <= set(
        builtin_exclusions()[0]["values"]
    )


def test_the_chart_grants_no_wildcards_and_nothing_on_secrets(cluster: ClusterClient) -> None:
    docs = documents(render(cluster).stdout)
    roles = [d for d in docs if d["kind"] in ("ClusterRole", "Role")]
    assert {r["kind"] for r in roles} == {"ClusterRole", "Role"}
    for role in roles:
        for rule in role["rules"]:
            fields = [rule.get(k, []) for k in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")]
            assert not any("*" in item for items in fields for item in items), rule
            assert not any(r.split("/")[0] == "secrets" for r in rule.get("resources", [])), rule
            assert not any("webhookconfiguration" in r for r in rule.get("resources", [])), rule


def granted(docs: list[dict[str, Any]]) -> set[str]:
    return {r for d in docs if d["kind"] == "ClusterRole" for rule in d["rules"] for r in rule["resources"]}


@pytest.mark.parametrize(
    ("value", "resources"),
    [
        ("rbac.policyReports", {"reports", "clusterreports", "policyreports", "clusterpolicyreports"}),
        ("rbac.ciliumNetworkPolicies", {"ciliumnetworkpolicies"}),
    ],
)
def test_optional_writes_are_granted_only_when_enabled(cluster: ClusterClient, value: str, resources: set[str]) -> None:
    assert resources <= granted(documents(render(cluster).stdout))
    assert not resources & granted(documents(render(cluster, {value: False}).stdout))


def report_rules(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        rule["apiGroups"][0]: rule
        for d in docs
        if d["kind"] == "ClusterRole"
        for rule in d["rules"]
        if rule["apiGroups"][0] in ("openreports.io", "wgpolicyk8s.io")
    }


@pytest.mark.parametrize(
    ("api", "groups"),
    [
        ("auto", {"openreports.io", "wgpolicyk8s.io"}),
        ("openreports", {"openreports.io"}),
        ("wgpolicyk8s", {"wgpolicyk8s.io"}),
        ("none", set()),
    ],
)
def test_the_report_api_value_is_passed_on_and_grants_only_the_api_it_may_write(
    cluster: ClusterClient, api: str, groups: set[str]
) -> None:
    docs = documents(render(cluster, {"reports.api": api}).stdout)
    assert f"--report-api={api}" in one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    rules = report_rules(docs)
    assert set(rules) == groups
    for rule in rules.values():  # what the reconciler does, and nothing more
        assert rule["resources"] in (["reports", "clusterreports"], ["policyreports", "clusterpolicyreports"])
        assert rule["verbs"] == ["get", "list", "create", "update", "delete"]


def test_an_unknown_report_api_is_refused(cluster: ClusterClient) -> None:
    result = render(cluster, {"reports.api": "kyverno"}, check=False)
    assert result.returncode != 0
    assert "/reports/api" in result.stderr


def test_the_owned_objects_guard_binds_the_service_account_to_its_label(cluster: ClusterClient) -> None:
    docs = documents(render(cluster).stdout)
    policy = one(docs, "ValidatingAdmissionPolicy", f"{RELEASE}-owned-objects")
    assert one(docs, "ValidatingAdmissionPolicyBinding", f"{RELEASE}-owned-objects")["spec"]["validationActions"] == [
        "Deny"
    ]
    assert f"'{SERVICE_ACCOUNT_USER}'" in policy["spec"]["matchConditions"][0]["expression"]
    guarded = {r for rule in policy["spec"]["matchConstraints"]["resourceRules"] for r in rule["resources"]}
    assert guarded == {
        "networkpolicies",
        "ciliumnetworkpolicies",
        "reports",
        "clusterreports",
        "policyreports",
        "clusterpolicyreports",
    }
    expressions = " ".join(v["expression"] for v in policy["spec"]["validations"])
    ((key, value),) = MANAGED_BY.items()
    assert f"'{key}'" in expressions
    assert f"== '{value}'" in expressions
    disabled = documents(render(cluster, {"rbac.ownedObjectsGuard": False}).stdout)
    assert not [d for d in disabled if d["metadata"]["name"] == f"{RELEASE}-owned-objects"]


def test_the_operator_pod_is_hardened_and_wired_to_the_chart(cluster: ClusterClient) -> None:
    docs = documents(render(cluster).stdout)
    deployment = one(docs, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert deployment["spec"]["replicas"] == 2
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert container["image"].endswith(":" + yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"])
    assert container["args"][:5] == [
        "run",
        "--namespace=$(POD_NAMESPACE)",
        "--webhook-port=9443",
        "--tls-cert-file=/etc/modelroute/tls/tls.crt",
        "--tls-key-file=/etc/modelroute/tls/tls.key",
    ]
    assert {"--leader-elect", "--metrics-bind-address=0.0.0.0:8080", "--log-format=json"} <= set(container["args"])
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"webhook": 9443, "metrics": 8080}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 65532
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/etc/modelroute/tls"]]["secret"]["secretName"] == one(docs, "Secret")["metadata"]["name"]
    affinity = spec["affinity"]["podAntiAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" in affinity, "soft by default: never unschedulable"
    assert spec["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "ScheduleAnyway"
    service = one(docs, "Service", f"{RELEASE}-webhook")
    assert service["spec"]["ports"] == [
        {"name": "https-webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}
    ]
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version"} <= set(labels)
        assert {"app.kubernetes.io/managed-by", "app.kubernetes.io/component", "helm.sh/chart"} <= set(labels)


def hooks(doc: dict[str, Any]) -> set[str]:
    return set(doc["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(",")) - {""}


def test_the_crds_hook_replaces_exactly_the_charts_crds_before_install_and_upgrade(cluster: ClusterClient) -> None:
    docs = documents(render(cluster).stdout)
    files = {p.name: p.read_text() for p in sorted((CHART / "crds").glob("*.yaml"))}
    config = one(docs, "ConfigMap", f"{RELEASE}-crds")
    assert config["data"] == files, "the hook ships the chart's crds/ files unchanged"
    names = {yaml.safe_load(text)["metadata"]["name"] for text in files.values()}
    (rule,) = one(docs, "ClusterRole", f"{RELEASE}-crds")["rules"]
    assert (set(rule["resourceNames"]), set(rule["verbs"])) == (names, {"get", "update"})
    job = one(docs, "Job", f"{RELEASE}-crds")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["crds", "--apply", "/etc/modelroute/crds"]
    for kind in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Job"):
        assert hooks(one(docs, kind, f"{RELEASE}-crds")) == {"pre-install", "pre-upgrade"}, kind
    assert not [d for d in documents(render(cluster, {"crds.upgrade": False}).stdout) if "crds" in hooks(d)]


def test_the_enforcement_check_runs_after_install_and_upgrade_and_as_helm_test(cluster: ClusterClient) -> None:
    docs = documents(render(cluster).stdout)
    name = f"{RELEASE}-enforcement-check"
    job = one(docs, "Job", name)
    assert hooks(job) == {"post-install", "post-upgrade"}
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["verify", "--probe-namespace=default", f"--annotation-guard={RELEASE}-annotations", "--timeout=180"]
    test = one(docs, "Pod", f"{name}-test")
    assert hooks(test) == {"test"}
    assert test["spec"]["containers"][0]["args"][:3] == args[:3]
    role = one(docs, "Role", name)
    assert role["metadata"]["namespace"] == "default"
    assert {"resources": ["pods/binding"], "resourceNames": ["modelroute-enforcement-probe"]}.items() <= role["rules"][
        1
    ].items()
    for kind in ("ServiceAccount", "Role", "RoleBinding"):
        assert hooks(one(docs, kind, name)) == {"post-install", "post-upgrade", "test"}, kind
    off = documents(render(cluster, {"enforcementCheck.enabled": False}).stdout)
    assert not [d for d in off if d["metadata"]["name"].startswith(name)]


@pytest.mark.parametrize(("version", "guarded"), [("v1.30.0", True), ("v1.29.9", False)])
def test_the_operator_waits_for_the_guards_the_chart_renders(
    cluster: ClusterClient, version: str, guarded: bool
) -> None:
    rendered = cluster.helm(
        "template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, "--kube-version", version
    ).stdout
    docs = documents(rendered)
    args = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    expected = {f"--annotation-guard={RELEASE}-annotations", f"--owned-objects-guard={RELEASE}-owned-objects"}
    assert "--probe-namespace=default" in args
    assert (expected <= set(args)) is guarded
    assert bool([d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"]) is guarded
    probe_role = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == f"{RELEASE}-enforcement-probe"]
    assert bool(probe_role) is guarded


def test_the_chart_refuses_kubernetes_older_than_its_crds_validation_rules(cluster: ClusterClient) -> None:
    result = cluster.helm("template", RELEASE, str(CHART), "--kube-version", "v1.24.17", check=False)
    assert result.returncode != 0
    assert "chart requires kubeVersion: >=1.25.0-0" in result.stderr


def test_a_network_policy_admits_only_the_webhook_and_metrics_ports(cluster: ClusterClient) -> None:
    docs = documents(render(cluster).stdout)
    policy = one(docs, "NetworkPolicy")
    selector = one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["podSelector"]["matchLabels"] == selector
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert [r["ports"] for r in policy["spec"]["ingress"]] == [
        [{"port": "webhook", "protocol": "TCP"}],
        [{"port": "metrics", "protocol": "TCP"}],
    ]
    assert all("from" not in r for r in policy["spec"]["ingress"]), "any source by default: the API server's varies"
    monitoring = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    narrowed = one(documents(render(cluster, {"networkPolicy.metrics.from": monitoring}).stdout), "NetworkPolicy")
    assert narrowed["spec"]["ingress"][1]["from"] == monitoring
    assert not [
        d for d in documents(render(cluster, {"networkPolicy.enabled": False}).stdout) if d["kind"] == "NetworkPolicy"
    ]


def test_the_operator_pods_are_system_cluster_critical_on_linux_nodes(cluster: ClusterClient) -> None:
    docs = documents(render(cluster).stdout)
    spec = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert "hostNetwork" not in spec
    assert "dnsPolicy" not in spec
    quota = one(docs, "ResourceQuota")
    assert quota["spec"]["scopeSelector"]["matchExpressions"] == [
        {"scopeName": "PriorityClass", "operator": "In", "values": ["system-cluster-critical"]}
    ]
    for name in (f"{RELEASE}-crds", f"{RELEASE}-enforcement-check"):
        assert one(docs, "Job", name)["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    plain = documents(render(cluster, {"priorityClassName": ""}).stdout)
    assert "priorityClassName" not in one(plain, "Deployment")["spec"]["template"]["spec"]
    assert not [d for d in plain if d["kind"] == "ResourceQuota"]


def test_on_the_host_network_dns_follows_and_replicas_never_share_a_node(cluster: ClusterClient) -> None:
    spec = one(documents(render(cluster, {"hostNetwork": True}).stdout), "Deployment")["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert "requiredDuringSchedulingIgnoredDuringExecution" in spec["affinity"]["podAntiAffinity"]
    chosen = render(cluster, {"hostNetwork": True, "dnsPolicy": "Default"}).stdout
    assert one(documents(chosen), "Deployment")["spec"]["template"]["spec"]["dnsPolicy"] == "Default"
    refused = render(cluster, {"dnsPolicy": "Sometimes"}, check=False)
    assert refused.returncode != 0
    assert "/dnsPolicy" in refused.stderr


def test_a_client_ca_secret_turns_on_mutual_tls(cluster: ClusterClient) -> None:
    docs = documents(render(cluster, {"webhook.clientCA.secretName": "apiserver-clients"}).stdout)
    spec = one(docs, "Deployment")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert "--tls-client-ca-file=/etc/modelroute/client-ca/ca.crt" in container["args"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/modelroute/client-ca")
    assert mount["readOnly"] is True
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "apiserver-clients"
    assert volume["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]


def test_no_client_certificate_is_asked_for_by_default(cluster: ClusterClient) -> None:
    container = one(documents(render(cluster).stdout), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert not [a for a in container["args"] if a.startswith("--tls-client-ca-file")]
    assert "/etc/modelroute/client-ca" not in {m["mountPath"] for m in container["volumeMounts"]}


# --- the chart-generated certificate -------------------------------------------------------------------


def _served_by(secret: dict[str, Any]) -> tuple[x509.Certificate, x509.Certificate]:
    data = secret["data"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(data["ca.crt"]))
    cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    return ca, cert


def test_the_generated_certificate_is_signed_by_the_webhooks_ca_for_the_service_names(cluster: ClusterClient) -> None:
    docs = documents(render(cluster).stdout)
    secret = one(docs, "Secret")
    ca, cert = _served_by(secret)
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sorted(names) == [
        f"{RELEASE}-webhook.{RELEASE_NAMESPACE}.svc",
        f"{RELEASE}-webhook.{RELEASE_NAMESPACE}.svc.cluster.local",
    ]
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for hook in one(docs, kind)["webhooks"]:
            assert hook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]
            assert hook["clientConfig"]["service"]["name"] == f"{RELEASE}-webhook"


def test_upgrades_keep_the_generated_certificate_until_it_is_deleted_or_its_validity_changes(
    cluster: ClusterClient, crds: None
) -> None:
    namespace = f"helm-certs-{uuid.uuid4().hex[:8]}"
    release_name = "modelroute-certs"
    name = f"{release_name}-webhook-tls"
    values = {
        # Nothing runs the Deployment here; scope the webhooks to a namespace that does not exist, so the
        # release blocks nothing while it is installed.
        "webhook.namespaceSelector.matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": [f"{namespace}-nothing"]}
        ],
        "routePolicy.create": False,
        **NO_HOOK_JOBS,
    }

    def helm(command: str, extra: dict[str, Any]) -> None:
        cluster.helm(command, release_name, str(CHART), "-n", namespace, *set_args({**values, **extra}))

    def current() -> tuple[dict[str, str], set[str]]:
        data = get(cluster, "secret", name, "-n", namespace)["data"]
        bundles = {
            h["clientConfig"]["caBundle"]
            for kind in WEBHOOK_KINDS
            for h in get(cluster, kind, release_name)["webhooks"]
        }
        return data, bundles

    cluster.kubectl("create", "namespace", namespace)
    try:
        helm("install", {})
        first, bundles = current()
        assert bundles == {first["ca.crt"]}

        helm("upgrade", {"replicas": 3})
        assert current() == (first, bundles), "an unrelated upgrade must not rotate the certificate"
        assert get(cluster, "deployment", release_name, "-n", namespace)["spec"]["replicas"] == 3

        helm("upgrade", {"replicas": 3, "webhook.certificate.validityDays": 30})
        second, bundles = current()
        assert second["tls.crt"] != first["tls.crt"]
        assert bundles == {second["ca.crt"]}
        ca, cert = _served_by({"data": second})
        cert.verify_directly_issued_by(ca)
        lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
        assert datetime.timedelta(days=29) < lifetime <= datetime.timedelta(days=30)

        cluster.kubectl("delete", "secret", name, "-n", namespace)
        helm("upgrade", {"replicas": 3, "webhook.certificate.validityDays": 30})
        third, bundles = current()
        assert third["ca.crt"] not in (first["ca.crt"], second["ca.crt"])
        assert bundles == {third["ca.crt"]}
    finally:
        cluster.helm("uninstall", release_name, "-n", namespace, "--ignore-not-found", check=False)
        for kind in WEBHOOK_KINDS:
            cluster.kubectl("delete", kind, release_name, "--ignore-not-found", check=False)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


# --- the operator as the chart's ServiceAccount -------------------------------------------------------


class HostOperator(RunProcess):
    """`modelroute run` on this host with the chart's ServiceAccount token and no --register-webhooks:
    the chart's configurations send it the admissions, its RBAC is all it may use."""

    def __init__(self, cluster: ClusterClient, workdir: Path, host: str) -> None:
        super().__init__(workdir)
        self.cluster = cluster
        self.host = host
        self.webhook_port = free_port()
        self.probe_port = free_port()
        self.certs = generate_serving_files(workdir / "certs", dict.fromkeys([host, "localhost", "127.0.0.1"]))
        self.probe_namespace = "default"

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.webhook_port}"

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.certs.ca_file.read_bytes()).decode()

    def kubeconfig(self) -> Path:
        """A kubeconfig with the cluster's server and CA and a fresh token of the chart's ServiceAccount."""
        admin = yaml.safe_load(self.cluster.kubeconfig.read_text())
        context_name = admin.get("current-context")
        context = next(c["context"] for c in admin["contexts"] if c["name"] == context_name)
        server = next(c["cluster"] for c in admin["clusters"] if c["name"] == context["cluster"])
        token = self.cluster.kubectl(
            "create", "token", SERVICE_ACCOUNT, "-n", RELEASE_NAMESPACE, "--duration=2h"
        ).stdout.strip()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cluster", "cluster": server}],
            "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
            "contexts": [{"name": "chart", "context": {"cluster": "cluster", "user": SERVICE_ACCOUNT}}],
            "current-context": "chart",
        }
        path = self.workdir / "kubeconfig"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        return path

    def arguments(self) -> list[str]:
        return [
            "--kubeconfig",
            str(self.kubeconfig()),
            "--namespace",
            RELEASE_NAMESPACE,
            "--webhook-addr",
            "127.0.0.1" if self.host == "127.0.0.1" else "0.0.0.0",
            "--webhook-port",
            str(self.webhook_port),
            "--tls-cert-file",
            str(self.certs.cert_file),
            "--tls-key-file",
            str(self.certs.key_file),
            "--resync-seconds",
            "10",
            "--metrics-bind-address",
            f"127.0.0.1:{self.probe_port}",
            # As in the chart's Deployment: the Lease, and so the chart's Role, is exercised too.
            "--leader-elect",
            "--leader-election-namespace",
            RELEASE_NAMESPACE,
            # and readiness waits for the chart's guards, with the chart's RBAC for the probes
            f"--probe-namespace={self.probe_namespace}",
            f"--annotation-guard={CONFIGURATION}-annotations",
            f"--owned-objects-guard={RELEASE}-owned-objects",
        ]

    def ready(self) -> bool:
        return answers_ready(self.probe_port)

    def served(self, webhook: str, result: str | None = None) -> float:
        """Admission requests this process answered for `webhook` (with `result`), from its own metrics."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.probe_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for labels, value in re.findall(r"^modelroute_admission_requests_total\{(.*)\} (\S+)$", text, re.MULTILINE):
            found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            if found.get("webhook") == webhook and result in (None, found.get("result")):
                total += float(value)
        return total


@dataclass
class Release:
    cluster: ClusterClient
    operator: HostOperator
    namespace: str  # governed: covered and unmanaged pods go here
    ignored: str  # labelled modelroute.io/ignore
    endpoint: str
    policy: str

    def values(self, **overrides: Any) -> dict[str, Any]:
        return {
            **url_mode(self.operator.ca_bundle, self.operator.url),
            "webhook.configurationName": CONFIGURATION,
            # Only this test's namespaces (and the release's, which the chart must exclude by itself) are
            # sent to the webhooks, so a stopped operator cannot block the rest of the session.
            "webhook.namespaceSelector.matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "In",
                    "values": [self.namespace, self.ignored, RELEASE_NAMESPACE],
                }
            ],
            "routePolicy.name": self.policy,
            "routePolicy.namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}},
            **NO_HOOK_JOBS,
            "enforcementCheck.namespace": self.namespace,
            **overrides,
        }

    def helm(self, command: str, **overrides: Any) -> subprocess.CompletedProcess[str]:
        return self.cluster.helm(
            command, RELEASE, str(CHART), "-n", RELEASE_NAMESPACE, *set_args(self.values(**overrides))
        )


@pytest.fixture(scope="module")
def release(
    cluster: ClusterClient, crds: None, release_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    suffix = uuid.uuid4().hex[:8]
    host = os.environ.get(WEBHOOK_HOST_ENV, "127.0.0.1")
    operator = HostOperator(cluster, tmp_path_factory.mktemp("helm-operator"), host)
    state = Release(
        cluster=cluster,
        operator=operator,
        namespace=f"helm-e2e-{suffix}",
        ignored=f"helm-e2e-{suffix}-ignored",
        endpoint=f"helm-e2e-{suffix}-aoai",
        policy=f"helm-e2e-{suffix}",
    )
    operator.probe_namespace = state.namespace
    cluster.kubectl("create", "namespace", state.namespace)
    cluster.kubectl("create", "namespace", state.ignored)
    cluster.kubectl("label", "namespace", state.ignored, "modelroute.io/ignore=true")
    try:
        state.helm("install")
        apply(
            cluster,
            {
                "apiVersion": "modelroute.io/v1alpha1",
                "kind": "AzureEndpoint",
                "metadata": {"name": state.endpoint},
                "spec": {"url": AZURE_URL, "defaultApiVersion": "2024-10-21"},
            },
            {
                "apiVersion": "modelroute.io/v1alpha1",
                "kind": "ModelWorkload",
                "metadata": {"name": "chat", "namespace": state.namespace},
                "spec": {
                    "selector": {"matchLabels": {"app": "chat"}},
                    "endpointRef": {"name": state.endpoint},
                    "procurement": {"channel": "Microsoft", "reference": "PO-helm"},
                },
            },
        )
        try:
            operator.start()
        except RuntimeError as error:
            pytest.fail(f"the operator did not start as the chart's ServiceAccount: {error}", pytrace=False)
        yield state
    finally:
        operator.stop()
        cluster.helm("uninstall", RELEASE, "-n", RELEASE_NAMESPACE, "--ignore-not-found", check=False)
        # The webhooks fail closed; none may outlive the test, whatever happened above.
        for kind in WEBHOOK_KINDS:
            cluster.kubectl("delete", kind, CONFIGURATION, "--ignore-not-found", check=False)
        cluster.kubectl("delete", "azureendpoint", state.endpoint, "--ignore-not-found", check=False)
        for namespace in (state.namespace, state.ignored):
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def running(release: Release) -> Release:
    if not release.operator.alive:
        release.operator.start()
    return release


def test_the_operator_runs_on_the_charts_service_account_alone(running: Release) -> None:
    assert running.operator.ready()
    log = running.operator.log_tail(400)
    assert "Forbidden" not in log, log
    # Leader election works within the chart's Role: the Lease is created and held.
    lease = get(running.cluster, "lease", "modelroute-leader", "-n", RELEASE_NAMESPACE)
    assert lease["spec"]["holderIdentity"]


def test_a_covered_pod_is_admitted_and_mutated_through_the_charts_webhooks(running: Release) -> None:
    cluster, operator = running.cluster, running.operator
    before = operator.served(cfg.MUTATE_PODS), operator.served(cfg.VALIDATE_PODS)
    apply(cluster, pod("chat-1", running.namespace, "chat"))
    admitted = get(cluster, "pod", "chat-1", "-n", running.namespace)
    env = {e["name"]: e.get("value") for e in admitted["spec"]["containers"][0]["env"]}
    assert env["AZURE_OPENAI_ENDPOINT"] == AZURE_URL
    annotations = admitted["metadata"]["annotations"]
    assert annotations["modelroute.io/decision"] == "compliant"
    assert annotations["modelroute.io/endpoint"] == running.endpoint
    assert annotations["modelroute.io/procurement-reference"] == "PO-helm"
    # The operator's own metrics show that the chart's configurations sent it this pod. (Another
    # ModelRoute's webhooks, e.g. a local-mode operator's, may have mutated it first: then it is
    # answered "unchanged", still by this operator.)
    after = operator.served(cfg.MUTATE_PODS), operator.served(cfg.VALIDATE_PODS)
    assert after[0] > before[0]
    assert after[1] > before[1]
    assert operator.served(cfg.MUTATE_PODS, "not-synced") == 0


@pytest.mark.parametrize(
    ("patch_type", "patch"),
    [
        ("merge", {"metadata": {"annotations": {"modelroute.io/procurement-channel": "OpenAI"}}}),
        ("json", [{"op": "replace", "path": "/metadata/annotations/modelroute.io~1decision", "value": "excluded"}]),
    ],
    ids=["merge", "json"],
)
@pytest.mark.parametrize("subresource", [None, "status"], ids=["pod", "status"])
def test_the_charts_guard_keeps_annotations_through_the_pod_and_its_status(
    running: Release, subresource: str | None, patch_type: str, patch: Any
) -> None:
    cluster, namespace = running.cluster, running.namespace
    name = f"guarded-{uuid.uuid4().hex[:6]}"
    apply(cluster, pod(name, namespace, "chat"))
    admitted = get(cluster, "pod", name, "-n", namespace)["metadata"]["annotations"]
    assert admitted["modelroute.io/decision"] == "compliant"
    target = [f"--subresource={subresource}"] if subresource else []
    result = cluster.kubectl(
        "patch", "pod", name, "-n", namespace, *target, f"--type={patch_type}", "-p", json.dumps(patch), check=False
    )
    assert result.returncode != 0
    assert "cannot be changed afterwards" in result.stderr
    assert get(cluster, "pod", name, "-n", namespace)["metadata"]["annotations"] == admitted


def test_a_model_workload_gets_its_status_from_the_operator(running: Release) -> None:
    def ready() -> dict[str, Any] | None:
        workload = get(running.cluster, "mw", "chat", "-n", running.namespace)
        conditions = {c["type"]: c for c in workload.get("status", {}).get("conditions", [])}
        return workload if conditions["Ready"]["status"] == "True" else None

    workload = eventually(ready, "ModelWorkload chat Ready")
    assert workload["status"]["observedGeneration"] == workload["metadata"]["generation"]
    assert workload["status"]["endpointHost"] == "contoso-helm.openai.azure.com"


def test_the_default_policy_warns_before_it_enforces(running: Release) -> None:
    cluster = running.cluster
    policy = get(cluster, "routepolicy", running.policy)
    assert (policy["spec"]["enforcement"], policy["spec"]["unmanaged"]) == ("Warn", "Warn")
    result = apply(cluster, pod("direct-warned", running.namespace, "nobody", DIRECT_OPENAI))
    assert "Warning: [EndpointNotApproved]" in result.stderr
    annotations = get(cluster, "pod", "direct-warned", "-n", running.namespace)["metadata"]["annotations"]
    assert annotations["modelroute.io/decision"] == "warned"

    def recorded() -> bool:
        events = get(cluster, "events", "-n", running.namespace, "--field-selector", "reason=RouteViolation")
        return any(e["involvedObject"]["name"] == "direct-warned" for e in events["items"])

    eventually(recorded, "a RouteViolation Event written with the chart's RBAC")


@pytest.mark.parametrize("verb", ["get", "list", "watch"])
def test_the_service_account_cannot_touch_secrets(running: Release, verb: str) -> None:
    result = running.cluster.kubectl(
        "auth", "can-i", verb, "secrets", f"--as={SERVICE_ACCOUNT_USER}", "-A", check=False
    )
    assert result.stdout.strip() == "no"


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (("patch", "modelworkloads.modelroute.io", "--subresource=status", "-A"), "yes"),
        (("patch", "modelworkloads.modelroute.io", "-A"), "no"),
        (("create", "pods", "-A"), "no"),
        (("create", "validatingwebhookconfigurations"), "no"),
        (("update", "mutatingwebhookconfigurations"), "no"),
        (("update", "leases/modelroute-leader", "-n", RELEASE_NAMESPACE), "yes"),
        (("update", "leases/some-other-lease", "-n", RELEASE_NAMESPACE), "no"),
        (("create", "leases", "-n", "default"), "no"),
        (("create", "leases", "-n", RELEASE_NAMESPACE), "no"),
        (("delete", "namespaces", "-A"), "no"),
    ],
)
def test_the_service_account_has_only_what_the_operator_needs(
    running: Release, args: tuple[str, ...], allowed: str
) -> None:
    result = running.cluster.kubectl("auth", "can-i", *args, f"--as={SERVICE_ACCOUNT_USER}", check=False)
    assert result.stdout.strip() == allowed


def network_policy(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"podSelector": {"matchLabels": {"app": "nothing"}}, "policyTypes": ["Egress"]},
    }


def as_service_account(cluster: ClusterClient, *args: str, body: dict[str, Any] | None = None) -> Any:
    stdin = json.dumps(body) if body is not None else None
    return cluster.kubectl(*args, f"--as={SERVICE_ACCOUNT_USER}", input=stdin, check=False)


@pytest.mark.parametrize(
    ("namespace", "labels", "refusal"),
    [
        ("user", {}, "writes only objects labelled app.kubernetes.io/managed-by=modelroute"),
        ("user", {"app.kubernetes.io/managed-by": "someone-else"}, "writes only objects labelled"),
        ("kube-system", MANAGED_BY, "no policies in the system namespaces"),
    ],
    ids=["unlabelled", "labelled-by-another", "labelled-in-kube-system"],
)
def test_the_service_account_cannot_create_network_policies_it_would_not_own(
    running: Release, namespace: str, labels: dict[str, str], refusal: str
) -> None:
    target = running.namespace if namespace == "user" else namespace
    body = network_policy(f"forged-{uuid.uuid4().hex[:6]}", target, labels)
    result = as_service_account(running.cluster, "create", "-f", "-", body=body)
    assert result.returncode != 0
    assert refusal in result.stderr, result.stderr


def test_the_service_account_cannot_change_or_delete_a_network_policy_it_does_not_own(running: Release) -> None:
    cluster = running.cluster
    for namespace in (running.namespace, "kube-system"):
        apply(cluster, network_policy("users-own", namespace))
        label = as_service_account(cluster, "label", "networkpolicy", "users-own", "-n", namespace, "x=y")
        assert label.returncode != 0
        assert f"'{RELEASE}-owned-objects' denied request" in label.stderr, label.stderr
        delete = as_service_account(cluster, "delete", "networkpolicy", "users-own", "-n", namespace)
        assert delete.returncode != 0
        assert f"'{RELEASE}-owned-objects' denied request" in delete.stderr, delete.stderr
        assert get(cluster, "networkpolicy", "users-own", "-n", namespace)["metadata"]["name"] == "users-own"
        cluster.kubectl("delete", "networkpolicy", "users-own", "-n", namespace)


def test_the_service_account_manages_its_own_labelled_network_policies(running: Release) -> None:
    # Server-side dry runs: admission (the guard included) runs, nothing is stored, and the
    # reconcilers (which remove owned policies that no workload wants) cannot race the test.
    cluster, namespace = running.cluster, running.namespace
    body = network_policy("modelroute-owned", namespace, MANAGED_BY)
    created = as_service_account(cluster, "create", "--dry-run=server", "-f", "-", body=body)
    assert created.returncode == 0, created.stderr
    guard = f"'{RELEASE}-owned-objects' denied request"

    def changed_and_deleted() -> bool | None:
        apply(cluster, body)
        unlabel = as_service_account(
            cluster, "label", "--dry-run=server", "networkpolicy", "modelroute-owned", "-n", namespace,
            "app.kubernetes.io/managed-by-",
        )  # fmt: skip
        delete = as_service_account(
            cluster, "delete", "--dry-run=server", "networkpolicy", "modelroute-owned", "-n", namespace
        )
        if "NotFound" in unlabel.stderr + delete.stderr:
            return None  # a reconciler removed it in between: try again
        assert unlabel.returncode != 0  # it cannot give its policy away, then lose track of it
        assert guard in unlabel.stderr, unlabel.stderr
        assert delete.returncode == 0, delete.stderr
        return True

    eventually(changed_and_deleted, "the owned policy relabelled (refused) and deleted (allowed)")
    cluster.kubectl("delete", "networkpolicy", "modelroute-owned", "-n", namespace, "--ignore-not-found")


def test_helm_upgrade_to_enforce_makes_the_operator_deny(running: Release) -> None:
    cluster, operator = running.cluster, running.operator
    running.helm("upgrade", **{"routePolicy.enforcement": "Enforce"})
    assert get(cluster, "routepolicy", running.policy)["spec"]["enforcement"] == "Enforce"
    before = operator.served(cfg.VALIDATE_PODS, "denied")

    def denied() -> subprocess.CompletedProcess[str] | None:
        name = f"direct-{uuid.uuid4().hex[:6]}"
        result = apply(cluster, pod(name, running.namespace, "nobody", DIRECT_OPENAI), check=False)
        return result if result.returncode != 0 else None

    result = eventually(denied, "a violating pod denied once the policy enforces")
    assert 'admission webhook "pods.validate.modelroute.io" denied the request' in result.stderr
    assert "[EndpointNotApproved]" in result.stderr
    assert operator.served(cfg.VALIDATE_PODS, "denied") > before


def test_the_webhooks_fail_closed_except_where_the_chart_excludes_them(running: Release) -> None:
    cluster, operator = running.cluster, running.operator
    operator.stop()
    refused = apply(cluster, pod("chat-unchecked", running.namespace, "chat"), check=False)
    assert refused.returncode != 0
    assert f"{operator.host}:{operator.webhook_port}" in refused.stderr, refused.stderr
    # The release namespace is in the user's selector above; the chart's own exclusion keeps it out.
    apply(cluster, pod("recovery", RELEASE_NAMESPACE, "chat"))
    apply(cluster, pod("opted-out", running.ignored, "chat"))
    cluster.kubectl("delete", "pod", "recovery", "-n", RELEASE_NAMESPACE, "--wait=false")


def test_helm_uninstall_leaves_no_webhook_configuration_behind(release: Release) -> None:
    cluster = release.cluster
    release.operator.stop()
    cluster.helm("uninstall", RELEASE, "-n", RELEASE_NAMESPACE, "--wait")
    for kind in WEBHOOK_KINDS:
        assert cluster.kubectl("get", kind, CONFIGURATION, check=False).returncode != 0
        leftovers = get(cluster, kind, "-l", f"app.kubernetes.io/instance={RELEASE}")["items"]
        assert [c["metadata"]["name"] for c in leftovers] == []
    assert cluster.kubectl("get", "routepolicy", release.policy, check=False).returncode != 0
    assert cluster.kubectl("get", "clusterrole", RELEASE, check=False).returncode != 0
    # CRDs are not removed by helm, so users' AzureEndpoints and ModelWorkloads survive an uninstall.
    assert get(cluster, "aze", release.endpoint)["spec"]["url"] == AZURE_URL
