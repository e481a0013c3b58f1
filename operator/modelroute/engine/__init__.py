"""The engine's front door: everything the shells (admission, cli, controllers, cluster) may use.

The engine is pure: a policy context built from the cluster's objects (`PolicyContext`), the judgement of a pod
or pod template against it (`judge_object`, and `evaluate_produced` for the pod a mutation produces), the Decision it
returns (an Outcome, Violations with a Code, a JSONPatch), the audit of running pods (`audit_pods`), the
statuses, egress policies and policy reports the reconcilers write, and what a ConfigMap edit changes. The
modules behind this door are the engine's own; an import contract keeps the shells from reaching past it.
"""

from modelroute.engine.audit import AuditMemo, AuditResult
from modelroute.engine.audit import audit as audit_pods
from modelroute.engine.config_map_edits import judge_config_map_edit, new_violations
from modelroute.engine.context import (
    ALWAYS_EXCLUDED_NAMESPACES,
    NAMESPACE_NAME_LABEL,
    CompiledWorkload,
    PolicyContext,
    config_map_data,
    endpoint_state,
    namespace_labels_of,
)
from modelroute.engine.egress import cilium_network_policy, network_policy
from modelroute.engine.evaluate import evaluate as judge_object
from modelroute.engine.evaluate import evaluate_produced, workload_problems
from modelroute.engine.judgements import Judgements, NestingTooDeepError, sized_content_key, without_produced
from modelroute.engine.podspec import POD_TEMPLATE_PATHS, NotAPodError, pod_shape, pods_created
from modelroute.engine.redaction import redact_text, redact_values
from modelroute.engine.references import config_maps_read
from modelroute.engine.reports import ReportChoice, candidates, endpoint_reports, same_report, workload_reports
from modelroute.engine.status import (
    azure_endpoint_status,
    differs_ignoring_times,
    invalid_status,
    model_workload_status,
    only_counts_differ,
    route_policy_status,
    with_transition_times,
)
from modelroute.engine.verdict import CODE_HELP, Code, Decision, JSONPatch, Outcome

__all__ = [
    "ALWAYS_EXCLUDED_NAMESPACES",
    "CODE_HELP",
    "NAMESPACE_NAME_LABEL",
    "POD_TEMPLATE_PATHS",
    "AuditMemo",
    "AuditResult",
    "Code",
    "CompiledWorkload",
    "Decision",
    "JSONPatch",
    "Judgements",
    "NestingTooDeepError",
    "NotAPodError",
    "Outcome",
    "PolicyContext",
    "ReportChoice",
    "audit_pods",
    "azure_endpoint_status",
    "candidates",
    "cilium_network_policy",
    "config_map_data",
    "config_maps_read",
    "differs_ignoring_times",
    "endpoint_reports",
    "endpoint_state",
    "evaluate_produced",
    "invalid_status",
    "judge_config_map_edit",
    "judge_object",
    "model_workload_status",
    "namespace_labels_of",
    "network_policy",
    "new_violations",
    "only_counts_differ",
    "pod_shape",
    "pods_created",
    "redact_text",
    "redact_values",
    "route_policy_status",
    "same_report",
    "sized_content_key",
    "with_transition_times",
    "without_produced",
    "workload_problems",
    "workload_reports",
]
