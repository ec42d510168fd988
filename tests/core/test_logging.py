"""Secrets are redacted from log events, whatever shape they arrive in."""

from __future__ import annotations

import io
import json

from cancelq.core.logging import configure, get_logger, redact_text


def test_secret_fields_and_secrets_in_text_are_masked() -> None:
    stream = io.StringIO()
    configure("json", "INFO", stream=stream)
    get_logger("test").info(
        "call", access_token="tok-123", nested={"partner_key": "pk-456", "ok": 1}, sign="abcdef",
        url="https://partner.shopeemobile.com/api/v2/order/cancel_order?partner_id=1&sign=deadbeef&access_token=t",
        message="refresh_token=rt-789 failed; app_secret: s3cr3t",
    )
    line = stream.getvalue()
    event = json.loads(line)
    for secret in ("tok-123", "pk-456", "abcdef", "deadbeef", "rt-789", "s3cr3t"):
        assert secret not in line
    assert event["access_token"] == "***" and event["nested"] == {"partner_key": "***", "ok": 1}
    assert event["url"].endswith("cancel_order?<redacted>")


def test_redact_text_keeps_what_is_not_secret() -> None:
    assert redact_text("order 123 cancelled by seller") == "order 123 cancelled by seller"
    assert redact_text("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert redact_text("Access-Token: tok42") == "Access-Token: ***"
