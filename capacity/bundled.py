"""The example inventories and what-if scenarios that ship inside the package.

``capacity/examples/inventories`` and ``capacity/examples/scenarios`` are links to the
repository's top-level folders; the wheel carries their files (pyproject.toml's package data),
so the same paths work in a source checkout and in an installed package, from any folder.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

EXAMPLES = Path(str(files("capacity") / "examples"))
# Resolved, so messages name the top-level folder in a checkout.
INVENTORIES = (EXAMPLES / "inventories").resolve()
SCENARIOS = (EXAMPLES / "scenarios").resolve()
EXAMPLE = INVENTORIES / "medical-center.yaml"


def scenario_names() -> list[str]:
    return sorted(path.stem for path in SCENARIOS.glob("*.yaml"))


def scenario_path(given: str | Path) -> Path:
    """A scenario file as given, or a bundled scenario by name (``genomics``): a file that
    exists always wins, so a local ``genomics.yaml`` is never shadowed."""
    path = Path(given)
    if path.exists() or len(path.parts) != 1:
        return path
    bundled = SCENARIOS / (path.name if path.suffix == ".yaml" else f"{path.name}.yaml")
    return bundled if bundled.is_file() else path
