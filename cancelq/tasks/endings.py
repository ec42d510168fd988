"""How a run's end reads in Flower: a dead letter as a failure, a wait as a retry.

The cancel task records every outcome in the ledger and returns; Celery would
then report every run as a success. Raising what these functions build at the
very end of the task (after the ledger and the dead-letter store are written)
makes Flower show the truth, with the error class, the platform's code and
message in the exception text. Both are acknowledged like a success (acks_late
with ``task_acks_on_failure_or_timeout``), so nothing is redelivered: the
ledger's delayed set, not Celery, brings a waiting job back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery.exceptions import Retry

RETRY_ROW_MIN_S = 1.0
"""A wait shorter than this (a limiter's moment) is not told to Celery as a retry: Flower would show a RETRY row
per tenth of a second held; the delivery ends as a plain success and the next follows at once."""


class DeadLettered(Exception):
    """The job was dead-lettered; the text names the error class, the platform's code and message."""


class Waiting(Exception):
    """The job waits on the delayed set for another attempt; the text says why and for how long."""


def describe_error(error: Mapping[str, Any]) -> str:
    """``PermanentError [not_cancellable] the order is SHIPPED ... (shopee, request_id ...)``."""
    text = f"{error.get('error_class') or 'Error'} [{error.get('code') or '-'}] {error.get('message') or ''}".strip()
    context = [str(error["platform"])] if error.get("platform") else []
    if error.get("request_id"):
        context.append(f"request_id {error['request_id']}")
    return f"{text} ({', '.join(context)})" if context else text


def dead_lettered(kind: str, error: Mapping[str, Any]) -> DeadLettered:
    """What to raise after ``dead()``: Flower lists the run as FAILURE with this text."""
    return DeadLettered(f"dead letter ({kind}): {describe_error(error)}")


def waiting(error: Mapping[str, Any], *, why: str, delay_s: float) -> Retry | None:
    """What to raise after ``wait()``: Flower lists the run as RETRY with the cause and the wait (nothing for a
    wait under ``RETRY_ROW_MIN_S``)."""
    if delay_s < RETRY_ROW_MIN_S:
        return None
    cause = Waiting(f"waiting {delay_s:.1f}s ({why}): {describe_error(error)}")
    return Retry(message=str(cause), exc=cause, when=delay_s)
