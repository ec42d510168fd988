"""Webhook delivery: the rate to a local receiver, and a backlog to an endpoint that was down, drained while
cancels keep flowing.

1. **Rate**: ``--events`` events are appended to the outbox; two worker processes deliver them to one local
   receiver (which answers 204 and checks a sample of the signatures with the ``standardwebhooks`` library).
   Printed: deliveries per second, from the first to the last one received.
2. **Backlog**: the receiver is down (connections refused) while ``--backlog`` events pile up and fail their
   first attempt; it comes back, the retry falls due (the retry schedule is compressed: ``an hour`` down is
   the same queue as a few seconds down), and the backlog drains while ``--orders`` cancel jobs run. Printed:
   the drain time, and the cancels' rate beside the same cancels run with no backlog.

    .venv/bin/python bench/webhooks.py [--events 5000] [--backlog 10000] [--orders 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import common
import redis
from standardwebhooks import Webhook

from cancelq.core import keys


class Receiver:
    """A local HTTP receiver counting deliveries (distinct webhook-ids) and checking every 50th signature."""

    def __init__(self, port: int = 0) -> None:
        self.ids: set[str] = set()
        self.first: float | None = None
        self.last = 0.0
        self.bad = 0
        self.secret = ""
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                owner.received(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self, body: bytes, headers: dict[str, str]) -> None:
        with self.lock:
            now = time.monotonic()
            self.first = self.first or now
            self.last = now
            self.ids.add(headers.get("webhook-id", ""))
            check = len(self.ids) % 50 == 0
        if check and self.secret:
            try:
                Webhook(self.secret).verify(body, headers)
            except Exception:
                self.bad += 1

    def count(self) -> int:
        with self.lock:
            return len(self.ids)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def append_events(url: str, n: int, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    for start in range(0, n, 1000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(n, start + 1000)):
            data = {"job_id": f"{prefix}{i:07d}", "attempts": 0, "platform": "shopee", "shop": "bench-shopee",
                    "order_id": f"{prefix}-{i}", "attribution": "confirmed", "evidence": {}}
            pipe.xadd(keys.EVENTS, {"type": "cancel.succeeded", "v": "1", "data": json.dumps(data)})
        pipe.execute()


def add_endpoint(url: str) -> tuple[str, str]:
    from cancelq.delivery.service import endpoints_of
    from cancelq.runtime import Runtime

    endpoint = endpoints_of(Runtime()).add(url, events=["cancel.*"])
    return endpoint.id, endpoint.secret


def drain_cancels(b: common.Bed, rt: Any, batch: list[dict[str, Any]]) -> float:
    started = time.monotonic()
    finals = common.Finals(rt, common.submit_plain(rt, b, batch))
    common.wait(finals.done, 600, "the cancels")
    return len(batch) / (time.monotonic() - started)


def rate(b: common.Bed, args: argparse.Namespace) -> tuple[float, int]:
    from cancelq.delivery.service import endpoints_of
    from cancelq.runtime import Runtime

    receiver = Receiver()
    endpoint_id, receiver.secret = add_endpoint(f"http://127.0.0.1:{receiver.port}/hooks")
    workers = common.cancelq_workers(b, 2, 8, "rate")
    try:
        append_events(b.redis_url, args.events, "R")
        common.wait(lambda: receiver.count() >= args.events, 600, "the deliveries")
        return args.events / max(receiver.last - (receiver.first or receiver.last), 1e-9), receiver.bad
    finally:
        common.stop(workers)
        receiver.close()
        endpoints_of(Runtime()).remove(endpoint_id)


def backlog(b: common.Bed, rt: Any, args: argparse.Namespace) -> tuple[float, float, float]:
    rng = random.Random(11)
    probe = Receiver()  # a free port, closed at once: the endpoint is down
    port = probe.port
    probe.close()
    down_id, _ = add_endpoint(f"http://127.0.0.1:{port}/down")
    workers = common.cancelq_workers(b, 2, 32, "backlog")
    try:
        quiet = common.orders(args.orders, "Q", rng, {"shopee": 1.0}, shipped=0, cancelled=0)
        b.seed(quiet)
        alone = drain_cancels(b, rt, quiet)
        append_events(b.redis_url, args.backlog, "B")
        r = redis.Redis.from_url(b.redis_url)
        common.wait(lambda: r.zcard(keys.webhook_queue(down_id)) >= args.backlog, 600, "the backlog to queue")
        receiver = Receiver(port)
        busy = common.orders(args.orders, "W", rng, {"shopee": 1.0}, shipped=0, cancelled=0)
        b.seed(busy)
        started = time.monotonic()
        beside = drain_cancels(b, rt, busy)
        common.wait(lambda: receiver.count() >= args.backlog, 900, "the backlog to drain")
        drained_s = time.monotonic() - started
        receiver.close()
        return alone, beside, drained_s
    finally:
        common.stop(workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--backlog", type=int, default=10000)
    parser.add_argument("--orders", type=int, default=1000)
    args = parser.parse_args()
    import os

    os.environ.update({"CANCELQ_WEBHOOK_ALLOW_PRIVATE": "true", "CANCELQ_WEBHOOK_RETRY_SCHEDULE_S": "[2,2,2,2,2,2]",
                       "CANCELQ_WEBHOOK_RETRY_JITTER": "0", "CANCELQ_WEBHOOK_POLL_S": "0.1"})
    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-webhooks-"))
    with common.bed(work) as b:
        from cancelq.runtime import Runtime

        b.env.update({k: v for k, v in os.environ.items() if k.startswith("CANCELQ_WEBHOOK")})
        per_s, bad = rate(b, args)
        print(f"webhook deliveries: {args.events:,} events to one local receiver through 2 worker processes: "
              f"{per_s:,.0f} deliveries/s (target >= 500); signatures checked with standardwebhooks: "
              f"{args.events // 50} sampled, {bad} bad")
        rt = Runtime()
        alone, beside, drained_s = backlog(b, rt, args)
        print(f"backlog: {args.backlog:,} events queued to an endpoint that was down; once it came back the backlog "
              f"drained in {drained_s:.1f} s; {args.orders:,} cancels ran at {beside:.0f} jobs/s beside it, "
              f"{alone:.0f} jobs/s with no backlog ({beside / alone:.2f}x)")


if __name__ == "__main__":
    main()
