"""The AdmissionReview (admission.k8s.io/v1) as the webhooks read and answer it, typed for mypy.

TypedDicts cost nothing at run time: the parsed JSON is used as it is, never copied or validated again. A field
is typed by what `AdmissionService.parse` has checked of it; a field it does not check is `object`, so code that
reads one must check it first (as the reply does with the review's apiVersion and kind).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class GroupVersionResource(TypedDict):
    """The resource a request is about: checked to be three strings (the core group is "")."""

    group: str
    version: str
    resource: str


class AdmissionRequest(TypedDict):
    """What the API server asks about one object; `object`, `oldObject` or both are there, each with metadata."""

    uid: str
    resource: GroupVersionResource
    #: a falsy value reads as no subresource
    subResource: NotRequired[str | None]
    operation: str
    namespace: NotRequired[str | None]
    name: NotRequired[object]
    #: checked to be an object; its fields are not read
    userInfo: dict[str, Any]
    object: NotRequired[dict[str, Any] | None]
    oldObject: NotRequired[dict[str, Any] | None]
    dryRun: NotRequired[object]
    kind: NotRequired[object]
    options: NotRequired[object]


class AdmissionReview(TypedDict):
    """The body the API server sends a webhook."""

    apiVersion: NotRequired[object]
    kind: NotRequired[object]
    request: AdmissionRequest


class DenialStatus(TypedDict):
    """Why a request is refused: the message shown to the client and the status code."""

    message: str
    code: int


class AdmissionResponse(TypedDict):
    """A webhook's answer to one request."""

    uid: str
    allowed: bool
    warnings: NotRequired[list[str]]
    #: base64 of the JSONPatch
    patch: NotRequired[str]
    patchType: NotRequired[Literal["JSONPatch"]]
    status: NotRequired[DenialStatus]


class AdmissionReviewResponse(TypedDict):
    """The body a webhook answers with: the review's apiVersion and kind, and the response."""

    apiVersion: str
    kind: str
    response: AdmissionResponse
