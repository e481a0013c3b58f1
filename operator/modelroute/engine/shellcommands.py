"""What a container's command line runs, read as a POSIX shell reads it: the programs it starts
(also inside `sh -c "..."`) and the files its shell sources into its own environment.

A shell that sources a file (`. file`, `source file`, `set -a; . file`, `export $(cat file | xargs)`,
`env $(cat file) cmd`) assigns the file's variables over the ones the container was started with:
what the process then sees is the file's value, unlike a dotenv loader, where the environment wins.
Pure: no I/O, a best-effort reading (an unbalanced quote reads as no command at all).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence

#: Shells whose `-c` script ModelRoute reads.
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh"})
#: The Codex CLI: its command name, and its npm package (run with npx, `npm exec`, pnpm/yarn dlx, bunx).
CODEX_COMMANDS = frozenset({"codex"})
CODEX_PACKAGE = "@openai/codex"
_PACKAGE_RUNNERS = {"npx": 1, "bunx": 1, "npm": 2, "pnpm": 2, "yarn": 2}  # words before the package
_PREFIX_COMMANDS = frozenset({"exec", "env", "nohup", "time", "command", "builtin"})
_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "(", ")", ";;", "|&"})
_SOURCE_COMMANDS = frozenset({".", "source"})
#: `export $(cat FILE | xargs)`, `env $(grep -v '^#' FILE | xargs) cmd`, with backticks too.
_SUBSTITUTED = re.compile(r"\b(?:export|env)\s+(?:\$\(([^()]*)\)|`([^`]*)`)")
_FILE_READERS = {"cat": 0, "grep": 1, "sed": 1, "egrep": 1}  # non-option words before the file names


def shell_script(argv: Sequence[str]) -> str | None:
    """The script of `sh -c SCRIPT` (also `bash -lc`, `sh -e -c`), None when argv runs no shell script."""
    if len(argv) < 3 or posixpath.basename(argv[0]) not in SHELLS:
        return None
    for index in range(1, len(argv) - 1):
        option = argv[index]
        if not option.startswith("-") or option == "--":
            return None
        if not option.startswith("--") and "c" in option[1:]:
            return argv[index + 1]
    return None


def simple_commands(script: str) -> list[list[str]]:
    """The words of each simple command of a script, split at `;`, `&&`, `||`, `|`, `&` and newlines."""
    lexer = shlex.shlex(script.replace("\n", ";"), posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = ""
    commands: list[list[str]] = [[]]
    try:
        for token in lexer:
            if token in _SEPARATORS:
                commands.append([])
            else:
                commands[-1].append(token)
    except ValueError:
        return []
    return [words for words in commands if words]


def _program(words: Sequence[str]) -> Sequence[str]:
    """The words from the program a simple command runs (after `exec`, `env A=b`, assignments)."""
    index = 0
    while index < len(words):
        word = words[index]
        if (
            word in _PREFIX_COMMANDS
            or (word.startswith("-") and index > 0 and words[index - 1] in _PREFIX_COMMANDS)
            or ("=" in word and not word.startswith("=") and word.split("=", 1)[0].isidentifier())
        ):
            index += 1
        else:
            break
    return words[index:]


def _commands_of(argv: Sequence[str]) -> list[Sequence[str]]:
    script = shell_script(argv)
    if script is None:
        return [argv]
    return [_program(words) for words in simple_commands(script)]


def _is_codex(words: Sequence[str]) -> bool:
    if not words:
        return False
    name = posixpath.basename(words[0])
    if name in CODEX_COMMANDS:
        return True
    skip = _PACKAGE_RUNNERS.get(name)
    if skip is None:
        return False
    rest = [word for word in words[1:] if not word.startswith("-")]
    if len(rest) < skip or (skip == 2 and rest[0] not in {"exec", "dlx", "x"}):
        return False
    package = rest[skip - 1]
    return package == CODEX_PACKAGE or package.startswith(CODEX_PACKAGE + "@")


def runs_codex(argv: Sequence[str]) -> bool:
    """Whether the command line starts the Codex CLI: `codex ...`, `npx [-y] @openai/codex[@version] ...`,
    or either inside a shell script."""
    return any(_is_codex(words) for words in _commands_of(argv))


def sourced_files(argv: Sequence[str]) -> tuple[str, ...]:
    """The files a shell script sources into its environment, as written (relative to the working
    directory when not absolute), in order."""
    script = shell_script(argv)
    if script is None:
        return ()
    found: list[str] = []
    for words in simple_commands(script):
        if len(words) >= 2 and words[0] in _SOURCE_COMMANDS:
            found.append(words[1])
    for match in _SUBSTITUTED.finditer(script):
        inner = (match.group(1) or match.group(2) or "").split("|", 1)[0]
        try:
            words = shlex.split(inner)
        except ValueError:
            continue
        if "<" in words[:-1]:  # $(xargs < FILE)
            found.append(words[words.index("<") + 1])
            continue
        if not words or words[0] not in _FILE_READERS:
            continue
        operands = [word for word in words[1:] if not word.startswith("-")]
        found.extend(operands[_FILE_READERS[words[0]] :])
    return tuple(dict.fromkeys(found))
