"""What the console's buttons do, each through cancelq's own client and stores, and each audited.

Every action returns what came of it (``Done``) and appends who, what, the filter, how many and from where to
the audit stream (with its ``console.action`` event). Bulk actions on every match of a filter take at most
``console_action_cap`` entries at once; the page offers to continue with the rest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from cancelq.campaigns.record import CampaignError
from cancelq.client import JobNotFound
from cancelq.gate import controls
from cancelq.jobs.deadletters import DeadFilter
from cancelq.ops.audit import Action
from cancelq.ops.console.app import Console


@dataclass(frozen=True)
class Who:
    """Who acts, from where."""

    operator: str
    address: str


@dataclass(frozen=True)
class Done:
    count: int
    message: str
    job_ids: list[str] = field(default_factory=list)
    more: int = 0
    """Matches left after a capped action (0: none)."""


def replay(console: Console, who: Who, job_ids: list[str], *, filter_: dict[str, object] | None = None,
           action: str = "dead.replay") -> Done:
    """Run dead letters again (a new run of each job); ids already gone are counted as not found."""
    handles, missing = [], 0
    for job_id in dict.fromkeys(job_ids):
        try:
            handles.append(console.client.replay(job_id))
        except JobNotFound:
            missing += 1
    note = f"; {missing} not found (replayed, purged or expired)" if missing else ""
    message = f"replayed {len(handles)} dead letter(s){note}"
    _audit(console, who, action, ",".join(h.job_id for h in handles)[:500], len(handles), filter_, note.lstrip("; "))
    return Done(len(handles), message, [h.job_id for h in handles])


def purge(console: Console, who: Who, job_ids: list[str], *, filter_: dict[str, object] | None = None,
          action: str = "dead.purge") -> Done:
    removed = console.client.rt.dead_letters.remove(list(dict.fromkeys(job_ids)))
    _audit(console, who, action, ",".join(job_ids)[:500], removed, filter_)
    return Done(removed, f"purged {removed} dead letter(s)")


def matching(console: Console, where: DeadFilter, search: str) -> tuple[list[str], int]:
    """The first ``action_cap`` job ids matching, and how many match in all."""
    page = console.client.rt.dead_letters.page(where, search=search, limit=console.action_cap)
    return [str(e["job_id"]) for e in page.entries], page.total


def on_matching(console: Console, who: Who, what: str, where: DeadFilter, search: str) -> Done:
    """Replay or purge every match of the filter, up to the cap."""
    ids, total = matching(console, where, search)
    described = {k: v for k, v in {**asdict(where), "search": search}.items() if v not in (None, "")}
    run = replay if what == "replay" else purge
    done = run(console, who, ids, filter_=described, action=f"dead.{what}_matching")
    return Done(done.count, done.message, done.job_ids, max(0, total - len(ids)))


def campaign(console: Console, who: Who, what: str, campaign_id: str) -> Done:
    """pause, resume, abort or redo-failed a campaign."""
    cq = console.client
    reason = f"from the console by {who.operator}"
    try:
        if what == "pause":
            cq.pause_campaign(campaign_id, reason)
        elif what == "resume":
            cq.resume_campaign(campaign_id)
        elif what == "abort":
            cq.abort_campaign(campaign_id, reason)
        elif what == "redo":
            count = len(cq.redo_failed(campaign_id))
            _audit(console, who, "campaign.redo_failed", campaign_id, count)
            return Done(count, f"replayed {count} dead letter(s) of {campaign_id}")
        else:
            return Done(0, f"unknown campaign action {what!r}")
    except CampaignError as exc:
        return Done(0, f"{campaign_id}: {exc}")
    _audit(console, who, f"campaign.{what}", campaign_id, 1)
    return Done(1, f"{what}d {campaign_id}" if what != "abort" else f"aborted {campaign_id}")


def pause_scope(console: Console, who: Who, scope: str, reason: str) -> Done:
    controls.pause(console.client.rt.redis, scope, reason, by=who.operator)
    _audit(console, who, "scope.pause", scope, 1, detail=reason)
    return Done(1, f"paused {scope}")


def resume_scope(console: Console, who: Who, scope: str) -> Done:
    lifted = controls.resume(console.client.rt.redis, scope)
    _audit(console, who, "scope.resume", scope, int(lifted))
    return Done(int(lifted), f"resumed {scope}" if lifted else f"{scope} was not paused")


def close_circuit(console: Console, who: Who, name: str) -> Done:
    """Close a circuit after a fix (``platform`` or ``platform:shop``): jobs go through at once."""
    platform, _, shop = name.partition(":")
    closed = console.client.rt.circuits.close(platform, shop or None, by=who.operator)
    _audit(console, who, "circuit.close", name, int(closed))
    return Done(int(closed), f"closed the circuit {name}" if closed else f"the circuit {name} was not open")


def _audit(console: Console, who: Who, action: str, target: str, count: int,
           filter_: dict[str, object] | None = None, detail: str = "") -> None:
    console.audit.record(Action(operator=who.operator, action=action, target=target, filter=dict(filter_ or {}),
                                count=count, address=who.address, detail=detail))
