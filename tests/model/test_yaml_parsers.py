"""libyaml reads inventories, the pure Python parser is the reference: the same data and
positions for every file we ship, and the reference's messages for input either refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from capacity import yamlpos

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*ROOT.glob("inventories/**/*.yaml"), *ROOT.glob("scenarios/*.yaml"),
                  *ROOT.glob("capacity/catalog/*.yaml")])


def read_with(parser: type[yaml.SafeLoader], text: str) -> object:
    saved = yamlpos._FAST
    yamlpos._FAST = parser
    try:
        found = yamlpos.read_yaml(text, "f.yaml")
        return found.data, found.values, found.keys
    except yamlpos.InputError as exc:
        return str(exc)
    finally:
        yamlpos._FAST = saved


def test_the_fast_parser_is_libyaml() -> None:
    assert yaml.__with_libyaml__ and yamlpos._FAST is yaml.CSafeLoader


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_both_parsers_read_every_shipped_file_alike(path: Path) -> None:
    text = path.read_text()
    assert read_with(yaml.CSafeLoader, text) == read_with(yaml.SafeLoader, text)


@pytest.mark.parametrize("text", [
    "name: Zürich\nas_of: 2026-01-01\nx: a\x00b\n",  # libyaml would count bytes: column 6
    "name: Zürich ünd\n  bad: [1, 2\n",
    "name: x\n\tsites: {}\n",
    "a: 1\na: 2\n",
    "name: a\u0085\u0001b\n",
    "name: 'héllo\n",
    "name: \ud800\n",  # libyaml cannot take a lone surrogate at all
    "a: &x [*x]\n",
])
def test_refused_input_gets_the_reference_parsers_message(text: str) -> None:
    said = read_with(yaml.CSafeLoader, text)
    assert isinstance(said, str) and said == read_with(yaml.SafeLoader, text)
    assert said.startswith("f.yaml:")


def test_a_forbidden_character_is_placed_by_characters_not_bytes() -> None:
    said = read_with(yaml.CSafeLoader, "name: Zürich\nx: a\x00b\n")
    assert said == "f.yaml:2:5: YAML: special characters are not allowed (character 0)"
