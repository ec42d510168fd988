"""Every Redis key cancelq uses, in one place. All live under ``PREFIX`` (``{cq}:``).

The braces are a Redis Cluster hash tag: every key hashes to the slot of ``cq``, so a script or transaction
over several keys runs on one node of a Cluster (or a cluster-mode managed service). Every key a script
touches is built here and passed in its KEYS. An older cancelq used ``cq:`` without the tag
(``LEGACY_PREFIX``); ``worker/upgrade.py`` moves those keys to these names at a worker's start.
"""

from __future__ import annotations

import hashlib

PREFIX = "{cq}"
LEGACY_PREFIX = "cq"
"""The prefix before the hash tag, kept only to find and move an older cancelq's keys."""


def from_legacy(name: str) -> str:
    """Today's name of a key an older cancelq named ``cq:...`` (a name without that prefix is returned as is)."""
    old = f"{LEGACY_PREFIX}:"
    return f"{PREFIX}:{name[len(old):]}" if name.startswith(old) else name


DELAYED = f"{PREFIX}:delayed"
"""zset job_id -> when the pump looks at the job (ms): a wait's due time (no Celery countdowns), or a queued
job's safety net, which stays while the job runs (the pump then finds its lease in the job and looks again at
its expiry: an expired lease is taken over)."""
DLQ = f"{PREFIX}:dlq"
"""zset job_id -> dead-lettered at (ms)."""
REJECTED = f"{PREFIX}:rejected"
"""zset job_id -> rejected at (ms)."""
SHOPS = f"{PREFIX}:shops"
"""set of "platform/shop" names."""


def glob_literal(text: str) -> str:
    """``text`` matched literally in a SCAN/ZSCAN ``MATCH`` pattern (its glob characters escaped)."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def job(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def idempotency(key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{PREFIX}:idem:{digest}"


def dlq_entry(job_id: str) -> str:
    return f"{PREFIX}:dlq:{job_id}"


DLQ_SEARCH = f"{PREFIX}:dlqx:search"
"""lex zset (scores 0) of ``o:ORDER_ID\x00JOB_ID`` and ``r:CLIENT_REF\x00JOB_ID``: dead letters by order id and by
the producer's reference, for a prefix search."""
DLQ_DIMS = f"{PREFIX}:dlqx:dims"
"""set of the dead-letter index keys (``dlq_index``) that exist: what the console counts by kind, code, platform."""
DLQ_INDEXED = f"{PREFIX}:dlqx:version"
"""Set once every dead letter written before the indexes existed has been indexed (``DeadLetters.ensure_indexed``)."""
DLQ_DIMENSIONS = ("kind", "platform", "shop", "code", "campaign")


def dlq_index(dimension: str, value: str) -> str:
    """zset job_id -> dead-lettered at (ms): the dead letters of one kind, platform, shop, code or campaign."""
    return f"{PREFIX}:dlqx:{dimension}:{value}"


def dlq_query(digest: str) -> str:
    """zset: a short-lived intersection of dead-letter indexes (one filter with several dimensions), kept for
    paging through it."""
    return f"{PREFIX}:dlqx:q:{digest}"


PUSHES = f"{PREFIX}:pushes"
"""stream: the platforms' verified pushes (``pushes.notice.PushNotice`` fields), each once, for the workers."""
PUSHES_REJECTED = f"{PREFIX}:pushes:rejected"
"""stream: pushes refused (forged, unparseable, unknown shop) with the reason; never their signature."""


def buyer_request(platform: str, shop: str, order_id: str, request: str = "") -> str:
    """Set once a buyer's request to cancel (``request``: the platform's identity of it, if any) was announced,
    with what was decided; a re-read or duplicated request announces and submits nothing twice."""
    digest = hashlib.sha256(f"{platform}\x00{shop}\x00{order_id}\x00{request}".encode()).hexdigest()[:32]
    return f"{PREFIX}:buyer:{digest}"


PUSH_COUNTS = f"{PREFIX}:pushes:counts"
"""hash ``platform|result`` -> pushes the receivers answered with that result (accepted, duplicate, ignored,
rejected:REASON), fleet-wide, since ever: read at scrape time."""
PUSH_WINDOW_PREFIX = f"{PREFIX}:pushes:minute:"
SHOP_PUSH_REFS = f"{PREFIX}:shops:pushref"
"""hash ``platform|platform's shop id`` (Shopee shop_id, Lazada seller_id, Shopline handle, Shoplazza subdomain) ->
registry shop name: how a push finds its shop."""
SHOP_PUSH_REFS_BUILT = f"{PREFIX}:shops:pushref:built"
"""Set once every shop stored before ``SHOP_PUSH_REFS`` existed was indexed."""


