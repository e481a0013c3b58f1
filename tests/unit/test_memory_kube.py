"""The in-memory cluster the unit tests use: it keeps what was written, answers reads from it, serves scripted
lists and watch streams, fails a call when told to, and loses a Lease race as the API server's 409 does."""

from __future__ import annotations

from typing import Any

import pytest

from modelroute.cluster import MemoryKube, MemoryStream
from modelroute.controllers.leader import LeaderElector, LeaseTerms


def policy(name: str, app: str = "modelroute") -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": app}
    return {"metadata": {"name": name, "namespace": "team", "labels": labels}, "spec": {}}


def test_an_owned_object_is_written_once_and_listed_by_its_labels() -> None:
    kube = MemoryKube()
    assert kube.upsert("networking.k8s.io", "v1", "networkpolicies", policy("ours"))
    assert not kube.upsert("networking.k8s.io", "v1", "networkpolicies", policy("ours"))  # unchanged
    kube.upsert("networking.k8s.io", "v1", "networkpolicies", policy("theirs", app="someone"))
    listed = kube.list_labelled("networking.k8s.io", "v1", "networkpolicies", "app.kubernetes.io/managed-by=modelroute")
    assert [p["metadata"]["name"] for p in listed] == ["ours"]
    kube.delete("networking.k8s.io", "v1", "networkpolicies", "team", "ours")
    assert list(kube.objects) == [("networkpolicies", "team", "theirs")]
    ours, theirs, listed_, deleted = kube.calls  # the unchanged write was no call to the API
    assert (ours, theirs, listed_, deleted) == (
        "upsert networkpolicies",
        "upsert networkpolicies",
        "list networkpolicies",
        "delete networkpolicies",
    )


def test_what_it_returns_is_a_copy_of_what_it_keeps() -> None:
    kube = MemoryKube()
    status = {"conditions": []}
    kube.patch_status("modelworkloads", "team", "model-0", status)
    status["conditions"].append("later")
    assert kube.statuses[("modelworkloads", "team", "model-0")] == {"conditions": []}
    assert kube.patches == [("modelworkloads", "team", "model-0")]
    assert kube.written.is_set()


def test_a_call_told_to_fail_raises_every_time_until_it_is_forgiven() -> None:
    kube = MemoryKube()
    kube.fail("create_event", ConnectionError("the API server went away"))
    for _ in range(2):
        with pytest.raises(ConnectionError, match="went away"):
            kube.create_event("team", {"reason": "RouteDenied"})
    del kube.failures["create_event"]
    kube.create_event("team", {"reason": "RouteDenied"})
    assert kube.events == [{"reason": "RouteDenied"}]
    assert kube.calls == ["create_event"] * 3


def test_a_watch_lists_and_streams_what_was_scripted_then_what_it_keeps() -> None:
    kube = MemoryKube()
    stream = MemoryStream([{"type": "ADDED", "object": {"metadata": {"name": "a"}}}], chunk=5)
    kube.listings["pods"].append(([], "7"))
    kube.streams["pods"] += [ConnectionError("refused"), stream]
    assert kube.list_with_version("pods") == ([], "7")
    with pytest.raises(ConnectionError):
        kube.watch("pods", "7", 270)
    assert kube.watch("pods", "7", 270) is stream
    assert b"".join(stream.stream()) == b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n'
    assert list(kube.watch("pods", "7", 270).stream()) == []  # nothing more scripted: an empty stream
    kube.objects[("pods", "team", "b")] = {"metadata": {"name": "b"}}
    assert kube.list_with_version("pods") == ([{"metadata": {"name": "b"}}], "1")


def electors(kube: MemoryKube) -> tuple[LeaderElector, LeaderElector]:
    async def nothing() -> None:
        return None

    terms = LeaseTerms(namespace="modelroute-system")
    return (
        LeaderElector(kube, terms, "replica-a", nothing, nothing),
        LeaderElector(kube, terms, "replica-b", nothing, nothing),
    )


def test_one_replica_holds_the_lease_and_the_other_waits() -> None:
    kube = MemoryKube()
    first, second = electors(kube)
    assert first._try()
    assert not second._try()  # a live holder
    assert first._try()  # renewed
    lease = kube.leases[("modelroute-system", "modelroute-leader")]
    assert lease["spec"]["holderIdentity"] == "replica-a"
    assert lease["metadata"]["resourceVersion"] == "2"


def test_a_lease_write_that_lost_the_race_is_not_a_win() -> None:
    kube = MemoryKube()
    first, _ = electors(kube)
    assert first._try()
    stale = kube.read_lease("modelroute-system", "modelroute-leader")
    assert stale is not None
    assert first._try()  # the holder renews: the version moves on
    assert not kube.replace_lease({**stale, "spec": {"holderIdentity": "replica-b"}})
    assert not kube.create_lease(stale)


def test_an_enforcement_probe_is_answered_as_scripted() -> None:
    from modelroute.cluster import DryRun

    kube = MemoryKube()
    kube.dry_runs["Pod"] = DryRun(False, 403, "denied")
    assert kube.dry_run("Pod", "default", {}) == DryRun(False, 403, "denied")
    assert kube.dry_run("Binding", "default", {}).allowed
