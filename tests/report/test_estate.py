"""`capacity show` speaks the same units as `simulate`: storage in decimal TB, RAM in binary
TiB/GiB, and says so."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from capacity.load import load
from capacity.report.estate import estate_report, print_estate

ROOT = Path(__file__).resolve().parents[2]


def test_show_prints_ram_in_binary_and_storage_in_decimal_units() -> None:
    report = estate_report(load(ROOT / "inventories" / "small-clinic.yaml").inventory)
    console = Console(record=True, width=200, color_system=None)
    print_estate(report, console)
    out = console.export_text()
    assert "RAM in binary units (1 TiB = 2^40 bytes)" in out
    assert "storage in decimal units" in out
    m = report["clusters"][0]["compute"]
    ram = f"{m['ram_demand_bytes'] / 2**40:.1f} TiB/{m['ram_bytes'] / 2**40:.1f} TiB"
    assert ram.replace(".0 ", " ") in out  # format_size drops a trailing .0
    usable = report["resources"][0]["usable_bytes"]
    assert f"{usable / 10**12:.1f} TB".replace(".0 ", " ") in out
