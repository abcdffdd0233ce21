"""`capacity validate | show | schema` as a user runs them: a real process, real files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from capacity.report import schema_doc

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "inventories").glob("*.yaml"))


class TextDates(yaml.SafeLoader):
    """Reads YAML as an editor's schema checker (YAML 1.2) sees it: dates are text, and only
    true/false are booleans ('on' is a key, not True)."""


TextDates.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:timestamp",
                                                  "tag:yaml.org,2002:bool")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
TextDates.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"),
                                list("tf"))


def capacity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *args], capture_output=True,
                          text=True, check=False, cwd=ROOT)


def test_examples_validate() -> None:
    run = capacity("validate", *map(str, EXAMPLES))
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("ok ") == len(EXAMPLES) >= 2


def test_show_without_file_uses_the_bundled_example_and_says_so() -> None:
    run = capacity("show")
    assert run.returncode == 0, run.stderr
    assert "bundled example" in run.stderr
    assert "medical-center.yaml" in run.stderr
    for heading in ("Storage", "Array tiers", "Compute", "Sites"):
        assert heading in run.stdout


def test_show_json_has_integer_bytes_and_iso_dates() -> None:
    run = capacity("show", str(ROOT / "inventories" / "medical-center.yaml"), "--format", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["as_of"] == "2026-11-01"

    def walk(node: object, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif key.endswith("_bytes"):
            assert isinstance(node, int) and not isinstance(node, bool), (key, node)

    walk(report)
    refs = {r["ref"] for r in report["resources"]}
    assert refs, "the example has storage resources"
    for r in report["resources"]:
        assert r["free_bytes"] == r["effective_bytes"] - r["used_bytes"]
        assert 0 <= r["usable_bytes"] <= r["raw_bytes"]


def test_show_bad_file_exits_2() -> None:
    run = capacity("show", str(ROOT / "tests" / "data" / "bad" / "wrong-type.yaml"))
    assert run.returncode == 2
    assert "clusters.hci.nodes" in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_file_is_bad_input_not_a_crash() -> None:
    run = capacity("show", "no/such/inventory.yaml")
    assert run.returncode == 2
    assert "no/such/inventory.yaml:1:1: cannot read" in run.stderr


def test_unknown_option_is_usage_error() -> None:
    run = capacity("show", "--colour")
    assert run.returncode == 2


def test_schema_is_valid_json_schema_and_accepts_the_examples() -> None:
    run = capacity("schema")
    assert run.returncode == 0
    schema = json.loads(run.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in EXAMPLES:
        data = yaml.load(path.read_text(), Loader=TextDates)
        errors = [e.message for e in validator.iter_errors(data)]
        assert not errors, (path.name, errors[:3])
    bad = yaml.load((ROOT / "tests/data/bad/unknown-key.yaml").read_text(), Loader=TextDates)
    assert list(validator.iter_errors(bad)), "the schema refuses unknown keys too"


def test_docs_inventory_md_is_current() -> None:
    """docs/inventory.md is generated: regenerate with `capacity schema --markdown`."""
    current = (ROOT / "docs" / "inventory.md").read_text()
    assert current == schema_doc.inventory_markdown(), (
        "docs/inventory.md is stale: run `capacity schema --markdown > docs/inventory.md`")


def test_docs_scenarios_md_is_current() -> None:
    current = (ROOT / "docs" / "scenarios.md").read_text()
    assert current == schema_doc.scenario_markdown(), (
        "docs/scenarios.md is stale: run"
        " `capacity schema --of scenario --markdown > docs/scenarios.md`")


def test_every_field_is_explained() -> None:
    for text in (schema_doc.inventory_markdown(), schema_doc.scenario_markdown()):
        rows = [line for line in text.splitlines() if line.startswith("| `")]
        unexplained = [row for row in rows if row.rstrip().endswith("|  |")]
        assert rows and not unexplained, unexplained


def test_shipped_scenarios_match_the_scenario_schema() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(capacity("schema", "--of",
                                                                    "scenario").stdout))
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        data = yaml.load(path.read_text(), Loader=TextDates)
        assert not [e.message for e in validator.iter_errors(data)], path.name
