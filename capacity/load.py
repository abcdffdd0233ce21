"""Load an inventory from YAML: includes, the built-in catalogue, validation, cross-checks.

Every problem, whether YAML syntax, a wrong type, an unknown key or a dangling reference, is
reported as ``FILE:LINE:COL: field.path: message``, all of them at once, through InputError.
"""

from __future__ import annotations

import difflib
import typing
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from capacity.bundled import EXAMPLE, scenario_names, scenario_path
from capacity.checks import check_inventory, check_scenario
from capacity.lint import inventory_warnings, scenario_warnings
from capacity.model import Inventory
from capacity.model.hardware import Catalog
from capacity.model.scenario import Scenario
from capacity.yamlpos import (
    InputError,
    InventoryWarning,
    Located,
    PathKey,
    Position,
    Problem,
    format_path,
    read_yaml,
)

CATALOG_SECTIONS = ("drives", "arrays", "nodes")


@dataclass(frozen=True)
class Loaded:
    """An inventory that passed every check, the scenarios applied to it, and the warnings."""

    inventory: Inventory
    scenarios: list[Scenario]
    warnings: list[Problem]
    """Each at FILE:LINE:COL, in file order."""


def load_inventory(path: str | Path) -> Inventory:
    """Read, merge and validate an inventory; raise InputError listing every problem."""
    return load_with_scenarios(path, [])[0]


def load_with_scenarios(path: str | Path, scenario_paths: list[str | Path]
                        ) -> tuple[Inventory, list[Scenario]]:
    """As ``load``, with the warnings issued as InventoryWarning."""
    loaded = load(path, scenario_paths)
    for problem in loaded.warnings:
        warnings.warn(InventoryWarning(problem), stacklevel=2)
    return loaded.inventory, loaded.scenarios


def load(path: str | Path, scenario_paths: typing.Sequence[str | Path] = ()) -> Loaded:
    """An inventory with scenarios applied in order: each scenario's ``changes`` are merged
    over the inventory (positions then point into the scenario file), its events checked
    against the result.  Problems raise InputError; warnings come back with the result."""
    located = read_tree(Path(path))
    scenarios: list[tuple[Scenario, Located]] = []
    problems: list[Problem] = []
    for given in scenario_paths:
        try:
            scenario_located = read_scenario(given)
            scenario = validate(scenario_located, Scenario)
        except InputError as exc:
            problems += exc.problems
            continue
        overlay(located, scenario_located, ("changes",))
        scenarios.append((scenario, scenario_located))
    if problems:
        raise InputError(problems)
    _merge_builtin_catalog(located)
    inventory = validate(located, Inventory, check_inventory)
    for scenario, scenario_located in scenarios:
        findings = check_scenario(inventory, scenario)
        problems += [Problem(_where(scenario_located, p), format_path(p), m)
                     for p, m in findings]
    if problems:
        raise InputError(problems)
    found = [Problem(_where(located, p), format_path(p), m)
             for p, m in inventory_warnings(inventory, [s for s, _ in scenarios])]
    for scenario, scenario_located in scenarios:
        found += [Problem(_where(scenario_located, p), format_path(p), m)
                  for p, m in scenario_warnings(inventory, scenario)]
    in_file_order = sorted(set(found), key=lambda p: (p.position.file, p.position.line,
                                                       p.position.col, p.field, p.message))
    return Loaded(inventory, [s for s, _ in scenarios], in_file_order)


def overlay(into: Located, other: Located, prefix: PathKey) -> None:
    """Merge ``other``'s mapping at ``prefix`` over ``into``'s top level, field by field:
    mappings merge, anything else (lists too) replaces; positions follow the values."""
    def merge(target: dict[str, Any], value: dict[str, Any], path: PathKey) -> None:
        for key, item in value.items():
            here = (*path, key)
            if isinstance(item, dict) and isinstance(target.get(key), dict):
                merge(target[key], item, here)
                continue
            target[key] = item
            n = len(prefix)
            for table_in, table_other in ((into.values, other.values), (into.keys, other.keys)):
                for p in [p for p in table_in if p[:len(here) - n] == here[n:]]:
                    del table_in[p]
                table_in.update({p[n:]: pos for p, pos in table_other.items()
                                 if p[:len(here)] == here})

    changes = _get(other.data, prefix) if prefix[0] in other.data else {}
    if isinstance(changes, dict):
        merge(into.data, changes, prefix)

