"""Every command explains itself: a description, an example and every exit code in its --help; a version;
shell completion generated from the parser."""

from __future__ import annotations

import argparse
import re
import subprocess

import pytest
from tests.unit.command_line import modelroute

from modelroute import __version__
from modelroute import main as cli
from modelroute.cli import kubefields


def _commands() -> list[str]:
    parser = cli._parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_a_description_an_example_and_its_exit_codes(command: str) -> None:
    result = modelroute(command, "--help")
    assert result.returncode == 0, result.stderr
    help_text = result.stdout
    examples = help_text.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0]
    assert "modelroute " in examples, help_text
    exits = help_text.split("\nexit codes:\n", 1)[1]
    codes = [int(code) for code in re.findall(r"^  (\d+)  \S", exits, re.MULTILINE)]
    assert 0 in codes, exits
    assert 2 in codes, exits  # success, and a usage error is always possible
    description = help_text.split("\n\n")[1]
    assert len(description) > 20, help_text


def test_check_help_lists_every_exit_code_it_can_return_and_explains_the_markers() -> None:
    help_text = modelroute("check", "--help").stdout
    exits = help_text.split("\nexit codes:\n", 1)[1]
    assert [int(c) for c in re.findall(r"^  (\d+)  ", exits, re.MULTILINE)] == [0, 1, 2, 3]
    for marker in ("    x CODE", "    ~ CODE", "    ! "):
        assert marker in help_text


def test_version_flag_and_command_agree() -> None:
    assert modelroute("--version").stdout == modelroute("version").stdout == f"modelroute {__version__}\n"


def test_bash_completion_completes_commands_and_options() -> None:
    script = modelroute("completion", "bash").stdout
    probe = (
        script
        + "\nCOMP_WORDS=(modelroute ch); COMP_CWORD=1; _shtab_modelroute; printf '%s\\n' \"${COMPREPLY[@]}\""
        + "\nCOMP_WORDS=(modelroute check --fail); COMP_CWORD=2; _shtab_modelroute; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["check", "--fail-on"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_completion_name_every_command(shell: str) -> None:
    result = modelroute("completion", shell)
    assert result.returncode == 0, result.stderr
    for command in _commands():
        assert command in result.stdout
    assert "allow-empty" in result.stdout  # fish names long options without their dashes


def test_the_shipped_field_table_is_what_the_installed_kubernetes_client_knows() -> None:
    assert kubefields.FIELDS_FILE.read_bytes() == kubefields.render(), (
        "regenerate it: python -m modelroute.cli.kubefields --write"
    )
