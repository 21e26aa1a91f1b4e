"""Every command is documented: argparse help for each subcommand, and the README table."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from qms.cli.main import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"
SPEC_COMMANDS = {"init", "user", "namespace", "create", "read", "checkout", "checkin", "status",
                 "route", "assign", "review", "approve", "reject", "withdraw", "release",
                 "revert", "close", "cancel", "fix", "history", "comments", "inbox",
                 "workspace", "interact", "unlock", "qualify"}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _summaries() -> dict[str, str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {c.dest: c.help or "" for c in action._choices_actions}


def test_every_spec_command_exists():
    assert SPEC_COMMANDS <= set(_subparsers())


@pytest.mark.parametrize("name", sorted(_subparsers()))
def test_every_subcommand_has_help_text(name):
    sub = _subparsers()[name]
    summary = _summaries().get(name, "")
    assert summary.strip(), f"'{name}' has no one-line help in 'qms --help'"
    assert (sub.description or "").strip(), f"'{name}' has no description in 'qms {name} --help'"


@pytest.mark.parametrize("name", sorted(_subparsers()))
def test_every_argument_has_help_text(name):
    undocumented = [a.dest for a in _subparsers()[name]._actions
                    if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
    assert not undocumented, f"'qms {name} --help': no help for {undocumented}"


def test_user_option_help_names_every_command_without_a_user():
    from qms.cli.main import _NO_USER

    user = next(a for a in build_parser()._actions if a.dest == "user")
    assert all(name in user.help for name in _NO_USER), user.help


@pytest.mark.parametrize("name", sorted(_subparsers()))
def test_help_renders_and_exits_zero(cli, tmp_path, name):
    with pytest.raises(SystemExit) as exc:
        cli(tmp_path, name, "--help")
    assert exc.value.code == 0


def test_top_level_help_lists_every_command(cli, tmp_path):
    with pytest.raises(SystemExit) as exc:
        cli(tmp_path, "--help")
    assert exc.value.code == 0


def test_top_level_help_text(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for name in _subparsers():
        assert name in out, f"'{name}' missing from qms --help"
    assert "--user" in out and "--json" in out


def test_readme_documents_every_command():
    text = README.read_text(encoding="utf-8") if README.is_file() else ""
    m = re.search(r"^## Commands\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not m:
        pytest.skip("README has no '## Commands' section yet")
    section = m.group(1)
    missing = [c for c in sorted(_subparsers()) if not re.search(rf"`{re.escape(c)}[ `]", section)]
    assert not missing, f"README '## Commands' does not mention: {', '.join(missing)}"
