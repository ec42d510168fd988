"""The Shops page: shops needing re-auth, shops parked by a configuration fault, open circuits (and when they
probe), pauses (why, who, when), cooldowns and limits; close a circuit after a fix, pause and resume a scope."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tornado import web

from cancelq.core import keys
from cancelq.gate.controls import ScopeError, pauses, scope_name, snapshot
from cancelq.ops.console import actions
from cancelq.ops.console.base import ConsoleHandler
from cancelq.pushes.watch import Watch


@dataclass(frozen=True)
class Circuit:
    name: str
    open_until_ms: int
    probe: str

    @property
    def probes_in_s(self) -> float:
        return max(0.0, (self.open_until_ms - time.time() * 1000) / 1000)


def circuits(client: Any) -> list[Circuit]:
    """Open circuits, from the gate hash (``circuit:NAME`` -> "open_until open_ms probe probe_until"; probe: the
    job sent through as the probe, "-" for none)."""
    found = []
    for name, value in client.hgetall(keys.GATE).items():
        kind, _, circuit = str(name).partition(":")
        if kind == "circuit":
            parts = str(value).split()
            probe = parts[2] if len(parts) > 2 and parts[2] != "-" else ""
            found.append(Circuit(circuit, int(float(parts[0])) if parts else 0, probe))
    return sorted(found, key=lambda c: c.name)


class ShopsHandler(ConsoleHandler):
    @web.authenticated
    def get(self) -> None:
        rt = self.console.client.rt
        shops = rt.shops.all()
        limits = {f"{s.platform}/{s.name}": rt.limit_for(s) for s in shops}
        watch = Watch(rt.redis, verify_within_s=rt.settings.verify_within_s)
        self.page("cancelq_shops.html", "cancelq-shops", shops=shops, limits=limits, circuits=circuits(rt.redis),
                  pauses=pauses(rt.redis), cooldowns=snapshot(rt.redis).cooldowns, parked=rt.parking.parked(),
                  unconfirmed=watch.described(rt.ledger), verify_within_s=watch.verify_within_s)


class ShopsActionHandler(ConsoleHandler):
    @web.authenticated
    def post(self, what: str) -> None:
        self.require_operator()
        who = actions.Who(self.operator, self.request.remote_ip or "")
        if what == "close-circuit":
            done = actions.close_circuit(self.console, who, self.argument("circuit"))
        else:
            scope = self.scope()
            done = (actions.pause_scope(self.console, who, scope, self.argument("reason")) if what == "pause"
                    else actions.resume_scope(self.console, who, scope))
        self.done(done.message, self.reverse_url("cancelq-shops"))

    def scope(self) -> str:
        kind, _, value = self.argument("scope").partition(":")
        try:
            return scope_name(kind, value or None)
        except ScopeError as exc:
            raise web.HTTPError(400, f"{exc} (e.g. all, platform:shopee, shop:shopee/my-shop)") from None
