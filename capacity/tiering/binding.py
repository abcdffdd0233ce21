"""A plan is bound to what it was made from, like a Terraform plan to its configuration.

``tier plan`` records a digest of the inventory's hosts, tiers and policies and seals the
whole plan with an HMAC under a key that lives in the controller's state folder (0600,
made on first use).  ``tier apply`` loads the inventory itself, and refuses, before it
touches anything, a plan that

- is not sealed with this state folder's key (edited by hand, or made elsewhere),
- was made from an inventory whose hosts, tiers or policies changed since, or
- holds a unit that its policy would not choose: a path that is not a normalised relative
  path at the policy's depth under a tier root of the inventory, an action or tiers other
  than its rule's, a rule or policy the inventory does not have, files outside the unit.

The seal makes an edit detectable; the unit checks hold even for a plan sealed with a key
that leaked.  Apply then checks every unit again on the host before each step.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import posixpath
import secrets
from pathlib import Path
from typing import Any

from capacity import jsontext
from capacity.model import Inventory
from capacity.model.inventory import path_contains
from capacity.model.policy.language import ARRAY_ACTIONS
from capacity.problems import InputError, Position, Problem
from capacity.tiering.planfile import Plan, PlannedUnit
from capacity.tiering.state import StateDir

KEY_BYTES = 32


def plan_key(state: StateDir) -> bytes:
    """The state folder's plan key: made once, readable by its owner only."""
    path = state.plan_key
    state.root.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path}: not a plan key ({len(key)} bytes, not {KEY_BYTES});"
                         " remove it to make a new one, then plan again")
    return key


