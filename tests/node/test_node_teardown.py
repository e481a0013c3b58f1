"""The node's teardown, last of the node checks: every process it started is gone and the host is as it
was before the node started (processes, mounts, network namespaces, bridges, routes, iptables chains,
ipsets, cgroups, sysctls)."""

from __future__ import annotations

from node_kit import Node
from tests.harness.processes import pid_alive


def test_stopping_the_node_restores_the_host(node: Node) -> None:
    pids = [*node.local.started_pids(), *node.local.control_plane.pids.values()]
    node.local.stop()
    changes = node.local.host_changes()
    print(f"\nstopped {len(pids)} processes; host differences after teardown: {changes or 'none'}")
    assert pids
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert node.local.leftover_processes() == []
    assert changes == []
