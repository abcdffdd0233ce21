"""Building blocks of the model: a strict base class and typed units for fields."""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import itertools
import sys
import typing
from collections.abc import Callable
from types import ModuleType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, WrapValidator

from capacity import units


class Model(BaseModel):
    """Every model object: unknown keys are errors, objects are immutable once loaded.

    A field is documented by the string literal under it.  Those become the schema's
    descriptions only when a schema is asked for (``describe_fields``): reading them at
    import, as pydantic's ``use_attribute_docstrings`` does, costs every command a tenth of
    a second."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False)


def describe_fields() -> None:
    """Give every model field without a description the string literal under it in its
    class, and rebuild the models' schemas with them (once; for ``capacity schema``)."""
    global _described
    if _described:
        return
    models: list[type[Model]] = []
    todo: list[type[Model]] = [Model]
    while todo:
        cls = todo.pop()
        models.append(cls)
        todo.extend(cls.__subclasses__())
    docs: dict[str, dict[str, dict[str, str]]] = {}  # module -> class -> field -> text
    for cls in models:
        for k in cls.__mro__:
            if issubclass(k, Model) and k.__module__ not in docs:
                docs[k.__module__] = _attribute_docs(sys.modules[k.__module__])
        for name, field in cls.model_fields.items():
            # An inherited field is documented where it is declared.
            text = next((docs[k.__module__].get(k.__qualname__, {})[name] for k in cls.__mro__
                         if k.__module__ in docs
                         and name in docs[k.__module__].get(k.__qualname__, {})), None)
            if text is not None and field.description is None:
                field.description = text
    # A model's schema embeds those of its fields' models: rebuild those first.
    done: set[type[Model]] = set()

    def rebuild(cls: type[Model]) -> None:
        if cls in done:
            return
        done.add(cls)
        for field in cls.model_fields.values():
            for used in _models_in(field.annotation):
                rebuild(used)
        cls.model_rebuild(force=True)

    for cls in models:
        rebuild(cls)
    _described = True


def _models_in(annotation: object) -> list[type[Model]]:
    """The models a field's type names, however deep (``dict[str, list[Pool]]``)."""
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


_described = False


def _attribute_docs(module: ModuleType) -> dict[str, dict[str, str]]:
    """Class -> field -> the string literal that follows the field's annotated assignment
    in the class body, of every top-level class of ``module``."""
    found: dict[str, dict[str, str]] = {}
    for node in ast.parse(inspect.getsource(module)).body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields = found[node.name] = {}
        for first, then in itertools.pairwise(node.body):
            if (isinstance(first, ast.AnnAssign) and isinstance(first.target, ast.Name)
                    and isinstance(then, ast.Expr) and isinstance(then.value, ast.Constant)
                    and isinstance(then.value.value, str)):
                fields[first.target.id] = inspect.cleandoc(then.value.value)
    return found


def _unit(parse: Callable[[object], Any], schema: dict[str, Any]) -> tuple[Any, ...]:
    def check(value: object, _handler: Any) -> Any:
        # The parser is the whole check, and what it gives is kept as it is (a duration in
        # years stays ``Years``, which pydantic's own int check would make a plain int).
        try:
            return parse(value)
        except units.UnitError as exc:
            raise ValueError(str(exc)) from None
    return WrapValidator(check), WithJsonSchema(schema)


# "x-unit" names the unit kind for docs/inventory.md: a field's own description replaces the
# unit's in the JSON Schema, and the generated reference still shows "size", "90d", "30%".
Bytes = Annotated[int, *_unit(units.parse_size, {
    "x-unit": "size",
    "anyOf": [{"type": "string", "pattern": r"^\s*[0-9.]+\s*[A-Za-z]*\s*$"},
              {"type": "integer", "minimum": 0}],
    "description": "a size: '7.68TB' (SI), '1.5TiB' (IEC) or whole bytes"})]
"""A size in bytes."""

Ratio = Annotated[float, *_unit(units.parse_ratio, {
    "x-unit": "ratio",
    "anyOf": [{"type": "string", "pattern": r"^\s*[0-9.]+\s*%\s*$"},
              {"type": "number", "minimum": 0, "maximum": 1}],
    "description": "a percentage ('30%') or a fraction (0.3)"})]
"""A fraction, 0.3 for 30%."""

Days = Annotated[int, *_unit(units.parse_days, {
    "x-unit": "duration",
    "anyOf": [{"type": "string", "pattern": r"^\s*[0-9.]+\s*[A-Za-z]+\s*$"},
              {"type": "integer", "minimum": 0}],
    "description": "a duration: '90d', '12w', '6mo' (30 days), '5y' (365 days), or days"})]
"""A duration in whole days."""

ByteRate = Annotated[float, *_unit(units.parse_byte_rate, {
    "x-unit": "rate", "type": "string", "description": "a transfer rate: '200MB/s', '10TB/d'"})]
"""Bytes per second."""

Growth = Annotated[float, *_unit(units.parse_growth, {
    "x-unit": "growth", "type": "string",
    "description": "compound growth: '12%/y' ('1%/mo' is annualised)"})]
"""Compound annual growth, 0.12 for 12% a year."""

Date = Annotated[dt.date, *_unit(units.parse_date, {
    "x-unit": "date", "type": "string", "format": "date",
    "description": "an ISO 8601 date: 2026-03-01"})]

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=64)]
"""An identifier that other parts of the inventory refer to."""

MAX_COUNT = 1_000_000
"""Nodes, racks, drives, cores: a million of anything is a typo, and the simulator would
spend minutes on it."""

Positive = Annotated[int, Field(ge=1, le=MAX_COUNT)]
NonNegative = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Factor = Annotated[float, Field(gt=0, le=1000)]
"""A multiplier: above zero, at most a thousandfold."""
