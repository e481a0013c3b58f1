"""Kubernetes meta types the ModelRoute kinds share (LabelSelector, Condition)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

GROUP = "modelroute.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
#: The group of what only the command line reads (`modelroute test`'s Test files), never an API server.
CLI_GROUP = f"cli.{GROUP}"
#: where the operator runs unless told otherwise; never governed
DEFAULT_OPERATOR_NAMESPACE = "modelroute-system"

DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
#: an RFC 1123 label, as Kubernetes names namespaces
_DNS_LABEL = re.compile(rf"[a-z0-9](?:[-a-z0-9]{{0,{DNS_LABEL_MAX - 2}}}[a-z0-9])?")


def is_dns_label(name: str) -> bool:
    """Whether `name` can name a namespace (a lower-case RFC 1123 label of at most 63 characters)."""
    return len(name) <= DNS_LABEL_MAX and _DNS_LABEL.fullmatch(name) is not None


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error, not silently lost."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(WireModel):
    key: str = Field(description="The label key that the selector applies to.", max_length=317)
    operator: SelectorOperator = Field(description="How the key relates to the values.")
    values: list[str] = Field(
        default_factory=list,
        description="Values for In and NotIn; must be empty for Exists and DoesNotExist.",
        max_length=256,
    )


class LabelSelector(WireModel):
    """metav1.LabelSelector: an empty selector matches everything."""

    match_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels that must all be present with exactly these values.",
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list,
        description="Requirements that must all hold.",
        max_length=64,
    )

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(WireModel):
    """metav1.Condition, as controller-runtime projects publish it."""

    model_config = WireModel.model_config | ConfigDict(extra="ignore")

    type: str = Field(description="Condition type, e.g. Ready.", max_length=316)
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="Machine-readable CamelCase reason for the status.", max_length=1024)
    message: str = Field(default="", description="Human-readable details.", max_length=32768)
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the condition was computed from.", ge=0
    )
    last_transition_time: str | None = Field(
        default=None,
        description="When the status last changed (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )


Conditions = Annotated[
    list[Condition],
    Field(
        default_factory=list,
        description="Current state: Ready, with a reason saying why not when False.",
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
]


def explain(error: ValidationError) -> str:
    """A pydantic error as one line a person can act on: `spec.url: url must be an https:// URL; ...`."""
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)
