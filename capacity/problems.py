"""Input problems and where they stand: ``FILE:LINE:COL: field: message``, one line each.

Everything that reads input reports through these (inventories and scenarios from YAML, plan
files, the state databases); they need no parser, so a command that only might report one
loads none.
"""

from __future__ import annotations

from dataclasses import dataclass

from capacity.errors import BadInput, located

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, where it is, and which field."""

    position: Position
    field: str
    message: str

    def __str__(self) -> str:
        return located(str(self.position), self.field, self.message)


class InputError(BadInput):
    """Bad input: every problem found, each with its position (one line each)."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.position.file, p.position.line,
                                                             p.position.col, p.field))
        one = self.problems[0] if len(self.problems) == 1 else None
        if one is None:
            super().__init__("\n".join(str(p) for p in self.problems))
        else:  # where it is, for a caller that wants the parts
            super().__init__(one.message, file=one.position.file, line=one.position.line,
                             col=one.position.col, field=one.field)

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]

    def __str__(self) -> str:
        return "\n".join(self.lines())



def format_path(path: PathKey) -> str:
    """``('rules', 0, 'select')`` -> ``rules[0].select``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class InventoryWarning(UserWarning):
    """Something in a valid inventory that silently does nothing (capacity.lint), issued
    through ``warnings`` by load_inventory and load_with_scenarios; ``load`` returns them."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem
