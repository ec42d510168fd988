"""Cluster URLs: parsed into the startup nodes, and a Cluster as the broker refused with one clear message (kombu has
no Redis Cluster transport) that never repeats the password, from Python and from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cancelq.core import connections
from cancelq.core.settings import Settings

CANCELQ = str(Path(sys.executable).parent / "cancelq")
URL = "redis+cluster://user:s3cret@127.0.0.1:7000,127.0.0.1:7001"


def test_a_cluster_url_names_its_nodes_and_credentials_and_a_bad_one_says_why() -> None:
    assert connections.parse_cluster(URL) == connections.ClusterTarget(
        nodes=(("127.0.0.1", 7000), ("127.0.0.1", 7001)), username="user", password="s3cret")
    assert connections.parse_cluster("rediss+cluster://h1").nodes == (("h1", 6379),)
    assert connections.parse_cluster("rediss+cluster://h1").ssl
    with pytest.raises(connections.RedisUrlError, match="only database 0"):
        connections.parse_cluster("redis+cluster://h1:7000/3")
    with pytest.raises(connections.RedisUrlError, match="a port must be a number"):
        connections.parse_cluster("redis+cluster://h1:x")


def test_a_cluster_broker_is_refused_with_one_clear_message_that_names_no_password() -> None:
    with pytest.raises(ValueError) as refused:
        Settings(redis_url=URL)
    assert "a Redis Cluster cannot be the Celery broker" in str(refused.value) and "s3cret" not in str(refused.value)
    with pytest.raises(connections.RedisUrlError, match="kombu has no Redis Cluster transport"):
        connections.celery_broker(URL)
    assert Settings(redis_url=URL, broker_url="amqp://guest:guest@127.0.0.1:5672//").redis_url == URL


def test_the_command_line_says_it_in_one_line_and_exits_2() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANCELQ_")}
    env["CANCELQ_REDIS_URL"] = URL
    run = subprocess.run([CANCELQ, "status"], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 2 and "s3cret" not in run.stdout + run.stderr
    assert run.stderr.strip().splitlines() == [
        "error: bad setting: a Redis Cluster cannot be the Celery broker (kombu has no Redis Cluster transport): "
        "set CANCELQ_BROKER_URL to RabbitMQ (amqp://user:password@host:5672//) or to a plain or Sentinel Redis, "
        "and keep the Cluster URL for the ledger (CANCELQ_REDIS_URL)"]
