"""One policy on arrays, planned and simulated: day after day, the planner (over an array
that does what each plan says) and the simulator set the same volumes to the same levels
on the same days.  Both call the same rules; this checks everything around them: ages,
candidates, volumes already at their level, the runs' days."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from capacity.load import load_inventory
from capacity.report.simulation import summary
from capacity.sim import simulate
from capacity.tiering.volumes import plan_array
from capacity.transports.vsp import ArrayState, Ldev, Pool
from tests.volumes.lab import write_lab

DAYS = 200


def test_planner_and_simulator_set_the_same_volumes_on_the_same_days(tmp_path: Path) -> None:
    path = write_lab(tmp_path)
    # A third era, closing within the run, on a selection by size as well.
    text = path.read_text().replace(
        "          pacs-archive-2026:",
        "          pacs-archive-2027a: {ldev: 0x203, used: 2TiB, last_write: 2027-01-15}\n"
        "          pacs-archive-2026:")
    path.write_text(text)
    inv = load_inventory(path)
    pool = inv.arrays["g900-lab"].pools["pacs-hdt"]
    ldevs = {v.ldev: Ldev(v.ldev, label, ("CVS", "HDT"), 0, 2 * v.used, v.used,
                          tier_level=str(v.tier_level)) for label, v in pool.volumes.items()}
    live_pool = Pool(0, "pacs-hdt", "HDT", "POLN", 0, 0, 0.5, 0.7, 0.8)
    planned: list[tuple[str, str, int]] = []
    for day in range(DAYS):
        now = dt.datetime.combine(inv.as_of + dt.timedelta(days=day), dt.time(22, 0),
                                  dt.UTC)
        state = ArrayState("https://g900-lab", (live_pool,), (), tuple(ldevs.values()))
        units, _ = plan_array(inv, "g900-lab", state, now)
        for u in units:
            if u.action == "tiering":
                planned.append((now.date().isoformat(), u.unit, int(u.target or 0)))
                ldev = next(d for d in ldevs.values() if d.label == u.unit)
                ldevs[ldev.ldev_id] = dataclasses.replace(ldev, tier_level=u.target)
    simulated = [(c["date"], c["volume"], c["tier_level"])
                 for c in summary(simulate(inv, years=1, procurement=False))["volume_tiering"]
                 if c["date"] < (inv.as_of + dt.timedelta(days=DAYS)).isoformat()]
    assert planned == simulated
    assert [v for _, v, _ in planned] == ["pacs-archive-2019", "pacs-archive-2026",
                                          "pacs-archive-2027a"]
