"""``capacity tier ...``: the tiering engine on real hosts.  Each step has its module."""

from __future__ import annotations

import typer

from capacity.cli import tier_apply, tier_plan, tier_run, tier_scan

tier_app = typer.Typer(
    name="tier", no_args_is_help=True,
    help="Scan hosts, plan tier moves and expiry from the inventory's policies, apply a plan"
         " safely, resume after a crash, and report.")
tier_scan.register(tier_app)
tier_plan.register(tier_app)
tier_apply.register(tier_app)
tier_run.register(tier_app)


def register(app: typer.Typer) -> None:
    app.add_typer(tier_app, name="tier")
