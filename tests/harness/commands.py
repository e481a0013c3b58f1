"""The command lines of the harness's parts: `up` starts one that outlives the command, `down` stops it.

Each part (tests.harness.control_plane, .node, .registry) runs from the repository's root as
`python -m tests.harness.PART up --workdir DIR [options]` and `... down --workdir DIR`; hack/*.sh and
`make demo-down` use them so.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: an option: its flag and the keywords of ArgumentParser.add_argument
Option = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Subcommand:
    """`up` or `down`: what runs it (returning the exit code), its help and its options beyond --workdir."""

    run: Callable[[argparse.Namespace], int]
    help: str
    options: Sequence[Option] = ()


def up_and_down(
    argv: list[str] | None, prog: str, doc: str | None, up: Subcommand, down: Subcommand, options: Sequence[Option] = ()
) -> int:
    """Parse argv as `up` or `down`, each with --workdir and `options` besides its own, and run it."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0] if doc else None)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in (("up", up), ("down", down)):
        p = sub.add_parser(name, help=command.help)
        p.add_argument("--workdir", required=True, help="the directory of its files (certificates, pids, data, logs)")
        for flag, keywords in (*options, *command.options):
            p.add_argument(flag, **keywords)
        p.set_defaults(run=command.run)
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)
