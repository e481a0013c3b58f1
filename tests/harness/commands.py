"""The command lines of the harness's parts: `up` starts one that outlives the command, `down` stops it.

Each part (tests.harness.control_plane, .node, .registry) runs from the repository's root as
`python -m tests.harness.PART up --workdir DIR [options]` and `... down --workdir DIR`; hack/*.sh and
`make demo-down` use them so.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

#: an option: its flag and the keywords of ArgumentParser.add_argument
Option = tuple[str, dict[str, Any]]
Command = Callable[[argparse.Namespace], int]


def up_and_down(
    argv: list[str] | None,
    *,
    prog: str,
    doc: str | None,
    up: tuple[Command, str],
    down: tuple[Command, str],
    options: Sequence[Option] = (),
    up_options: Sequence[Option] = (),
) -> int:
    """Parse argv as `up` or `down` (each a command and its help) with --workdir and `options`, `up` with
    `up_options` too, and run the command chosen; its exit code."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0] if doc else None)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (command, help_text), extra in (("up", up, up_options), ("down", down, ())):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--workdir", required=True, help="the directory of its files (certificates, pids, data, logs)")
        for flag, keywords in (*options, *extra):
            p.add_argument(flag, **keywords)
        p.set_defaults(func=command)
    args = parser.parse_args(argv)
    chosen: Command = args.func
    return chosen(args)