def read_file(path: Path) -> Located:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError([Problem(Position(str(path), 1, 1), "", f"cannot read: "
                                  f"{exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise InputError([Problem(Position(str(path), 1, 1), "", f"not UTF-8 text: {exc}")]
                         ) from None
    located = read_yaml(text, str(path))
    if not isinstance(located.data, dict):
        raise InputError([Problem(located.where(()), "", "expected a mapping of sections at the"
                                  " top of the file")])
    return located


def read_scenario(given: str | Path) -> Located:
    """A scenario file, or a bundled scenario by name; an unknown name lists the bundled ones."""
    path = scenario_path(given)
    if not path.exists() and len(path.parts) == 1:
        bundled = ", ".join(scenario_names())
        raise InputError([Problem(Position(str(path), 1, 1), "", "no such file, and no bundled"
                                  f" scenario of that name (bundled: {bundled})")])
    return read_file(path)


def read_tree(path: Path, _seen: tuple[Path, ...] = ()) -> Located:
    """Read a file and everything it includes, merged entry by entry."""
    located = read_file(path)
    includes = located.data.get("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise InputError([Problem(located.where(("include",)), "include",
                                  "expected a list of file names")])
    problems: list[Problem] = []
    for index, name in enumerate(includes):
        child = path.parent / name
        if not child.is_file():
            problems.append(Problem(located.where(("include", index)), f"include[{index}]",
                                    f"no such file: {child}"))
            continue
        if child.resolve() in (*_seen, path.resolve()):
            problems.append(Problem(located.where(("include", index)), f"include[{index}]",
                                    f"{name} includes itself (directly or through another"
                                    " file)"))
            continue
        try:
            problems += merge_entries(located, read_tree(child, (*_seen, path.resolve())))
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    return located


def merge_entries(into: Located, other: Located) -> list[Problem]:
    """Add the top-level sections of ``other`` to ``into``.  Mapping sections are merged entry
    by entry (the catalogue one level deeper); an entry defined twice is a problem."""
    problems = []
    for section, value in other.data.items():
        if section == "include":
            continue
        depth = 2 if section == "catalog" else 1
        problems += _merge(into, other, (section,), value, depth)
    return problems


def _merge(into: Located, other: Located, path: PathKey, value: Any, depth: int) -> list[Problem]:
    target = _get(into.data, path[:-1])
    key = path[-1]
    if key not in target:
        target[key] = value
        _copy_positions(into, other, path)
        return []
    if depth > 0 and isinstance(value, dict) and isinstance(target[key], dict):
        return [p for k, v in value.items() for p in _merge(into, other, (*path, k), v,
                                                            depth - 1)]
    first = into.where(path, key=True)
    return [Problem(other.where(path, key=True), format_path(path),
                    f"already defined at {first}")]


def _get(data: Any, path: PathKey) -> Any:
    for part in path:
        data = data[part]
    return data


def _copy_positions(into: Located, other: Located, prefix: PathKey) -> None:
    n = len(prefix)
    for table_in, table_other in ((into.values, other.values), (into.keys, other.keys)):
        table_in.update({p: pos for p, pos in table_other.items() if p[:n] == prefix})


def builtin_catalog() -> Located:
    """The catalogue shipped with the package, with positions in its own files."""
    merged = Located({}, {}, {})
    folder = resources.files("capacity.catalog")
    for section in CATALOG_SECTIONS:
        with resources.as_file(folder / f"{section}.yaml") as file:
            part = read_file(file)
        merged.data[section] = part.data
        merged.values.update({(section, *p): pos for p, pos in part.values.items()})
        merged.keys.update({(section, *p): pos for p, pos in part.keys.items()})
    return merged


def _merge_builtin_catalog(located: Located) -> None:
    """Put the built-in catalogue under ``catalog``; the inventory's own entries override it
    field by field, and the fields they change are listed in ``overridden``."""
    builtin = builtin_catalog()
    own = located.data.get("catalog")
    if own is not None and not isinstance(own, dict):
        return  # validation reports the wrong type at the inventory's own position
    own = own or {}
    merged: dict[str, Any] = {}
    for section in CATALOG_SECTIONS:
        entries = dict(builtin.data.get(section) or {})
        mine = own.get(section)
        if not isinstance(mine, dict):
            merged[section] = mine if section in own else entries
            continue
        for name, fields in mine.items():
            base = entries.get(name)
            if isinstance(base, dict) and isinstance(fields, dict):
                changed = [f for f in fields if f not in ("source", "assumed", "overridden")]
                entries[name] = {**base, **fields, "overridden": changed}
            else:
                entries[name] = fields
        merged[section] = entries
    merged.update({k: v for k, v in own.items() if k not in CATALOG_SECTIONS})
    for table_in, table_builtin in ((located.values, builtin.values),
                                    (located.keys, builtin.keys)):
        for path, pos in table_builtin.items():
            table_in.setdefault(("catalog", *path), pos)
    located.data["catalog"] = merged


