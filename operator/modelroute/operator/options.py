"""What `modelroute run` is given: every option's default is declared here once, and the command line's
parser reads its defaults from this class."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelroute.admission import configurations as cfg
from modelroute.api.meta import DEFAULT_OPERATOR_NAMESPACE
from modelroute.engine.reports import ReportChoice


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

    def webhook_options(self) -> cfg.WebhookOptions:
        """What the registered webhook configurations are made from."""
        return cfg.WebhookOptions(
            operator_namespace=self.namespace,
            failure_policy=self.failure_policy,
            timeout_seconds=self.webhook_timeout_seconds,
            name=self.webhook_configuration_name,
        )
