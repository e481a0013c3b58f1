"""tests.harness.host: how the host differs from before the node started, said change by change."""

from __future__ import annotations

from tests.harness.host import diff


def test_an_unchanged_host_has_no_differences() -> None:
    state = {"sysctls": {"net/ipv4/ip_forward": "0"}, "links": ["eth0", "lo"], "mounts": []}
    assert diff(state, {**state}) == []


def test_each_change_is_named_by_what_changed() -> None:
    before = {
        "sysctls": {"net/ipv4/ip_forward": "0", "vm/panic_on_oom": "0"},
        "dirs": {"/var/lib/cni": False},
        "links": ["eth0", "lo"],
        "netns": [],
    }
    after = {
        "sysctls": {"net/ipv4/ip_forward": "1", "vm/panic_on_oom": "0"},
        "dirs": {"/var/lib/cni": True},
        "links": ["eth0", "lo", "mr-pods0"],
        "netns": ["cni-1234"],
    }
    assert diff(before, after) == [
        "sysctls net/ipv4/ip_forward: '0' -> '1'",
        "dirs /var/lib/cni: False -> True",
        "links added: mr-pods0",
        "netns added: cni-1234",
    ]


def test_what_went_missing_is_reported_too() -> None:
    assert diff({"links": ["eth0", "lo"], "routes": "x"}, {"links": ["lo"], "routes": "y"}) == [
        "links removed: eth0",
        "routes: 'x' -> 'y'",
    ]