M = typing.TypeVar("M", bound=BaseModel)


def validate(located: Located, model: type[M],
             check: typing.Callable[[M], list[tuple[PathKey, str]]] | None = None) -> M:
    """Validate data against ``model`` and then ``check``; every problem carries a position."""
    try:
        result = model.model_validate(located.data)
    except ValidationError as exc:
        raise InputError([_problem(located, model, err) for err in exc.errors()]) from None
    findings = check(result) if check else []
    if findings:
        raise InputError([Problem(_where(located, path), format_path(path), message)
                          for path, message in findings])
    return result


def _where(located: Located, path: PathKey) -> Position:
    """A problem with a whole section points at its key; one with a value, at the value."""
    try:
        value = _get(located.data, path)
    except (KeyError, IndexError, TypeError):
        value = None
    whole = isinstance(value, dict | list) and bool(path) and isinstance(path[-1], str)
    return located.where(path, key=whole)


def _problem(located: Located, model: type[BaseModel], err: Any) -> Problem:
    path = _data_path(located.data, err["loc"])
    kind, message = err["type"], err["msg"]
    if message.startswith(("Value error, ", "Assertion failed, ")):
        message = message.split(", ", 1)[1]
    if kind == "extra_forbidden":
        known = _field_names(model, path[:-1], located.data)
        message = f"unknown key {path[-1]!r}"
        guess = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
        message += f"; did you mean {guess[0]!r}?" if guess else (
            f" (expected one of: {', '.join(sorted(known))})" if known else "")
        return Problem(located.where(path, key=True), format_path(path), message)
    if kind == "missing":
        # The path ends with the missing key; point at the mapping that lacks it.
        return Problem(located.where(path[:-1]), format_path(path),
                       f"missing required field {path[-1]!r}")
    if kind == "literal_error":
        expected = [e.strip().strip("'") for e in err["ctx"]["expected"].replace(" or ", ", ")
                    .split(", ")]
        guess = difflib.get_close_matches(str(err["input"]), expected, n=1, cutoff=0.6)
        message = f"{err['input']!r} is not one of: {', '.join(expected)}"
        message += f"; did you mean {guess[0]!r}?" if guess else ""
    return Problem(_where(located, path), format_path(path), message)


def _data_path(data: Any, loc: tuple[Any, ...]) -> PathKey:
    """Keep the parts of a pydantic error location that index into the data; drop the
    names pydantic adds for union members and validators."""
    path: list[str | int] = []
    for part in loc:
        in_list = isinstance(data, list) and isinstance(part, int) and part < len(data)
        if (isinstance(data, dict) and part in data) or in_list:
            data = data[part]
        elif isinstance(data, dict) and part in _tags(data):
            continue  # the tag pydantic puts in the location of a discriminated union
        elif isinstance(data, dict) and isinstance(part, str) and not _internal(part):
            data = None  # a missing or unknown key: keep it, then stop descending
        else:
            continue
        path.append(part)
    return tuple(path)


def _tags(data: dict[Any, Any]) -> set[str]:
    return {v for v in data.values() if isinstance(v, str)}


def _internal(part: str) -> bool:
    return "[" in part or part in ("str", "int", "float", "bool", "none", "dict", "list")


def _field_names(model: type[BaseModel], path: PathKey, data: Any) -> list[str]:
    """The keys the model accepts at ``path`` (by alias where it has one)."""
    tp: Any = model
    for part in path:
        tp = _unwrap(tp, data)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        else:
            return []
        data = data.get(part) if isinstance(data, dict) else (
            data[part] if isinstance(data, list) and isinstance(part, int)
            and part < len(data) else None)
    tp = _unwrap(tp, data)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _unwrap(tp: Any, data: Any = None) -> Any:
    """The type under Annotated and Optional; of a union of models, the member whose
    literal tag (``action: migrate``) the data carries."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, type(int | None)):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            tagged = [m for m in models if isinstance(data, dict) and _tag_matches(m, data)]
            tp = (tagged or models or members)[0]
        else:
            return tp


def _tag_matches(model: type[BaseModel], data: dict[str, Any]) -> bool:
    for name, field in model.model_fields.items():
        if typing.get_origin(field.annotation) is typing.Literal:
            key = field.alias or name
            if key in data and data[key] in typing.get_args(field.annotation):
                return True
    return False


__all__ = ["EXAMPLE", "Catalog", "InputError", "InventoryWarning", "Loaded", "Problem", "load",
           "load_inventory", "load_with_scenarios", "validate"]
