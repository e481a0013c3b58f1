"""The test harness: the real parts the tests start, as a typed package the operator never imports.

Modules, from the bottom up (each imports only modules listed before it):

- `processes`: free ports, pid checks, process groups, build scripts, and `wait_until`, the one wait loop.
- `pki`: a CA and the certificates issued by it (servers, clients, organisations).
- `commands`: the `up` and `down` command lines of the control plane, the node and the registry.
- `control_plane`: etcd, kube-apiserver and kube-controller-manager on loopback (`LocalCluster`).
- `client`: kubectl and helm bound to a cluster (`ClusterClient`), and `apply`, `get`, `eventually`.
- `host`: what the node may change on its host, read, compared and put back.
- `node`: the control plane plus a real node: containerd, kubelet, kube-proxy, kube-scheduler, kube-router.
- `registry`: a real OCI registry (CNCF Distribution) on loopback, over HTTPS with its own CA.
- `operator`: `modelroute run` as a process (`RunProcess`, `OperatorProcess`) and its probes.

The control plane, the node and the registry have command lines for use by hand and by hack/*.sh,
run from the repository's root: `python -m tests.harness.control_plane up --workdir DIR` (and `down`),
likewise `tests.harness.node` (as root) and `tests.harness.registry`. An import contract
(pyproject.toml, [tool.importlinter]) keeps `modelroute` from importing `tests`: the harness may use
the operator's code, never the reverse.
"""
