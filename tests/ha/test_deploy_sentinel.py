"""deploy/compose.sentinel.yaml checked without a Docker engine: the overlay parses, adds a replica and three
Sentinels watching the base file's Redis, and every cancelq service gets a Sentinel URL that names those
Sentinels, their port and the monitored service, which cancelq parses into its ledger client and broker."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from cancelq.core import connections

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text())
    return data


def _sentinel_conf(service: dict[str, Any]) -> list[str]:
    """The lines the Sentinel's start-up command writes into its configuration file."""
    script = service["command"][-1]
    printed = script.split(" > ", 1)[0]
    return shlex.split(printed)[2:]


def test_the_sentinel_overlay_watches_the_base_redis_and_points_every_cancelq_service_at_it() -> None:
    base, overlay = _load("compose.yaml"), _load("compose.sentinel.yaml")
    services = overlay["services"]
    sentinels = sorted(name for name in services if name.startswith("sentinel-"))
    assert len(sentinels) == 3
    confs = [_sentinel_conf(services[name]) for name in sentinels]
    monitor = [line.split() for line in confs[0] if line.startswith("sentinel monitor")]
    assert monitor == [["sentinel", "monitor", "cancelq", "redis", "6379", "2"]] and "redis" in base["services"]
    assert all(c == confs[0] for c in confs) and "port 26379" in confs[0]
    assert confs[0].index("sentinel resolve-hostnames yes") < confs[0].index(" ".join(monitor[0]))
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1:replica.index("--replicaof") + 3] == ["redis", "6379"]

    cancelq_services = [n for n, s in base["services"].items() if s.get("image", "").startswith("cancelq")]
    urls = {n: services[n]["environment"]["CANCELQ_REDIS_URL"] for n in cancelq_services}
    assert set(urls) == {"worker", "flower", "api", "sandbox"} and len(set(urls.values())) == 1
    target = connections.parse_sentinel(urls["worker"])
    assert target.service == "cancelq" and target.db == 0
    assert target.sentinels == tuple((name, 26379) for name in sentinels)
    assert all(set(services[n]["depends_on"]) >= set(sentinels) for n in cancelq_services)
    broker = connections.celery_broker(urls["worker"])
    assert broker["broker_transport_options"]["master_name"] == "cancelq"
    assert re.fullmatch(r"(sentinel://sentinel-\d:26379/0;?){3}", broker["broker_url"])
