"""How every adapter is built and copied: the one wiring of credentials, base URL, session, throttle and timeouts.

An adapter parses its credentials once (``parse_credentials``) and talks through
one ``HttpClient`` that knows every secret of them. Adapters are cached per shop
and shared by the concurrent jobs of that shop, so the throttle of one delivery
is attached with ``with_throttle``: a shallow copy sharing everything else.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import requests

from .base import Throttle
from .http import HttpClient, Timeouts, new_session, secrets_of


class Credentials(Protocol):
    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value held, for the HTTP client's scrubber."""
        ...


C = TypeVar("C", bound=Credentials)


class Adapter(ABC, Generic[C]):
    """The part of an adapter that is the same on every platform."""

    name: ClassVar[str]

    def __init__(self, *, credentials: C, http: HttpClient, base_url: str | None = None) -> None:
        self.credentials = credentials
        self.http = http

    @classmethod
    @abstractmethod
    def parse_credentials(cls, credentials: Mapping[str, Any]) -> C:
        """The platform's credentials from a shop's stored mapping; raises on anything missing."""

    @classmethod
    def from_credentials(
        cls,
        credentials: Mapping[str, Any],
        *,
        base_url: str | None = None,
        session: requests.Session | None = None,
        throttle: Throttle | None = None,
        timeouts: Timeouts | None = None,
    ) -> Self:
        """The adapter of one shop; ``base_url`` (scheme://host[:port]) replaces the platform's host."""
        parsed = cls.parse_credentials(credentials)
        http = HttpClient(
            platform=cls.name, session=session or new_session(), timeouts=timeouts or Timeouts(),
            throttle=throttle, secrets=secrets_of(parsed.secrets),
        )
        return cls(credentials=parsed, http=http, base_url=base_url)

    def with_throttle(self, throttle: Throttle | None) -> Self:
        """This adapter calling ``throttle`` before each request; everything else is shared, nothing re-parsed."""
        clone = copy.copy(self)
        clone.http = self.http.with_throttle(throttle)
        return clone
