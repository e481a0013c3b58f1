"""The `modelroute` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from modelroute import __version__
from modelroute.cli.manifests import InputError

DEFAULT_OPERATOR_NAMESPACE = "modelroute-system"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelroute",
        description="Keep stateless OpenAI API traffic on approved Azure endpoints.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_input(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "paths",
            nargs="+",
            metavar="PATH",
            help="a file, a directory (recursive: *.yaml, *.yml, *.json) or - for stdin",
        )
        sub.add_argument(
            "-n", "--namespace", default="default", help="namespace for objects that name none (default: %(default)s)"
        )
        sub.add_argument(
            "--operator-namespace",
            default=DEFAULT_OPERATOR_NAMESPACE,
            help="the operator's namespace, which is never governed (default: %(default)s)",
        )

    check = commands.add_parser(
        "check",
        help="judge manifests offline with the webhook's engine",
        description="Judge Pods and pod controllers offline. AzureEndpoints, ModelWorkloads, RoutePolicies, "
        "ConfigMaps and Namespaces in the input are the policy context. Exit 0: nothing denied; "
        "1: something denied; 2: bad input or usage.",
    )
    add_input(check)
    check.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")

    mutate = commands.add_parser("mutate", help="print manifests as the mutating webhook would admit them")
    add_input(mutate)

    crds = commands.add_parser("crds", help="print (or --write) the CustomResourceDefinitions")
    crds.add_argument(
        "--write",
        type=Path,
        action="append",
        metavar="DIR",
        help="write one file per CRD into DIR instead of printing (repeatable)",
    )

    commands.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            from modelroute.cli.check import run_check

            return run_check(args.paths, args.output, args.namespace, args.operator_namespace, sys.stdout)
        if args.command == "mutate":
            from modelroute.cli.check import run_mutate

            return run_mutate(args.paths, args.namespace, args.operator_namespace, sys.stdout)
        if args.command == "crds":
            from modelroute.api.crd import rendered_crds, write_crds

            if args.write:
                for directory in args.write:
                    for path in write_crds(directory):
                        print(f"wrote {path}")
            else:
                sys.stdout.write("---\n".join(text for _, text in rendered_crds()))
            return 0
        if args.command == "version":
            print(f"modelroute {__version__}")
            return 0
    except InputError as error:
        print(f"modelroute: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
