"""Endpoints, signatures and delivery in this process: the CLI's refusals, rotation, private URLs, a slow
endpoint beside a fast one, retries with the same webhook-id, 410, and no secret anywhere it should not be."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.core import keys
from cancelq.delivery.dispatch import GROUP, Dispatcher
from cancelq.delivery.endpoints import Endpoint, EndpointError, Endpoints
from cancelq.delivery.queue import DeliveryQueue
from cancelq.delivery.service import DeliveryService
from cancelq.runtime import Runtime, reset_runtime
from cancelq.shops.registry import Sealer
from tests.helpers import wait_until

from .receiver import Receiver

cli = CliRunner()


def _reject(rt: Runtime, n: int, **job: object) -> list[str]:
    """``n`` rejected jobs: each appends one cancel.rejected event; their job ids."""
    return [rt.ledger.reject({"n": i, **job}, f"bad {i}", source="test") for i in range(n)]


def _stream(rt: Runtime) -> list[str]:
    return [e.id for e in rt.events.recent(count=10_000)]


def test_the_cli_adds_an_endpoint_prints_its_secret_once_and_refuses_typos_changing_nothing(
        rt: Runtime, store: Endpoints) -> None:
    reset_runtime()
    result = cli.invoke(app, ["webhooks", "add", "http://127.0.0.1:9/hook?token=t0k3n-in-query"])
    assert result.exit_code == 2 and "private" in result.output and "t0k3n" not in result.output
    for args in (["webhooks", "add", "https://93.184.215.14/h", "--events", "cancel.succeded"],
                 ["webhooks", "add", "https://93.184.215.14/h", "--shop", "amazon/x"],
                 ["webhooks", "add", "ftp://93.184.215.14/h"],
                 ["webhooks", "show", "we_nope"], ["webhooks", "test", "we_nope"], ["webhooks", "disable", "we_nope"],
                 ["webhooks", "rotate-secret", "we_nope"], ["webhooks", "remove", "we_nope"],
                 ["webhooks", "replay", "we_nope", "--since", "2026-01-01T00:00:00Z"]):
        result = cli.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.count("error:") == 1, result.output
    assert not rt.redis.exists(keys.WEBHOOKS)

    result = cli.invoke(app, ["webhooks", "add", "https://93.184.215.14/h?token=t0k3n", "--events", "cancel.*",
                              "--shop", "shopee/s1"])
    assert result.exit_code == 0, result.output
    endpoint_id = result.output.split("endpoint ", 1)[1].split()[0]
    secret = result.output.split("secret: ", 1)[1].split()[0]
    assert secret.startswith("whsec_") and store.get(endpoint_id).secret == secret
    for args in (["webhooks", "list"], ["webhooks", "show", endpoint_id], ["webhooks", "list", "--json"]):
        shown = cli.invoke(app, args)
        assert shown.exit_code == 0 and "93.184.215.14" in shown.output, shown.output
        assert secret not in shown.output and "t0k3n" not in shown.output
    bad = cli.invoke(app, ["webhooks", "replay", endpoint_id, "--since", "yesterday"])
    assert bad.exit_code == 2 and "ISO" in bad.output
    assert cli.invoke(app, ["webhooks", "replay", endpoint_id, "--event", "1-0"]).exit_code == 2
    assert cli.invoke(app, ["webhooks", "remove", endpoint_id]).exit_code == 0
    assert store.find(endpoint_id) is None and not rt.redis.smembers(keys.WEBHOOKS)


def test_a_private_url_is_refused_unless_allowed(rt: Runtime) -> None:
    strict = Endpoints(rt.redis, Sealer(None), allow_private=False)
    for url in ("http://127.0.0.1:8080/x", "http://10.1.2.3/x", "http://169.254.169.254/latest", "http://[::1]/x",
                "http://192.168.1.9/x", "http://localhost/x", "http://[::ffff:10.0.0.1]/x"):
        with pytest.raises(EndpointError, match="private"):
            strict.add(url)
    assert not rt.redis.exists(keys.WEBHOOKS)
    assert strict.add("https://93.184.215.14/x").enabled


def test_every_delivery_is_signed_and_a_rotation_is_accepted_with_either_secret(
        rt: Runtime, store: Endpoints, receiver: Receiver, delivering: DeliveryService) -> None:
    endpoint = store.add(receiver.url)
    old = endpoint.secret
    receiver.secrets = [old]
    _reject(rt, 3)
    wait_until(lambda: len(receiver.received) == 3, what="3 deliveries signed with the secret")
    rotated = store.rotate(endpoint.id)
    assert rotated.secret != old and rotated.old_secret == old
    receiver.secrets = [old]
    _reject(rt, 2, batch=2)
    wait_until(lambda: len(receiver.received) == 5, what="a receiver holding the old secret")
    receiver.secrets = [rotated.secret]
    _reject(rt, 2, batch=3)
    wait_until(lambda: len(receiver.received) == 7, what="a receiver holding the new secret")
    assert all(len(r["headers"]["webhook-signature"].split()) == 2 for r in receiver.received[3:])
    rt.redis.hset(keys.webhook(endpoint.id), "old_until", 0)  # the grace period is over
    rt.redis.incr(keys.WEBHOOKS_VERSION)
    receiver.secrets = [old]
    _reject(rt, 1, batch=4)
    wait_until(lambda: receiver.refused, what="the old secret refused after the grace")
    assert receiver.refused and len(receiver.received) == 7
    assert sorted(receiver.ids()) == sorted(f"{e}:{endpoint.id}" for e in _stream(rt)[:7])


def test_a_slow_endpoint_does_not_delay_another(rt: Runtime, store: Endpoints, receiver: Receiver,
                                                other: Receiver, delivering: DeliveryService) -> None:
    slow, fast = store.add(receiver.url), store.add(other.url)
    receiver.secrets, other.secrets = [slow.secret], [fast.secret]
    receiver.hold = True
    _reject(rt, 40)
    wait_until(lambda: len(other.received) == 40, what="every delivery to the fast endpoint", timeout_s=10)
    assert receiver.arrived <= rt.settings.webhook_endpoint_concurrency and not receiver.received
    receiver.release()
    wait_until(lambda: len(set(receiver.ids())) == 40, what="the slow endpoint's deliveries after all")


def test_a_failing_receiver_gets_it_again_with_the_same_id_and_410_disables(
        rt: Runtime, store: Endpoints, receiver: Receiver, other: Receiver, delivering: DeliveryService) -> None:
    flaky, gone = store.add(receiver.url, events=["cancel.*"]), store.add(other.url)
    receiver.secrets, other.secrets = [flaky.secret], [gone.secret]
    receiver.fail_first, receiver.fail_status, receiver.retry_after = 3, 429, "0"
    other.status = 410
    with structlog.testing.capture_logs() as logs:
        _reject(rt, 2)
        wait_until(lambda: len(receiver.received) == 2, what="the deliveries after 3 failures each")
        wait_until(lambda: not store.get(gone.id).enabled, what="410 to disable the endpoint")
    assert sorted(receiver.attempts.values()) == [4, 4] and len(set(receiver.ids())) == 2
    assert store.get(gone.id).disabled_reason == "the endpoint answered 410 Gone"
    assert store.get(flaky.id).failing_since is None
    assert [e for e in logs if e["event"] == "webhook_disabled" and e["endpoint"] == gone.id]
    told = [e for e in rt.events.recent(count=100, types=["webhook.disabled"]) if e.data["endpoint"] == gone.id]
    assert len(told) == 1 and told[0].data["host"].startswith("127.0.0.1") and "/other" not in json.dumps(told[0].data)
    recent = store.recent(flaky.id)
    assert sorted((r["attempt"], r["status"]) for r in recent) == sorted([(1, 429), (2, 429), (3, 429), (4, 204)] * 2)
    text = json.dumps(logs) + json.dumps(recent) + json.dumps(store.recent(gone.id))
    assert flaky.secret not in text and "s3cr3t-url-token" not in text and "/other" not in text


def test_a_long_failing_endpoint_is_disabled_with_a_reason(rt: Runtime, receiver: Receiver) -> None:
    from cancelq.delivery import service

    rt.settings = rt.settings.model_copy(update={"webhook_disable_after_s": 0.0})
    store = service.endpoints_of(rt)
    endpoint = store.add(receiver.url)
    receiver.secrets, receiver.fail_first, receiver.fail_status = [endpoint.secret], 100, 503
    svc = service.start(rt, "test@here")
    try:
        _reject(rt, 1)
        wait_until(lambda: not store.get(endpoint.id).enabled, what="the endpoint disabled")
    finally:
        svc.stop()
    assert "failing for" in store.get(endpoint.id).disabled_reason
    assert receiver.attempts and not receiver.received



class _ArrivesDuringTheRead(Endpoints):
    """The real store; right after the dispatcher's first look at it, an endpoint is added and then events are
    written (as when an operator adds one while the dispatcher's read is blocked)."""

    def __init__(self, *args: Any, meanwhile: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meanwhile, self.looks = meanwhile, 0

    def current(self) -> list[Endpoint]:
        self.looks += 1
        seen = super().current()
        if self.looks == 1:
            self.meanwhile()
        return seen


def test_with_no_endpoint_the_dispatcher_reads_no_data_and_one_added_meanwhile_still_hears_the_batch(
        rt: Runtime, store: Endpoints, receiver: Receiver) -> None:
    job_ids = _reject(rt, 3, platform="shopee")
    heads = rt.events.read_group("look", "me", heads_only=True)
    assert [e.data for e in heads] == [{}, {}, {}] and {e.type for e in heads} == {"cancel.rejected"}
    whole = rt.events.whole(list(reversed(heads)))
    assert [e.data["job_id"] for e in whole] == list(reversed(job_ids))
    rt.events.ensure_group(GROUP, start="$")

    def meanwhile() -> None:
        store.add(receiver.url)
        _reject(rt, 2, platform="lazada")

    arriving = _ArrivesDuringTheRead(rt.redis, store.sealer, allow_private=True, meanwhile=meanwhile)
    queue = DeliveryQueue(rt.redis)
    dispatcher = Dispatcher(rt.redis, rt.events, arriving, queue, rt.sender.app.send_task, consumer="t",
                            reply_ttl_s=60, block_ms=10)
    assert dispatcher.dispatch_once() == 2
    (endpoint,) = arriving.current()
    assert queue.pending(endpoint.id) == 2
    bodies = [json.loads(rt.redis.hget(keys.webhook_delivery(d), "body"))
              for d in rt.redis.zrange(keys.webhook_queue(endpoint.id), 0, -1)]
    assert sorted(b["data"]["platform"] for b in bodies) == ["lazada", "lazada"]
    assert rt.redis.xpending(keys.EVENTS, GROUP)["pending"] == 0
