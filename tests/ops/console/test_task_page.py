"""Flower's own task page, served by ``cancelq flower``: a dead-lettered ``cancelq.cancel`` links to its dead
letter with a Replay button; a crashed one is told apart. The task events are sent on the broker as a
worker sends them (Celery's own event dispatcher), and the real Flower receives them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis
import requests
from celery import Celery

from cancelq.runtime import Runtime
from tests.helpers import wait_until
from tests.jobs.test_deadletter_pages import fill_old_store
from tests.ops.console.server import USERS, ConsoleServer

DEAD_JOB = "big00000000000000001"


@pytest.fixture()
def events(redis_url: str) -> Iterator[Celery]:
    app = Celery("task-page-test", broker=redis_url, set_as_current=False)
    yield app
    app.close()


def _failed(app: Celery, console: ConsoleServer, args: str, exception: str) -> str:
    """A FAILURE of cancelq.cancel in Flower; sent again until Flower shows it (its event receiver connects
    after it answers HTTP)."""
    task_id = str(uuid.uuid4())

    def send() -> None:
        with app.connection_for_write() as conn:
            dispatcher = app.events.Dispatcher(conn, hostname="page@test", enabled=True)
            now = time.time()
            dispatcher.send("task-received", uuid=task_id, name="cancelq.cancel", args=args, kwargs="{}",
                            retries=0, timestamp=now)
            dispatcher.send("task-failed", uuid=task_id, exception=exception, traceback="", timestamp=now)
            dispatcher.close()

    def seen() -> bool:
        reply = requests.get(f"{console.url}/api/task/info/{task_id}", auth=("ops", USERS["ops"]), timeout=5)
        if reply.status_code == 200 and reply.json().get("state") == "FAILURE":
            return True
        send()
        return False

    wait_until(seen, timeout_s=30, what="Flower receiving the task's events", poll_s=0.3)
    return task_id


def test_a_dead_lettered_delivery_links_to_its_dead_letter_with_replay(
        console: ConsoleServer, events: Celery, rt: Runtime, redis_client: redis.Redis) -> None:
    fill_old_store(redis_client, 3)
    task_id = _failed(events, console, f"job={DEAD_JOB} shopee/shop-1 order=ORD-1 reason=OUT_OF_STOCK",
                      "DeadLettered('dead letter (exhausted): TransientError [error_server] System error.')")

    ops_page = console.session("ops").get(f"/task/{task_id}")
    viewer_page = console.session("viewer").get(f"/task/{task_id}")

    assert ops_page.status_code == 200 and 'id="cq-task-replay"' in ops_page.text
    assert f'href="/cancelq/dead/{DEAD_JOB}" id="cq-task-dead"' in ops_page.text
    assert 'id="cq-task-dead"' in viewer_page.text and 'id="cq-task-replay"' not in viewer_page.text
    rt.dead_letters.remove([DEAD_JOB])
    gone = console.session("ops").get(f"/task/{task_id}")
    assert 'id="cq-task-job"' in gone.text and 'id="cq-task-replay"' not in gone.text


def test_a_crashed_delivery_is_told_apart_from_a_dead_letter(console: ConsoleServer, events: Celery,
                                                             redis_client: redis.Redis) -> None:
    task_id = _failed(events, console, "job=abc123 shopee/shop-1 order=ORD-2 reason=OUT_OF_STOCK",
                      "TimeLimitExceeded(100.0)")

    page = console.session("ops").get(f"/task/{task_id}")

    assert 'id="cq-task-crashed"' in page.text and 'href="/cancelq/job/abc123"' in page.text
    assert 'id="cq-task-replay"' not in page.text