def push_window(minute: int) -> str:
    """hash ``platform|ok`` / ``platform|all``: the pushes answered in one minute (epoch minutes), for the success
    rate over a window; expires after the longest window."""
    return f"{PUSH_WINDOW_PREFIX}{minute}"


def push_seen(platform: str, message_id: str) -> str:
    """Set while a push's message identity is remembered (dedupe of the platforms' at-least-once pushes)."""
    digest = hashlib.sha256(f"{platform}\x00{message_id}".encode()).hexdigest()[:32]
    return f"{PREFIX}:push:seen:{digest}"


PUSH_WATCH = f"{PREFIX}:pushes:watch"
"""zset job_id -> when (ms) the unconfirmed watch gives up on it: jobs we cancelled whose order still reads as
not cancelled (Shopee IN_CANCEL, a Lazada reverse order pending), watched until the platform confirms."""
PUSH_UNCONFIRMED = f"{PREFIX}:pushes:unconfirmed"
"""zset job_id -> when (ms) ``cancel.unconfirmed`` was announced: what ``cancelq status`` and the console show."""
PUSH_RECONCILE_LOCK = f"{PREFIX}:pushes:reconcile:lock"
"""Held (SET NX PX) by the one worker that runs a reconciliation round, so the fleet runs one per interval."""
PUSH_RECONCILED = f"{PREFIX}:pushes:reconciled"
"""zset job_id -> when (ms) the reconciliation may read the job's order again (its low rate per job)."""


def order_jobs(platform: str, shop: str, order_id: str) -> str:
    """set of the job ids of an order's jobs that its default idempotency key does not find (submitted with their
    own key, or with items): how a push finds them. Written at intake for those jobs only."""
    digest = hashlib.sha256(f"{platform}\x00{shop}\x00{order_id}".encode()).hexdigest()[:32]
    return f"{PREFIX}:order:{digest}"


def push_elsewhere(platform: str, shop: str, order_id: str) -> str:
    """Set (NX) when ``order.cancelled_elsewhere`` was announced for the order: once per order, whatever the
    duplicates and reorders of its pushes."""
    digest = hashlib.sha256(f"{platform}\x00{shop}\x00{order_id}".encode()).hexdigest()[:32]
    return f"{PREFIX}:push:elsewhere:{digest}"


AUDIT = f"{PREFIX}:audit"
"""stream, append-only: every action taken from the operators' console (who, when, what, the filter, how many,
from which address). Never trimmed by cancelq."""


def worker(hostname: str) -> str:
    """A live worker's heartbeat (value: when it started, ms); expires when it stops beating."""
    return f"{PREFIX}:worker:{hostname}"


def shop(platform: str, name: str) -> str:
    return f"{PREFIX}:shop:{platform}:{name}"
CLAIMED = f"{PREFIX}:delayed:claimed"
"""zset job_id -> claim expiry (ms): delayed jobs a pump took and is sending; back to DELAYED if it died."""
GATE = f"{PREFIX}:gate"
"""hash: all the gate reads before a platform call, so that one HMGET reads it. Its fields, by kind:

- ``pause:SCOPE`` -> JSON {at, reason[, abort]}; scopes are "all", "platform:P", "shop:P/NAME", "campaign:ID";
- ``tat:SCOPE`` -> a rate-limit scope's GCRA theoretical arrival time (ms, the server's clock);
- ``cool:SCOPE`` -> when a platform's own slow-down signal stops holding the scope (ms);
- ``circuit:NAME`` -> "open_until open_ms probe probe_until" of a circuit that opened (NAME: P or P:SHOP);
- ``fail:NAME`` -> "count last_ms": the circuit's transient failures in a row;
- ``budget_ok:P/NAME`` -> writes an operator approved past the shop's cancellation budget.
"""


def pause_field(scope: str) -> str:
    return f"pause:{scope}"


def tat_field(scope: str) -> str:
    return f"tat:{scope}"


def cool_field(scope: str) -> str:
    return f"cool:{scope}"


def circuit_name(platform: str, shop: str | None = None) -> str:
    """A shop's circuit, or the platform's without one."""
    return f"{platform}:{shop}" if shop else platform


def circuit_field(name: str) -> str:
    return f"circuit:{name}"


def fail_field(name: str) -> str:
    return f"fail:{name}"


def budget(shop: str) -> str:
    """zset job id -> when (server ms) the gate let its counted cancel go: one shop's cancellation budget window
    (``shop`` is ``platform/name``)."""
    return f"{PREFIX}:budget:{shop}"


def budget_approve_field(shop: str) -> str:
    """Field of ``GATE``: writes an operator approved past the shop's budget, not yet used."""
    return f"budget_ok:{shop}"


def refresh_lock(platform: str, shop: str) -> str:
    """Held while one worker refreshes a shop's token; the others wait and re-read."""
    return f"{PREFIX}:lock:refresh:{platform}:{shop}"


