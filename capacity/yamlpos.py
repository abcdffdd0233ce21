"""YAML that remembers where everything came from.

``read_yaml`` returns plain Python data plus a map from each value's path (a tuple of keys and
list indices) to its position, so any later problem, from pydantic or from a cross-reference
check, can be reported as ``FILE:LINE:COL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

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
        return f"{self.position}: {self.field}: {self.message}" if self.field else (
            f"{self.position}: {self.message}")


class InputError(Exception):
    """Bad input: every problem found, each with its position."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.position.file, p.position.line,
                                                             p.position.col, p.field))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Located:
    """Data read from YAML, with the positions of its values and of its mapping keys."""

    data: Any
    values: dict[PathKey, Position]
    keys: dict[PathKey, Position]

    def where(self, path: PathKey, *, key: bool = False) -> Position:
        """Position of ``path``, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        for cut in range(len(path), -1, -1):
            prefix = path[:cut]
            if prefix in table:
                return table[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return next(iter(self.values.values()), Position("<input>", 1, 1))


def format_path(path: PathKey) -> str:
    """``('rules', 0, 'select')`` -> ``rules[0].select``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_yaml(text: str, file: str) -> Located:
    """Parse one YAML document; raise InputError on syntax errors or duplicate keys."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Located({}, {(): Position(file, 1, 1)}, {})
        located = Located(None, {}, {})
        problems: list[Problem] = []
        located.data = _build(loader, node, (), file, located, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)
        text = exc.problem or exc.context or "cannot parse"
        if exc.context and exc.context_mark and exc.problem_mark:
            start = exc.context_mark
            text += f" ({exc.context} at line {start.line + 1}, column {start.column + 1})"
        raise InputError([Problem(pos, "", f"YAML syntax: {text}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(Position(file, 1, 1), "", f"YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise InputError(problems)
    return located


def _pos(file: str, node: yaml.Node) -> Position:
    return Position(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: PathKey, file: str, out: Located,
           problems: list[Problem]) -> Any:
    out.values[path] = _pos(file, node)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str) and isinstance(key_node, yaml.ScalarNode):
                # Keys are names: 'on', 'no' or '2024' mean themselves, not YAML 1.1 booleans
                # or numbers.
                key = key_node.value
            elif not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            if key in result:
                problems.append(Problem(_pos(file, key_node), format_path(child),
                                        f"duplicate key (first at line {out.keys[child].line})"))
                continue
            out.keys[child] = _pos(file, key_node)
            result[key] = _build(loader, value_node, child, file, out, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), file, out, problems)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
