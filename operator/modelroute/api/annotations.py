"""Every annotation and label ModelRoute reads or writes, in one place."""

PREFIX = "modelroute.io/"

PROCUREMENT_CHANNEL = PREFIX + "procurement-channel"
WORKLOAD = PREFIX + "workload"
ENDPOINT = PREFIX + "endpoint"
ENDPOINT_HOST = PREFIX + "endpoint-host"
API_MODE = PREFIX + "api-mode"
PROCUREMENT_REFERENCE = PREFIX + "procurement-reference"
COST_CENTER = PREFIX + "cost-center"
DECISION = PREFIX + "decision"

#: Written by ModelRoute on admitted pods; any value a manifest brings is replaced or removed, so
#: these always tell the truth.
OWNED_POD_ANNOTATIONS = (
    PROCUREMENT_CHANNEL,
    WORKLOAD,
    ENDPOINT,
    ENDPOINT_HOST,
    API_MODE,
    PROCUREMENT_REFERENCE,
    COST_CENTER,
    DECISION,
)

#: A pod label that asks the webhooks to show they are in force: the mutating webhook marks such a pod with
#: the annotation of the same key, the validating webhook always refuses it (saying whether it arrived
#: marked). `modelroute verify` and the operator's readiness send one as a server-side dry run.
ENFORCEMENT_PROBE = PREFIX + "enforcement-probe"
ENFORCEMENT_PROBE_MUTATED = "mutated"
ENFORCEMENT_PROBE_REFUSAL = "ModelRoute enforcement probe: refused"

#: A namespace or object label that takes it out of the webhooks' scope (the chart's selectors).
IGNORE_LABEL = PREFIX + "ignore"

#: The label on every object ModelRoute writes outside its own kinds (NetworkPolicies,
#: CiliumNetworkPolicies, PolicyReports); the chart's owned-objects guard allows the operator's
#: ServiceAccount to write only objects that carry it.
MANAGED_BY = {"app.kubernetes.io/managed-by": "modelroute"}
MANAGED_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
#: The ModelWorkload a generated egress policy belongs to.
WORKLOAD_LABEL = WORKLOAD
#: The label on the objects that describe ModelRoute itself (CRDs, webhook configurations, policies).
APP_NAME_LABEL = "app.kubernetes.io/name"
APP_NAME = "modelroute"