CAMPAIGNS = f"{PREFIX}:campaigns"
"""zset campaign id -> created at (ms)."""


def campaign(campaign_id: str) -> str:
    """hash: the campaign's record (options, times, status) and its live counters."""
    return f"{PREFIX}:campaign:{campaign_id}"


def campaign_rows(campaign_id: str) -> str:
    """hash input line -> job id, or a JSON object for an invalid row (its reason and what it named)."""
    return f"{PREFIX}:campaign:{campaign_id}:rows"


def campaign_states(campaign_id: str) -> str:
    """hash job id -> the state the campaign's counters last counted it in."""
    return f"{PREFIX}:campaign:{campaign_id}:states"


def campaign_announced(campaign_id: str, round_: int) -> str:
    """Set (NX) when the campaign's completion (of one round: the run, then each redo) was announced."""
    return f"{PREFIX}:campaign:{campaign_id}:announced:{round_}"


JOB_FIELDS = (
    "job_id", "state", "job", "steps", "inflight", "step", "attempts", "deliveries", "runs", "created_at",
    "updated_at", "finished_at", "due_at", "last_error", "dead_kind", "reject_reason", "events", "lease_until",
    "fence", "wait_reason", "attribution", "write_refused", "history", "inflight_at", "reservation",
)
"""The fields of a job's hash (``job``). ``fence`` is the fencing token of the lease last taken: it only grows,
and every write of a delivery carries the one its lease got. ``inflight_at``: when (server ms) the write in
flight was let go. ``write_refused``: the step whose write the
platform answered without cancelling (so an order found cancelled later was not cancelled by us).
``reservation``: the limit slot a waiting job holds for its next call (``gate.limits.Reservation``)."""


def lua_job_fields() -> str:
    """``local F = {state = 'state', ...}``: the job hash's field names as the scripts spell them."""
    return "local F = {" + ", ".join(f"{name} = '{name}'" for name in JOB_FIELDS) + "}\n"


EVENTS = f"{PREFIX}:events"
"""stream: the event outbox. Each entry (fields ``type``, ``v``, ``data``) is appended by the same script or
transaction that makes the change it tells of; its id's milliseconds are when it occurred."""


def client_ref(ref: str) -> str:
    """The job id of the producer's reference (``client_ref``), set at intake."""
    return f"{PREFIX}:ref:{hashlib.sha256(ref.encode()).hexdigest()[:32]}"


WEBHOOKS = f"{PREFIX}:webhooks"
"""set of webhook endpoint ids (each endpoint's record is ``webhook(id)``)."""
WEBHOOKS_VERSION = f"{PREFIX}:webhooks:version"
"""counter: incremented by every change of an endpoint, so that senders re-read the endpoints at once."""
WEBHOOK_DUE = f"{PREFIX}:webhook:due"
"""zset endpoint id -> when its earliest delivery falls due (ms): the senders' index of ``webhook_queue``."""
WEBHOOK_CLAIMED = f"{PREFIX}:webhook:claimed"
"""zset delivery id -> claim expiry (ms): deliveries a sender took and is sending; back to due if it died."""
WEBHOOK_QUEUE_PREFIX = f"{PREFIX}:webhook:queue:"


def webhook(endpoint_id: str) -> str:
    """hash: a webhook endpoint (URL, filters, enabled, failing-since, sealed secrets)."""
    return f"{PREFIX}:webhook:{endpoint_id}"


def webhook_queue(endpoint_id: str) -> str:
    """zset delivery id -> due (ms): the endpoint's deliveries waiting for their (next) attempt."""
    return f"{WEBHOOK_QUEUE_PREFIX}{endpoint_id}"


def webhook_delivery(delivery_id: str) -> str:
    """hash: one delivery (``EVENT_ID:ENDPOINT_ID``): its body as first signed, attempts made, first queued at."""
    return f"{PREFIX}:webhook:delivery:{delivery_id}"


def webhook_log(endpoint_id: str) -> str:
    """list (newest first, bounded): the endpoint's recent attempts (event id, status, latency, attempt, at)."""
    return f"{PREFIX}:webhook:{endpoint_id}:log"


def reply_sent(event_id: str) -> str:
    """Set (NX) when the Celery reply of an event was sent ("pending" while sending, then "sent")."""
    return f"{PREFIX}:reply:{event_id}"


APIKEYS = f"{PREFIX}:apikeys"
"""hash API key name -> key id: one key per name."""


def apikey(key_id: str) -> str:
    """hash: an API key (name, the SHA-256 of the whole key, scopes, shop patterns, created_at, revoked_at)."""
    return f"{PREFIX}:apikey:{key_id}"


def api_idempotency(key_id: str, idempotency_key: str) -> str:
    """An Idempotency-Key header's request fingerprint and answer, per API key."""
    return f"{PREFIX}:api:idem:{key_id}:{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}"
