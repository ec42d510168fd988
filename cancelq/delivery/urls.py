"""Which webhook URLs are accepted, and how one is shown: its host only (its path or query may hold a token)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class UrlRefused(ValueError):
    """A webhook URL that cancelq will not send to; the message names the host, never the path or query."""


def host_of(url: str) -> str:
    """``host`` or ``host:port``: all of a URL that is ever printed or logged."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def check(url: str, *, allow_private: bool) -> str:
    """The URL if cancelq may send to it: http(s), a host, and (unless ``allow_private``) no address of the host
    on loopback, link-local, private or reserved ranges. Raises ``UrlRefused``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused("a webhook URL is http:// or https:// with a host")
    if parts.username or parts.password:
        raise UrlRefused(f"a webhook URL carries no user or password ({host_of(url)})")
    if not allow_private:
        for address in _addresses(parts.hostname, parts.port):
            if _private(address):
                raise UrlRefused(f"{host_of(url)} is on a private, loopback or link-local address ({address}); "
                                 "set CANCELQ_WEBHOOK_ALLOW_PRIVATE=true to allow it")
    return url


def _addresses(host: str, port: int | None) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        raise UrlRefused(f"{host} does not resolve") from None
    return sorted({str(info[4][0]) for info in infos})


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast
                or ip.is_unspecified)
