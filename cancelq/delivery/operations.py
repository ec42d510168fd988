"""What operators do to endpoints beyond the store: send a test event now, replay events, a campaign's endpoint."""

from __future__ import annotations

import secrets
from typing import Any

from cancelq.core import keys
from cancelq.delivery.attempts import Outcome, Recorder, log_entry, new_session, send
from cancelq.delivery.endpoints import TEST_TYPE, Endpoint
from cancelq.delivery.queue import body_of, delivery_id
from cancelq.delivery.service import endpoints_of, queue_of
from cancelq.jobs.events import VERSION, Event
from cancelq.jobs.ledger import now_ms
from cancelq.runtime import Runtime

REPLAY_CHUNK = 500


def send_test(rt: Runtime, endpoint: Endpoint) -> Outcome:
    """Send a ``webhook.test`` event to the endpoint now, from this process, signed like any other; the attempt is
    kept in the endpoint's log."""
    event = Event(f"{now_ms()}-test-{secrets.token_hex(3)}", TEST_TYPE, VERSION,  # occurred_at reads the ms
                  {"endpoint": endpoint.id, "message": "a test event from `cancelq webhooks test`"})
    session = new_session(1)
    try:
        outcome = send(session, rt.settings, endpoint, delivery_id(event.id, endpoint.id), body_of(event))
    finally:
        session.close()
    recorder = Recorder(rt.redis, queue_of(rt), endpoints_of(rt), rt.settings)
    recorder.log(rt.redis, endpoint.id, log_entry(event.id, event.type, outcome, 1))
    return outcome


def replay_event(rt: Runtime, endpoint: Endpoint, event_id: str) -> bool:
    """Queue the event (by its id, still in the stream) for the endpoint, due now; False if it is not there."""
    entries: Any = rt.redis.xrange(keys.EVENTS, min=event_id, max=event_id, count=1)
    if not entries:
        return False
    _queue(rt, endpoint, [Event.from_entry(*entries[0])])
    return True


def replay_since(rt: Runtime, endpoint: Endpoint, since_ms: int) -> int:
    """Queue every event since ``since_ms`` that the endpoint's filters pass, due now; how many."""
    start, count = f"{since_ms}-0", 0
    while True:
        entries: Any = rt.redis.xrange(keys.EVENTS, min=start, count=REPLAY_CHUNK)
        batch = [e for e in (Event.from_entry(i, f) for i, f in entries) if endpoint.wants(e)]
        count += _queue(rt, endpoint, batch)
        if len(entries) < REPLAY_CHUNK:
            return count
        start = f"({entries[-1][0]}"


def _queue(rt: Runtime, endpoint: Endpoint, batch: list[Event]) -> int:
    if batch:
        queue, now = queue_of(rt), now_ms()
        pipe = rt.redis.pipeline(transaction=True)
        for event in batch:
            queue.enqueue(pipe, event, endpoint.id, now, again=True)
        pipe.execute()
    return len(batch)


def campaign_endpoint(rt: Runtime, campaign_id: str, url: str) -> Endpoint:
    """A campaign's own endpoint: its ``campaign.finished`` events only (each round's), signed and retried."""
    return endpoints_of(rt).add(url, events=["campaign.finished"], campaign_id=campaign_id)
