"""Standard Webhooks headers (https://www.standardwebhooks.com), made with the ``standardwebhooks`` library.

``webhook-id`` is the delivery's id (``EVENT_ID:ENDPOINT_ID``): the same for every attempt and replay of one
event to one endpoint, so a receiver dedupes on it. ``webhook-timestamp`` is the attempt's time;
``webhook-signature`` holds one ``v1,...`` signature per secret that signs now (two during a rotation's grace).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook


def headers(webhook_id: str, body: str, secrets: Iterable[str], at: datetime | None = None) -> dict[str, str]:
    """The headers of one attempt of ``body``."""
    at = at or datetime.now(UTC)
    signatures = " ".join(Webhook(secret).sign(webhook_id, at, body) for secret in secrets)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signatures, "content-type": "application/json",
            "user-agent": "cancelq-webhooks/1"}
