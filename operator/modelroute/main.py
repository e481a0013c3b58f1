"""The `modelroute` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO, cast

import shtab

from modelroute import __version__
from modelroute.cli.live import add_cluster_arguments
from modelroute.cli.manifests import EXIT_BAD_INPUT, EXIT_DENIED, EXIT_INTERNAL, EXIT_OK, InputError
from modelroute.cli.pipe import ClosedPipeGuard
from modelroute.cli.policy_tests import TEST_DESCRIPTION, add_test_arguments
from modelroute.cli.text import printable
from modelroute.engine import ReportChoice
from modelroute.operator.options import RunOptions

_RUN = RunOptions()  # the one declaration of the run defaults

#: What every command's exit codes mean, shown at the end of its --help.
_USAGE_EXIT = {EXIT_BAD_INPUT: "usage error (an unknown option, a missing argument)"}
_INTERNAL_EXIT = {EXIT_INTERNAL: "internal error (a bug): one line on stderr, never a traceback"}
_GATE_EXITS: Mapping[int, str] = {
    EXIT_OK: "nothing denied (with --fail-on warn: nothing warned either)",
    EXIT_DENIED: "something denied (with --fail-on warn: or admitted with a warning)",
    EXIT_BAD_INPUT: "bad input or usage: the message names the file, the document and, where known, the line and "
    "field (invalid YAML/JSON, an unknown or duplicate field, a look-alike of a ModelRoute group or kind, "
    "nothing to judge without --allow-empty)",
    **_INTERNAL_EXIT,
}
_MARKERS = """result lines:
  ALLOW / DENY  the verdict on one object, its outcome, the ModelWorkload and endpoint that cover it,
                and where it is (file: document N, line L)
    x CODE ...  a violation that denies the object (its field and line when known)
    ~ CODE ...  a violation that does not deny it: softened by a Warn or Audit RoutePolicy
    ! ...       an admission warning the API server would show (kubectl prints it)"""


def _epilog(examples: Sequence[str], exits: Mapping[int, str], notes: str = "") -> str:
    lines = [notes, ""] if notes else []
    lines += ["examples:", *(f"  {example}" for example in examples), "", "exit codes:"]
    lines += [f"  {code}  {meaning}" for code, meaning in sorted(exits.items())]
    return "\n".join(lines)


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    examples: Sequence[str],
    exits: Mapping[int, str],
    notes: str = "",
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=_epilog(examples, exits, notes),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelroute",
        description="Keep stateless OpenAI API traffic on approved Azure endpoints.",
        epilog=_epilog(
            ["modelroute check deploy/", "modelroute COMMAND --help"],
            {EXIT_OK: "success", **_USAGE_EXIT, 1: "see each command's --help"},
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"modelroute {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_input(sub: argparse.ArgumentParser) -> None:
        paths = sub.add_argument(
            "paths",
            nargs="+",
            metavar="PATH",
            help="a file, a directory (recursive: *.yaml, *.yml, *.json) or - for stdin",
        )
        paths.complete = shtab.FILE  # type: ignore[attr-defined]
        sub.add_argument(
            "-n", "--namespace", default="default", help="namespace for objects that name none (default: %(default)s)"
        )
        sub.add_argument(
            "--operator-namespace",
            default=_RUN.namespace,
            help="the operator's namespace, which is never governed (default: %(default)s)",
        )

    check = _command(
        commands,
        "check",
        "judge manifests offline with the webhook's engine",
        "Judge Pods and pod controllers offline with the webhook's engine. AzureEndpoints, ModelWorkloads, "
        "RoutePolicies, ConfigMaps and Namespaces in the input are the policy context; Pods, Deployments, "
        "StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs and PodTemplates are "
        "judged. The gate fails closed: what it cannot read or does not understand is exit 2, never a pass.",
        [
            "modelroute check examples/",
            "modelroute check deploy/ -o sarif > modelroute.sarif   # GitHub / GitLab code scanning",
            "modelroute check deploy/ -o junit > modelroute.xml     # CI test reports",
            "helm template charts/app | modelroute check policies/ -",
            "modelroute check deploy/ --fail-on warn",
        ],
        _GATE_EXITS,
        _MARKERS,
    )
    add_input(check)
    check.add_argument(
        "-o",
        "--output",
        choices=("text", "json", "yaml", "sarif", "junit"),
        default="text",
        help="text (default); json or yaml (one result per judged object, with schemaVersion and line numbers); "
        "sarif (SARIF 2.1.0 for code scanning); junit (JUnit XML, one test case per judged object)",
    )
    check.add_argument(
        "--fail-on",
        choices=("deny", "warn"),
        default="deny",
        help="deny (default): exit 1 when something is denied; warn: also when something is admitted with a warning",
    )
    check.add_argument(
        "--allow-empty",
        action="store_true",
        help="exit 0 when the input holds nothing to judge (by default that is exit 2: a mis-pointed path)",
    )
    check.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=0,
        help="judge this many files at once (default: one per CPU); the output keeps the input's order",
    )
    add_cluster_arguments(check, switch=True)

    mutate = _command(
        commands,
        "mutate",
        "print manifests as the mutating webhook would admit them",
        "Print the input manifests as the mutating webhook would admit them: Pods with the approved endpoint "
        "settings, key references and annotations; everything else unchanged (pod controllers are never "
        "mutated). The input is read and checked as `check` reads it.",
        ["modelroute mutate examples/", "modelroute mutate policies/ pod.yaml | kubectl apply -f -"],
        {
            EXIT_OK: "printed",
            EXIT_BAD_INPUT: "bad input or usage, named as `check` names it (nothing to mutate without --allow-empty)",
            **_INTERNAL_EXIT,
        },
    )
    add_input(mutate)
    mutate.add_argument(
        "--allow-empty", action="store_true", help="exit 0 when the input holds no Pods or pod controllers"
    )

    crds = _command(
        commands,
        "crds",
        "print (or --write) the CustomResourceDefinitions",
        "Print the CustomResourceDefinitions of AzureEndpoint, ModelWorkload and RoutePolicy, generated from "
        "the API models, or write one file per CRD.",
        ["modelroute crds | kubectl apply -f -", "modelroute crds --write crds/"],
        {EXIT_OK: "printed or written", **_USAGE_EXIT, **_INTERNAL_EXIT},
    )
    crds.add_argument(
        "--write",
        type=Path,
        action="append",
        metavar="DIR",
        help="write one file per CRD into DIR instead of printing (repeatable)",
    )
    crds.add_argument(
        "--apply",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="upgrade the cluster's CRDs to these files (or the files in these directories): each must exist "
        "already; used by the chart's pre-install/pre-upgrade hook",
    )
    crds.add_argument("--kubeconfig", help="with --apply: kubeconfig file (default: $KUBECONFIG or in-cluster)")

    run = _command(
        commands,
        "run",
        "run the operator and its webhook server",
        "Run the operator: admission webhooks, the cluster view they read, and the status "
        "reconcilers. Uses the current kubeconfig, or the in-cluster configuration inside a pod.",
        [
            "modelroute run --register-webhooks --webhook-host 127.0.0.1   # local mode, against ~/.kube/config",
            "modelroute run --tls-cert-file /tls/tls.crt --tls-key-file /tls/tls.key   # in a pod (the Helm chart)",
        ],
        {
            EXIT_OK: "stopped (SIGTERM or SIGINT) after a clean shutdown",
            **_USAGE_EXIT,
            1: "the operator could not start or stopped on an error (logged)",
        },
    )
    run.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
    run.add_argument("--context", help="kubeconfig context")
    run.add_argument(
        "--namespace",
        default=os.environ.get("POD_NAMESPACE", _RUN.namespace),
        help="the operator's own namespace, never governed (default: $POD_NAMESPACE or %(default)s)",
    )
    run.add_argument("--webhook-addr", default=_RUN.webhook_addr, help="address to listen on (default: %(default)s)")
    run.add_argument("--webhook-port", type=int, default=_RUN.webhook_port, help="HTTPS port (default: %(default)s)")
    run.add_argument(
        "--webhook-host", help="host the API server uses to reach the webhooks (local mode); default 127.0.0.1"
    )
    run.add_argument("--tls-cert-file", type=Path, help="serving certificate (re-read when it changes)")
    run.add_argument("--tls-key-file", type=Path, help="serving key")
    run.add_argument("--tls-ca-file", type=Path, help="CA bundle for the webhook configurations (local mode)")
    run.add_argument(
        "--tls-client-ca-file", type=Path, help="require callers' client certificates signed by this CA (mutual TLS)"
    )
    run.add_argument(
        "--cert-dir",
        type=Path,
        help="where to keep a generated CA and certificate when none are given (default: a temp dir)",
    )
    run.add_argument(
        "--register-webhooks",
        action="store_true",
        help="local mode: create the webhook configurations (URL clientConfig) and remove them on "
        "exit; in a cluster the Helm chart owns them instead",
    )
    run.add_argument(
        "--failure-policy",
        choices=("Fail", "Ignore"),
        default=_RUN.failure_policy,
        help="failurePolicy of the registered pod webhooks (default: %(default)s)",
    )
    run.add_argument(
        "--webhook-timeout",
        type=int,
        default=_RUN.webhook_timeout_seconds,
        help="timeoutSeconds of the registered webhooks",
    )
    run.add_argument(
        "--webhook-configuration-name",
        default=_RUN.webhook_configuration_name,
        help="name of the registered configurations (default: %(default)s)",
    )
    run.add_argument("--liveness", metavar="URL", help="serve liveness probes, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument(
        "--resync-seconds",
        type=float,
        default=_RUN.resync_seconds,
        help="full status recomputation interval (default: %(default)s)",
    )
    run.add_argument(
        "--no-reconcile", action="store_true", help="serve webhooks only; leave status updates to another replica"
    )
    run.add_argument(
        "--leader-elect",
        action="store_true",
        help="run the reconcilers only while holding the Lease modelroute-leader (for several replicas)",
    )
    run.add_argument("--leader-election-namespace", help="namespace of the Lease (default: --namespace)")
    run.add_argument(
        "--metrics-bind-address",
        metavar="HOST:PORT",
        help="serve /metrics, /healthz and /readyz here, e.g. 0.0.0.0:8080 (port 0 picks one)",
    )
    run.add_argument(
        "--rewrite-events",
        action="store_true",
        default=_RUN.rewrite_events,
        help="record a RouteRewritten Event for every pod whose endpoint settings were rewritten (denials and "
        "warnings always get one)",
    )
    run.add_argument(
        "--report-api",
        choices=[str(choice) for choice in ReportChoice],
        default=str(_RUN.report_api),
        help="where the audit is written: auto (openreports.io where it is served, else wgpolicyk8s.io), "
        "openreports, wgpolicyk8s, or none (default: %(default)s)",
    )
    run.add_argument(
        "--probe-namespace",
        default=_RUN.probe_namespace,
        help="readiness sends its dry-run probes here: a namespace the webhooks and the annotation guard cover "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--annotation-guard",
        metavar="NAME",
        help="the annotation guard (ValidatingAdmissionPolicy) readiness waits for; local mode waits for its own",
    )
    run.add_argument(
        "--owned-objects-guard", metavar="NAME", help="the owned-objects guard readiness waits for (the chart's)"
    )
    run.add_argument("--log-format", choices=("plain", "full", "json"), default="full")
    run.add_argument("-v", "--verbose", action="store_true")

    report = _command(
        commands,
        "report",
        "the inventory of model-backed workloads",
        "List every ModelWorkload with its pods, procurement channel, endpoint, API mode and "
        "compliance (from the same audit the operator runs), plus namespaces with undeclared OpenAI traffic. "
        "Reads the cluster of the current kubeconfig, or manifests given with --from.",
        ["modelroute report", "modelroute report -o csv --from deploy/ > inventory.csv"],
        {EXIT_OK: "reported", EXIT_BAD_INPUT: "bad input or usage", **_INTERNAL_EXIT},
    )
    report.add_argument("-o", "--output", choices=("table", "json", "csv", "markdown"), default="table")
    report.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    report.add_argument("--context", help="kubeconfig context")
    report.add_argument(
        "--from",
        dest="paths",
        nargs="+",
        metavar="PATH",
        help="report on manifests (files, directories or -) instead of a cluster",
    )
    report.add_argument(
        "--fail-on",
        action="append",
        choices=("undeclared", "violating"),
        help="exit 1 (after the report) when there is OpenAI traffic no ModelWorkload declares (undeclared), "
        "or a workload with violating or refused pods or one that cannot be satisfied (violating); repeatable",
    )
    report.add_argument(
        "--operator-namespace",
        default=_RUN.namespace,
        help="the operator's namespace, never governed (default: %(default)s)",
    )

    verify = _command(
        commands,
        "verify",
        "check that the webhooks and guards are in force (server-side dry runs they must refuse)",
        "Send a dry-run pod that the webhooks must mark and refuse, and for each guard named a dry run it must "
        "refuse; wait until all of them are refused, up to --timeout. The chart's post-install check and "
        "`helm test` run it.",
        [
            "modelroute verify --timeout 60",
            "modelroute verify --annotation-guard modelroute-annotations --probe-namespace team-a",
        ],
        {EXIT_OK: "in force", EXIT_DENIED: "not in force (each reason printed)", **_USAGE_EXIT},
    )
    verify.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
    verify.add_argument("--context", help="kubeconfig context")
    verify.add_argument(
        "--probe-namespace",
        default=_RUN.probe_namespace,
        help="a namespace the webhooks and the annotation guard cover (default: %(default)s)",
    )
    verify.add_argument("--annotation-guard", metavar="NAME", help="also wait for this annotation guard")
    verify.add_argument(
        "--timeout", type=float, default=0.0, help="seconds to keep trying (default: %(default)s, one try)"
    )

    add_test_arguments(
        _command(
            commands,
            "test",
            "run declarative policy tests (modelroute-test.yaml)",
            TEST_DESCRIPTION,
            ["modelroute test tests/policy/", "modelroute test tests/policy/ -o junit > policy-tests.xml"],
            {
                EXIT_OK: "every expected result holds",
                EXIT_DENIED: "a mismatch (each said under its row; a <failure> in JUnit)",
                EXIT_BAD_INPUT: "a bad test file or resource (the file, document and field are named), or usage",
                **_INTERNAL_EXIT,
            },
        )
    )
    _command(
        commands,
        "version",
        "print the version",
        "Print the version (as `modelroute --version` does).",
        ["modelroute version"],
        {EXIT_OK: "printed", **_USAGE_EXIT},
    )
    completion = _command(
        commands,
        "completion",
        "print a shell completion script",
        "Print a completion script for bash, zsh or fish, generated from this command line's parser (shtab).",
        [
            "source <(modelroute completion bash)                       # bash, this shell",
            'modelroute completion zsh > "${fpath[1]}/_modelroute"     # zsh',
            "modelroute completion fish > ~/.config/fish/completions/modelroute.fish",
        ],
        {EXIT_OK: "printed", **_USAGE_EXIT},
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"))
    return parser


def _run(args: argparse.Namespace) -> int:
    import kopf

    from modelroute.operator.wiring import run

    if not args.verbose:
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat[args.log_format.upper()])
    run(
        RunOptions(
            namespace=args.namespace,
            kubeconfig=args.kubeconfig,
            context=args.context,
            webhook_addr=args.webhook_addr,
            webhook_port=args.webhook_port,
            webhook_host=args.webhook_host,
            tls_cert_file=args.tls_cert_file,
            tls_key_file=args.tls_key_file,
            tls_ca_file=args.tls_ca_file,
            tls_client_ca_file=args.tls_client_ca_file,
            cert_dir=args.cert_dir,
            register_webhooks=args.register_webhooks,
            failure_policy=args.failure_policy,
            webhook_timeout_seconds=args.webhook_timeout,
            webhook_configuration_name=args.webhook_configuration_name,
            liveness_endpoint=args.liveness,
            resync_seconds=args.resync_seconds,
            reconcile=not args.no_reconcile,
            leader_elect=args.leader_elect,
            leader_election_namespace=args.leader_election_namespace,
            metrics_bind_address=args.metrics_bind_address,
            rewrite_events=args.rewrite_events,
            report_api=ReportChoice(args.report_api),
            probe_namespace=args.probe_namespace,
            annotation_guard=args.annotation_guard,
            owned_objects_guard=args.owned_objects_guard,
        )
    )
    return 0


def _apply_crds(paths: list[Path], kubeconfig: str | None) -> int:
    import yaml

    from modelroute.cluster import Kube, load_config, replace_crd

    files = sorted(f for p in paths for f in (p.glob("*.y*ml") if p.is_dir() else [p]))
    bodies = []
    for file in files:
        try:
            documents = [d for d in yaml.safe_load_all(file.read_text()) if d is not None]
        except (OSError, yaml.YAMLError) as error:
            raise InputError(f"{file}: {error}") from None
        for index, body in enumerate(documents, 1):
            if not isinstance(body, dict) or body.get("kind") != "CustomResourceDefinition":
                raise InputError(f"{file}: document {index}: not a CustomResourceDefinition")
            bodies.append(body)
    if not bodies:
        raise InputError(f"no CustomResourceDefinitions in {', '.join(str(p) for p in paths)}")
    kube = Kube(load_config(kubeconfig))
    for body in bodies:
        try:
            changed = replace_crd(kube, body)
        except LookupError as error:
            print(f"modelroute: error: {error}", file=sys.stderr)
            return 1
        print(f"{'upgraded' if changed else 'unchanged'} customresourcedefinition/{body['metadata']['name']}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from modelroute.cluster import Kube, load_config
    from modelroute.operator import enforcement

    probes = [enforcement.webhooks_probe(args.probe_namespace)]
    if args.annotation_guard:
        probes.append(enforcement.annotation_guard_probe(args.annotation_guard, args.probe_namespace))
    kube = Kube(load_config(args.kubeconfig, args.context))
    missing = enforcement.wait_until_enforced(kube, probes, timeout=max(args.timeout, 0.0))
    for line in missing:
        print(f"not in force: {printable(line)}", file=sys.stderr)
    if missing:
        return 1
    print("in force: " + ", ".join(p.what for p in probes))
    return 0


def _report(args: argparse.Namespace) -> int:
    from modelroute.cli.report import run_report

    return run_report(
        args.paths,
        args.output,
        sys.stdout,
        kubeconfig=args.kubeconfig,
        context=args.context,
        operator_namespace=args.operator_namespace,
        fail_on=args.fail_on or (),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    stdout = sys.stdout
    guard = ClosedPipeGuard(stdout)
    sys.stdout = cast(TextIO, guard)
    try:
        return _dispatch(parser, args)
    finally:
        guard.flush()
        sys.stdout = stdout


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    try:
        if args.command == "check":
            from modelroute.cli.check import default_jobs, run_check
            from modelroute.cli.live import cluster_context

            jobs = args.jobs if args.jobs > 0 else default_jobs()
            return run_check(
                args.paths,
                args.output,
                args.namespace,
                args.operator_namespace,
                sys.stdout,
                jobs,
                cluster_context(args),
                fail_on=args.fail_on,
                allow_empty=args.allow_empty,
            )
        if args.command == "mutate":
            from modelroute.cli.check import run_mutate

            return run_mutate(
                args.paths, args.namespace, args.operator_namespace, sys.stdout, allow_empty=args.allow_empty
            )
        if args.command == "crds":
            from modelroute.api.crd import rendered_crds, write_crds

            if args.apply:
                return _apply_crds(args.apply, args.kubeconfig)
            if args.write:
                for directory in args.write:
                    for path in write_crds(directory):
                        print(f"wrote {path}")
            else:
                sys.stdout.write("---\n".join(text for _, text in rendered_crds()))
            return 0
        if args.command == "report":
            return _report(args)
        if args.command == "test":
            from modelroute.cli.policy_tests import run_tests

            return run_tests(args.paths, args.output, sys.stdout)
        if args.command == "run":
            return _run(args)
        if args.command == "verify":
            return _verify(args)
        if args.command == "version":
            print(f"modelroute {__version__}")
            return 0
        if args.command == "completion":
            sys.stdout.write(shtab.complete(parser, shell=args.shell))
            return 0
    except InputError as error:
        print(f"modelroute: error: {printable(str(error))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # never a traceback: say what failed, in one line
        if args.command == "run":
            raise
        print(f"modelroute: internal error: {type(error).__name__}: {printable(str(error))}", file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
