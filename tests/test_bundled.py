"""Bundled scenarios by name: a file that exists always wins over a bundled name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from capacity.bundled import EXAMPLE, SCENARIOS, scenario_names, scenario_path

ROOT = Path(__file__).resolve().parents[1]


def test_bundled_files_are_the_top_level_folders() -> None:
    assert EXAMPLE == ROOT / "inventories" / "medical-center.yaml"
    assert scenario_names() == sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("given", ["genomics", "genomics.yaml"])
def test_a_name_finds_the_bundled_scenario(given: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert scenario_path(given) == SCENARIOS / "genomics.yaml"


def test_a_local_file_of_the_same_name_wins(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("genomics.yaml").write_text("name: mine\n")
    assert scenario_path("genomics.yaml") == Path("genomics.yaml")
    assert os.path.samefile(scenario_path("genomics.yaml"), tmp_path / "genomics.yaml")


def test_paths_with_folders_are_taken_as_given(tmp_path: Path) -> None:
    assert scenario_path("sub/genomics") == Path("sub/genomics")
    assert scenario_path("no-such-name") == Path("no-such-name")
