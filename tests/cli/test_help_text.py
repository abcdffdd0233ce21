"""`--help` of every command reads as prose: a paragraph is wrapped only where the next word
would not fit, never cut where a docstring happened to break its line."""

from __future__ import annotations

import itertools
import re

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from capacity.cli.app import app

WIDTHS = (72, 100, 140)
ROW = re.compile(r"^│ (\S+)( +)(\S.*?) *│$")


def _commands(group: TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, TyperGroup):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _commands(typer.main.get_group(app))


def _help(args: tuple[str, ...], width: int) -> str:
    run = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": str(width)})
    assert run.exit_code == 0, run.output
    return run.output


def _loose(lines: list[str], room: int) -> list[str]:
    """Lines of one paragraph broken early: the next line's first word would have fitted
    (after two spaces where a sentence ends: the docstrings' convention, which rich keeps)."""
    return [a for a, b in itertools.pairwise(lines)
            if len(a) + (2 if a.endswith(".") else 1) + len(b.split()[0]) <= room]


def _description(text: str) -> list[list[str]]:
    """The paragraphs between the usage line and the first panel, lines stripped."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:"))
    paragraphs: list[list[str]] = [[]]
    for line in lines[start + 1:]:
        if line.startswith("╭"):
            break
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def _command_rows(text: str) -> tuple[list[list[str]], int]:
    """Each command's help in the Commands panel, as its lines, and the room they have."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("╭─ Commands"))
    entries: list[list[str]] = []
    offset = room = 0
    for line in lines[start + 1:]:
        if line.startswith("╰"):
            break
        match = ROW.match(line)
        if match:
            offset = match.start(3)
            room = len(line.rstrip()) - 2 - offset  # the border and its padding
            entries.append([match.group(3)])
        else:
            entries[-1].append(line[offset:].rstrip(" │"))
    return entries, room


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "capacity")
def test_help_paragraphs_wrap_only_where_they_must(args: tuple[str, ...], width: int) -> None:
    text = _help(args, width)
    room = width - 2  # one column of padding each side
    for paragraph in _description(text):
        assert not _loose(paragraph, room), (args, width, paragraph)
    if "╭─ Commands" in text:
        entries, room = _command_rows(text)
        for entry in entries:
            assert not _loose(entry, room), (args, width, entry)


def test_the_command_list_shows_each_first_sentence_whole() -> None:
    """The catalogue's summary used to break after 'with' at any width."""
    entries, _ = _command_rows(_help((), 100))
    assert any("each figure with its source" in " ".join(entry) for entry in entries)
