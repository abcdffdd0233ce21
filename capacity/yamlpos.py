"""YAML that remembers where everything came from.

``read_yaml`` returns plain Python data plus a map from each value's path (a tuple of keys and
list indices) to its position, so any later problem, from pydantic or from a cross-reference
check, can be reported as ``FILE:LINE:COL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from capacity.problems import (
    InputError,
    InventoryWarning,
    PathKey,
    Position,
    Problem,
    format_path,
)

__all__ = ["InputError", "InventoryWarning", "Located", "PathKey", "Position", "Problem",
           "format_path", "read_yaml"]

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


MAX_BYTES = 16 * 2**20
"""An inventory is kilobytes; a larger input is a mistake (or an attack) to refuse early."""
MAX_NODES = 500_000
"""Values after aliases are expanded: a few aliases can stand for billions ("laughs")."""
MAX_DEPTH = 64
"""Nesting of mappings and lists: the model's own is under ten."""


class _TooLarge(Exception):
    pass


def read_yaml(text: str, file: str) -> Located:
    """Parse one YAML document; raise InputError on syntax errors, duplicate keys, values
    that cannot be read, and inputs too large, too deep or too self-referential to be an
    inventory."""
    if len(text) > MAX_BYTES:
        raise InputError([Problem(Position(file, 1, 1), "", f"{len(text):,} characters: more"
                                  f" than the {MAX_BYTES:,} an inventory may have")])
    if _FAST is not yaml.SafeLoader:
        try:
            return _read(text, file, _FAST)
        except Exception:  # said again below, as the reference parser says it
            pass
    return _read(text, file, yaml.SafeLoader)


# libyaml's parser where PyYAML was built with it (its wheels are): ten times the speed of
# the pure Python one, with the same nodes and marks.  Input it refuses is read again by the
# pure Python parser, whose messages and positions are the ones we report (libyaml counts
# bytes where a character YAML forbids stands, and cannot take every string).
_FAST: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(text: str, file: str, parser: type[yaml.SafeLoader]) -> Located:
    problems: list[Problem] = []
    loader: yaml.SafeLoader | None = None
    try:
        loader = parser(text)
        node = loader.get_single_node()
        if node is None:
            return Located({}, {(): Position(file, 1, 1)}, {})
        located = Located(None, {}, {})
        located.data = _Builder(loader, file, located, problems).build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)
        text = exc.problem or exc.context or "cannot parse"
        if exc.context and exc.context_mark and exc.problem_mark:
            start = exc.context_mark
            text += f" ({exc.context} at line {start.line + 1}, column {start.column + 1})"
        raise InputError([Problem(pos, "", f"YAML syntax: {text}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, ...)
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise InputError([Problem(Position(file, line, col), "", f"YAML: {exc.reason}"
                                  f" (character {exc.character!r})")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(Position(file, 1, 1), "", f"YAML: {exc}")]) from None
    except RecursionError:
        raise InputError([Problem(Position(file, 1, 1), "", "YAML nested too deep to be an"
                                  f" inventory (more than {MAX_DEPTH} levels)")]) from None
    except _TooLarge as exc:
        raise InputError([Problem(Position(file, 1, 1), "", str(exc))]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if problems:
        raise InputError(problems)
    return located


def _pos(file: str, node: yaml.Node) -> Position:
    return Position(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Plain data from the node tree, recording where each value stands.  Aliases are
    followed (a value may stand in several places) but counted, and a node inside itself is
    refused: both would otherwise run without end."""

    def __init__(self, loader: yaml.SafeLoader, file: str, out: Located,
                 problems: list[Problem]):
        self.loader, self.file, self.out, self.problems = loader, file, out, problems
        self.built = 0
        self.inside: set[int] = set()

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.built += 1
        if self.built > MAX_NODES:
            raise _TooLarge(f"more than {MAX_NODES:,} values once aliases are expanded: not"
                            " an inventory (an alias bomb?)")
        if len(path) > MAX_DEPTH:
            raise _TooLarge(f"nested more than {MAX_DEPTH} levels deep: not an inventory")
        if id(node) in self.inside:
            raise _TooLarge(f"{format_path(path) or 'the document'} at {_pos(self.file, node)}"
                            " contains itself (a recursive alias)")
        self.out.values[path] = _pos(self.file, node)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        self.inside.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._scalar(node, path)
        finally:
            self.inside.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[Any, Any]:
        self.loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                # Keys are names: 'on', 'no' or '2024' mean themselves, not YAML 1.1 booleans
                # or numbers.
                key = key_node.value
            else:
                key = str(self.build(key_node, (*path, "<key>")))
            child = (*path, key)
            if key in result:
                self.problems.append(Problem(
                    _pos(self.file, key_node), format_path(child),
                    f"duplicate key (first at line {self.out.keys[child].line})"))
                continue
            self.out.keys[child] = _pos(self.file, key_node)
            result[key] = self.build(value_node, child)
        return result

    def _scalar(self, node: yaml.Node, path: PathKey) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:  # 2026-13-45, a 5,000-digit integer
            self.problems.append(Problem(_pos(self.file, node), format_path(path),
                                         f"cannot read {_short(node)}: {exc}"))
            return None


def _short(node: yaml.Node) -> str:
    value = str(getattr(node, "value", ""))
    return repr(value if len(value) <= 40 else value[:37] + "...")
