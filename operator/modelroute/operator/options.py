"""What `modelroute run` is given: every option's default is declared here once, and the command line's
parser reads its defaults from this class."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelroute.admission import configurations as cfg
from modelroute.api.meta import DEFAULT_OPERATOR_NAMESPACE
from modelroute.engine import ReportChoice

if TYPE_CHECKING:  # the probes need the API client, which the offline commands never load
    from modelroute.operator import enforcement


@dataclass(frozen=True)
class RunOptions:
    namespace: str = DEFAULT_OPERATOR_NAMESPACE
    kubeconfig: str | None = None
    context: str | None = None
    webhook_addr: str = "0.0.0.0"
    webhook_port: int = 9443
    webhook_host: str | None = None  # the host the API server uses to reach us (local mode)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = None
    tls_client_ca_file: Path | None = None  # verify callers' client certificates against this CA (mutual TLS)
    cert_dir: Path | None = None
    register_webhooks: bool = False
    failure_policy: str = cfg.DEFAULT_FAILURE_POLICY
    webhook_timeout_seconds: int = cfg.DEFAULT_TIMEOUT_SECONDS
    webhook_configuration_name: str = cfg.DEFAULT_CONFIGURATION_NAME
    liveness_endpoint: str | None = None
    resync_seconds: float = 300.0
    reconcile: bool = True
    leader_elect: bool = False
    leader_election_namespace: str | None = None
    metrics_bind_address: str | None = None
    #: a Normal RouteRewritten Event for every pod whose endpoint settings admission rewrote (off: the pod's
    #: modelroute.io/ annotations, the policy reports and the workloads' counts record it without a write each)
    rewrite_events: bool = False
    #: the policy report API the audit writes; auto: openreports.io where served, else wgpolicyk8s.io
    report_api: ReportChoice = ReportChoice.AUTO
    #: where the readiness probes go: a namespace the webhooks and the annotation guard cover
    probe_namespace: str = "default"
    #: the chart's guards (ValidatingAdmissionPolicies) that readiness waits for; in local mode the operator's
    #: own annotation guard is always among them
    annotation_guard: str | None = None
    owned_objects_guard: str | None = None

    def webhook_options(self) -> cfg.WebhookOptions:
        """What the registered webhook configurations are made from."""
        return cfg.WebhookOptions(
            operator_namespace=self.namespace,
            failure_policy=self.failure_policy,
            timeout_seconds=self.webhook_timeout_seconds,
            name=self.webhook_configuration_name,
        )

    def enforcement_probes(self) -> list[enforcement.Probe]:
        """What readiness waits for. The webhooks are probed only in local mode, where the API server calls this
        process directly: in a cluster it calls the Service, whose endpoints are the pods that are already
        ready, so the chart's post-install check (`modelroute verify`) probes them instead."""
        from modelroute.operator import enforcement

        probes: list[enforcement.Probe] = []
        annotation_guard = self.annotation_guard
        if self.register_webhooks:
            probes.append(enforcement.webhooks_probe(self.probe_namespace))
            annotation_guard = annotation_guard or cfg.annotation_guard_name(self.webhook_configuration_name)
        if annotation_guard:
            probes.append(enforcement.annotation_guard_probe(annotation_guard, self.probe_namespace))
        if self.owned_objects_guard:
            probes.append(enforcement.owned_objects_guard_probe(self.owned_objects_guard, self.namespace))
        return probes