def config_digest(inventory: Inventory) -> str:
    """sha256 of what a plan depends on: every host (address, tiers, pacing, lock) and
    every policy (rules, units, holds, retention, hook, stub, pacing, caps, brake)."""
    data: dict[str, Any] = {
        "hosts": {n: h.model_dump(mode="json") for n, h in inventory.hosts.items()},
        "policies": {n: p.model_dump(mode="json", by_alias=True)
                     for n, p in inventory.policies.items()}}
    # Arrays a policy runs on: their endpoint, and their pools' ids and volumes.
    reached = sorted({a for p in inventory.policies.values() for a in p.arrays
                      if a in inventory.arrays})
    if reached:
        data["arrays"] = {n: {"rest": inventory.arrays[n].model_dump(mode="json")["rest"],
                              "pools": {p: {"pool_id": pool.pool_id, "volumes": pool.model_dump(
                                  mode="json")["volumes"]}
                                  for p, pool in inventory.arrays[n].pools.items()}}
                          for n in reached}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def seal(data: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA256 of a plan's JSON data (without its seal), in canonical form."""
    body = {k: v for k, v in data.items() if k != "seal"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def sealed_ok(text: str, key: bytes) -> bool:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a plan is a JSON object")
    given = data.get("seal")
    return isinstance(given, str) and hmac.compare_digest(given, seal(data, key))


def write_plan(plan: Plan, path: Path, key: bytes) -> None:
    """Write the plan sealed: atomically, so a reader never sees half a plan."""
    data = json.loads(plan.to_json())
    data["seal"] = seal(data, key)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(jsontext.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_plan(path: Path, state: StateDir) -> Plan:
    """The plan, if this state folder's key sealed it; nothing else is read from it first."""
    try:
        text = path.read_text(encoding="utf-8")
        if not sealed_ok(text, plan_key(state)):
            raise _bad_plan(path, "not sealed with the plan key of the state folder"
                            f" {state.root} (edited since it was planned, or planned with"
                            " another --state): re-plan")
        return Plan.from_json(text)
    except OSError as exc:
        raise _bad_plan(path, f"cannot read: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        raise _bad_plan(path, f"not a plan file: {exc}") from None


def _bad_plan(path: Path, message: str) -> InputError:
    return InputError([Problem(Position(str(path), 1, 1), "", message)])


def refusals(plan: Plan, inventory: Inventory) -> list[tuple[str, str]]:
    """(field, why) for everything in the plan its inventory does not back."""
    if plan.digest != config_digest(inventory):
        return [("digest", "the inventory changed since this plan was made (hosts, tiers or"
                 " policies): re-plan")]
    found: list[tuple[str, str]] = []
    for host, tiers in plan.roots.items():
        inv_host = inventory.hosts.get(host)
        if inv_host is None:
            found.append((f"roots.{host}", f"no host {host!r} in the inventory"))
            continue
        for tier, root in tiers.items():
            spec = inv_host.tiers.get(tier)
            if spec is None or spec.path != root:
                found.append((f"roots.{host}.{tier}", f"{root!r} is not the root of tier"
                              f" {tier!r} on {host} in the inventory"))
    for i, unit in enumerate(plan.units):
        why = _unit_refusal(plan, inventory, unit)
        if why:
            found.append((f"units[{i}]", f"{unit.unit!r}: {why}"))
    return found


def _unit_refusal(plan: Plan, inventory: Inventory, unit: PlannedUnit) -> str | None:
    if unit.action in ARRAY_ACTIONS:
        from capacity.tiering import volumes

        return volumes.refusal(plan, inventory, unit)
    policy = inventory.policies.get(unit.policy)
    if policy is None:
        return f"no policy {unit.policy!r} in the inventory"
    host = inventory.hosts.get(unit.host)
    if host is None or unit.host not in policy.hosts:
        return f"policy {unit.policy!r} does not run on host {unit.host!r}"
    if unit.action not in ("move", "copy", "expire"):
        return f"a unit on a host is moved, copied or expired, not {unit.action}"
    rule = next((r for r in policy.rules if r.name == unit.rule), None)
    if rule is None:
        return f"policy {unit.policy!r} has no rule {unit.rule!r}"
    if (unit.action, unit.source, unit.target) != (rule.action, rule.source, rule.target):
        return (f"rule {rule.name!r} does {rule.action} from {rule.source!r}"
                + (f" to {rule.target!r}" if rule.target else "")
                + f", not {unit.action} from {unit.source!r}"
                + (f" to {unit.target!r}" if unit.target else ""))
    if unit.source not in host.tiers or (unit.target and unit.target not in host.tiers):
        return f"host {unit.host!r} has no such tier"
    if plan.roots.get(unit.host, {}).get(unit.source) != host.tiers[unit.source].path:
        return "its tier root is not the inventory's"
    shape = _path_refusal(unit.unit)
    if shape:
        return shape
    depth = policy.unit.depth
    parts = unit.unit.split("/")
    if not unit.files:
        return "it lists no files"
    is_file = [f.path for f in unit.files] == [unit.unit]
    if depth == 0 and not is_file:
        return "the policy's units are single files"
    if depth and len(parts) != depth and not (is_file and len(parts) < depth):
        return f"the policy's units are {depth} folder(s) deep"
    for f in unit.files:
        if _path_refusal(f.path) or policy.unit.unit_of(f.path) != unit.unit:
            return f"file {f.path!r} is not inside the unit"
    source_root = host.tiers[unit.source].path
    bucket = host.tiers[unit.source].bucket
    for tier, spec in host.tiers.items():
        # Key prefixes in a bucket and folders on the host are namespaces of their own.
        if tier != unit.source and spec.bucket == bucket and path_contains(
                f"{source_root}/{unit.unit}", spec.path):
            return f"it holds the root of tier {tier!r}"
    if unit.bytes != sum(f.size for f in unit.files):
        return "its size is not the sum of its files"
    age = (plan.now.timestamp() - max(f.mtime for f in unit.files)) / 86400
    chosen = policy.first_rule(unit.source, unit.unit, unit.bytes, age,
                               copy=unit.action == "copy")
    # An atime rule judges ages the catalogue knew: the plan does not carry them.
    if rule.select.age_of != "atime" and (chosen is None or chosen.name != rule.name):
        return (f"the policy's rules would not choose it for {rule.name!r} (the first"
                f" matching rule is {chosen.name if chosen else 'none'!r})")
    return None


def _path_refusal(path: str) -> str | None:
    if not path or path.startswith("/") or posixpath.normpath(path) != path or any(
            part in ("", ".", "..") for part in path.split("/")):
        return "not a normalised path relative to its tier root"
    if "\0" in path:
        return "a path cannot hold NUL"
    return None
