"""The runbook cannot drift from the code: every `saascore` command in the operations and
deploy docs names real commands and options, and every test it cites exists."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import attrs
import click
import pytest

from entrypoints.cli.main import cli
from entrypoints.settings import Settings

ROOT = Path(__file__).parent.parent.parent
DOCS = ("docs/operations.md", "docs/deploy.md", "docs/billing.md", "README.md")
SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
CITED_TEST = re.compile(r"`(test_\w+\.py)(?:::(\w+))?(?:::(\w+))?`")


def documented_commands() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in SHELL_BLOCK.findall((ROOT / doc).read_text()):
            for line in block.splitlines():
                command = line.split(" #", 1)[0].strip()
                if command.startswith("saascore "):
                    found.append((doc, command))
    return found


def resolve(args: list[str]) -> tuple[click.Command, list[str], int]:
    """The command ``args`` names, the arguments left for it, and how many words name the
    innermost group on the way (``saascore workspaces`` for ``saascore workspaces show W``)."""
    command: click.Command = cli
    depth = group_depth = 0
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(click.Context(command), args[0])
        if sub is None:
            break
        group_depth = depth
        command, args, depth = sub, args[1:], depth + 1
    return command, args, (depth if isinstance(command, click.Group) else group_depth) + 1


@pytest.mark.parametrize(("doc", "line"), documented_commands())
def test_each_documented_command_exists_with_its_options(doc: str, line: str) -> None:
    # "a | b | c" in the docs lists alternatives of one command group.
    first, *alternatives = (part.strip() for part in line.split(" | "))
    _, _, group_words = resolve(shlex.split(first)[1:])
    prefix = shlex.split(first)[:group_words]
    for variant in [first, *(" ".join([*prefix, alt]) for alt in alternatives)]:
        command, rest, _ = resolve(shlex.split(variant)[1:])
        known = {opt for p in command.params for opt in p.opts}
        used = {token.split("=")[0] for token in rest if token.startswith("--")}
        assert used <= known | {"--help"}, f"{doc}: {variant!r} uses {used - known}"
        assert (
            not isinstance(command, click.Group)
            or not [token for token in rest if not token.startswith("-") and token not in known]
            or command.invoke_without_command
        ), f"{doc}: {variant!r} names no command"


def test_the_runbook_has_commands() -> None:
    assert len(documented_commands()) > 30


def test_every_test_the_runbook_cites_exists() -> None:
    text = (ROOT / "docs/operations.md").read_text()
    cited = CITED_TEST.findall(text)
    assert cited
    for filename, cls, function in cited:
        [path] = list((ROOT / "tests").rglob(filename))
        names = {
            node.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        }
        for name in (cls, function):
            assert not name or name in names, f"{filename}::{name} is cited but missing"


def test_the_configuration_reference_lists_every_setting() -> None:
    """docs/configuration.md names every variable `Settings` reads, with its default."""
    reference = (ROOT / "docs/configuration.md").read_text()
    rows = {
        line.split("|")[1].strip(): line.split("|")[2].strip()
        for line in reference.splitlines()
        if line.startswith("| `")
    }
    documented = " ".join(rows)
    missing = [
        field.name.upper()
        for field in attrs.fields(Settings)
        if f"`{field.name.upper()}`" not in documented
    ]
    assert [] == missing
    assert [] == [name for name, default in rows.items() if not default]
