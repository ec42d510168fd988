"""The platform contract, the same for all four adapters, against the sandbox over real HTTP."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

import pytest
import requests

from cancelq.platforms.base import CancelRequest, OrderState, Outcome, Platform
from cancelq.platforms.errors import AlreadyCancelled, PermanentError, PlatformError, TransientError
from cancelq.platforms.http import Timeouts, new_session
from cancelq.platforms.reasons import Reason
from cancelq.platforms.registry import build_adapter
from cancelq.sandbox.control import SandboxClient
from tests.kits import Kit
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE

KITS = [SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA]
REASON = Reason.CUSTOMER_REQUEST


def run_flow(adapter: Platform, request: CancelRequest) -> Outcome:
    """The orchestrator's protocol without the ledger: steps in order, reconcile on check_status."""
    state: dict[str, Mapping[str, Any]] = {}
    for spec in adapter.plan(request):
        try:
            result = adapter.run_step(spec.name, request, state)
        except AlreadyCancelled:
            return Outcome.ALREADY_CANCELLED
        except PlatformError as exc:
            if spec.writes and exc.check_status:
                status = adapter.read_status(request)
                if status.state is OrderState.CANCELLED:
                    return Outcome.ALREADY_CANCELLED if isinstance(exc, PermanentError) else Outcome.SUCCEEDED
            raise
        state[spec.name] = result.data
        if result.outcome is not None:
            return result.outcome
    return Outcome.SUCCEEDED


def _setup(kit: Kit, sandbox: SandboxClient, url: str, session: requests.Session, state: str = "cancellable",
           timeouts: Timeouts | None = None) -> tuple[Platform, CancelRequest]:
    sandbox.add_shop(kit.platform, **kit.shop_spec)
    sandbox.add_order(kit.platform, kit.shop_ref, "ORD-1", state=state)
    adapter = build_adapter(kit.platform, kit.credentials, base_url=url, session=session, timeouts=timeouts)
    return adapter, CancelRequest(order_id="ORD-1", reason=REASON, note="contract test", options=kit.order_options)


@pytest.fixture(params=KITS, ids=lambda k: k.platform)
def kit(request: pytest.FixtureRequest) -> Kit:
    return request.param  # type: ignore[no-any-return]


def test_cancel_succeeds_once(kit: Kit, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session)
    assert adapter.read_status(request).state is OrderState.CANCELLABLE
    assert run_flow(adapter, request) is Outcome.SUCCEEDED
    view = sandbox.order(kit.platform, "ORD-1")
    assert kit.is_cancelled(view)
    assert view["cancels_applied"] == 1
    assert adapter.read_status(request).state is OrderState.CANCELLED


def test_already_cancelled_is_recognised(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                         http_session: requests.Session) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session, state="cancelled")
    assert adapter.read_status(request).state is OrderState.CANCELLED
    assert run_flow(adapter, request) is Outcome.ALREADY_CANCELLED
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 0


def test_second_cancel_is_already_cancelled(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                            http_session: requests.Session) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session)
    assert run_flow(adapter, request) is Outcome.SUCCEEDED
    assert run_flow(adapter, request) is Outcome.ALREADY_CANCELLED
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 1


def test_cancelled_in_the_seller_center(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                       http_session: requests.Session) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session)
    sandbox.cancel_elsewhere(kit.platform, "ORD-1")
    assert adapter.read_status(request).state is OrderState.CANCELLED
    assert run_flow(adapter, request) is Outcome.ALREADY_CANCELLED
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 0


def test_shipped_order_is_not_cancellable(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                          http_session: requests.Session) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session, state="shipped")
    assert adapter.read_status(request).state is OrderState.NOT_CANCELLABLE
    with pytest.raises(PermanentError):
        run_flow(adapter, request)
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 0


def test_each_error_class_for_its_codes(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                        http_session: requests.Session) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session)
    for fault, expected in kit.error_faults:
        sandbox.clear_faults()
        sandbox.fault(kit.platform, "error", endpoint=kit.write_endpoint, **fault)
        with pytest.raises(PlatformError) as caught:
            run_flow(adapter, request)
        assert type(caught.value) is expected, f"{fault} gave {caught.value!r}"
        assert caught.value.platform == kit.platform
        assert caught.value.request_id, f"{fault}: no request id in {caught.value!r}"
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 0


def test_lost_answer_after_write_is_ambiguous(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                              http_session: requests.Session) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session)
    sandbox.fault(kit.platform, "drop", endpoint=kit.write_endpoint, after_write=True)
    with pytest.raises(TransientError) as caught:
        _run_write(adapter, request)
    assert caught.value.check_status
    assert adapter.read_status(request).state is OrderState.CANCELLED
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 1


def test_timeout_after_write_is_ambiguous(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                          http_session: requests.Session) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session, timeouts=Timeouts(connect_s=1, read_s=0.3))
    sandbox.fault(kit.platform, "hang", endpoint=kit.write_endpoint, after_write=True, hang_s=2)
    with pytest.raises(TransientError) as caught:
        _run_write(adapter, request)
    assert caught.value.check_status and caught.value.code == "timeout"


def test_rejection_before_write_is_not_ambiguous(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                                 http_session: requests.Session) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session)
    sandbox.fault(kit.platform, "drop", endpoint=kit.write_endpoint)
    with pytest.raises(TransientError):
        _run_write(adapter, request)
    assert adapter.read_status(request).state is OrderState.CANCELLABLE
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 0


def test_secrets_never_in_errors(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                 http_session: requests.Session) -> None:
    sandbox.add_shop(kit.platform, **kit.shop_spec)
    sandbox.add_order(kit.platform, kit.shop_ref, "ORD-1", state="cancellable")
    wrong = {k: (v + "x" if isinstance(v, str) and v in kit.secrets else v) for k, v in kit.credentials.items()}
    secrets = [*kit.secrets, *(v for v in wrong.values() if isinstance(v, str) and v.endswith("x"))]
    request = CancelRequest(order_id="ORD-1", reason=REASON)
    errors: list[PlatformError] = []
    for creds, timeouts in ((wrong, None), (kit.credentials, Timeouts(connect_s=1, read_s=0.2))):
        adapter = build_adapter(kit.platform, creds, base_url=sandbox_url, session=http_session, timeouts=timeouts)
        sandbox.clear_faults()
        if timeouts is not None:
            sandbox.fault(kit.platform, "hang", hang_s=1)
        with pytest.raises(PlatformError) as caught:
            run_flow(adapter, request)
        errors.append(caught.value)
    for error in errors:
        text = " ".join([str(error), repr(error), str(error.to_dict()),
                         "".join(traceback.format_exception(error))])
        for secret in secrets:
            assert secret not in text, f"{kit.platform}: a secret leaked into {type(error).__name__}"
        assert "sign=" not in text


# --- an answer to a write that is not a clean, documented refusal is ambiguous ---------------------------------

GARBLED = [
    pytest.param("html", 403, id="403-html-page"),
    pytest.param("html", 400, id="400-html-page"),
    pytest.param("truncate", 400, id="400-cut-json"),
    pytest.param("truncate", 200, id="200-cut-json"),
]
UNDOCUMENTED: dict[str, dict[str, Any]] = {
    "shopee": {"code": "order.some_new_error", "http_status": 400},
    "lazada": {"code": "SomethingNew"},
    "shopline": {"http_status": 409},
    "shoplazza": {"http_status": 409},
}


@pytest.mark.parametrize(("kind", "status"), GARBLED)
def test_garbled_answer_to_an_applied_write_says_check_status(
    kit: Kit, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session, kind: str, status: int,
) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session)
    sandbox.fault(kit.platform, kind, endpoint=kit.write_endpoint, after_write=True, http_status=status)
    with pytest.raises(TransientError) as caught:
        _run_write(adapter, request)
    assert caught.value.check_status and caught.value.code == "invalid_body"
    assert caught.value.http_status == status
    assert run_flow(adapter, request) is Outcome.ALREADY_CANCELLED, "the status read finds the cancel applied"
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 1


def test_undocumented_refusal_of_a_write_says_check_status(
    kit: Kit, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session)
    sandbox.fault(kit.platform, "error", endpoint=kit.write_endpoint, after_write=True, **UNDOCUMENTED[kit.platform])
    with pytest.raises(TransientError) as caught:
        _run_write(adapter, request)
    assert caught.value.check_status
    assert adapter.read_status(request).state is OrderState.CANCELLED


# --- one total deadline per call ----------------------------------------------------------------------------------

TRICKLE = {"trickle_bytes": 1, "trickle_ms": 50}
"""One byte every 50 ms: the status line and headers alone (over 100 bytes) take more than 5 s."""
DEADLINE = Timeouts(connect_s=1, read_s=0.4, total_s=0.8)


@pytest.mark.parametrize("headers", [True, False], ids=["headers-trickled", "body-trickled"])
def test_trickled_answer_ends_at_the_deadline(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                              headers: bool) -> None:
    session = new_session()
    adapter, request = _setup(kit, sandbox, sandbox_url, session, timeouts=DEADLINE)
    sandbox.fault(kit.platform, "trickle", endpoint=kit.write_endpoint, after_write=True, trickle_headers=headers,
                  **TRICKLE)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        _run_write(adapter, request)
    elapsed = time.monotonic() - started
    assert caught.value.code == "deadline" and caught.value.check_status
    assert DEADLINE.total_s * 0.9 < elapsed < DEADLINE.total_s + 1.0, f"the call lasted {elapsed:.2f}s"
    assert adapter.read_status(request).state is OrderState.CANCELLED
    session.close()


def test_trickled_body_ends_at_the_deadline_with_any_session(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                                             http_session: requests.Session) -> None:
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session, timeouts=DEADLINE)
    sandbox.fault(kit.platform, "trickle", endpoint=kit.write_endpoint, after_write=True, trickle_headers=False,
                  **TRICKLE)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        _run_write(adapter, request)
    assert caught.value.code == "deadline" and caught.value.check_status
    assert time.monotonic() - started < DEADLINE.total_s + DEADLINE.read_s + 1.0


def test_a_silent_platform_ends_at_the_deadline_before_the_read_timeout(
    kit: Kit, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    timeouts = Timeouts(connect_s=1, read_s=5, total_s=0.5)
    adapter, request = _setup(kit, sandbox, sandbox_url, http_session, timeouts=timeouts)
    sandbox.fault(kit.platform, "hang", endpoint=kit.write_endpoint, after_write=True, hang_s=3)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        _run_write(adapter, request)
    assert caught.value.code == "deadline" and caught.value.check_status
    assert time.monotonic() - started < 2.0


# --- a throttle per delivery ----------------------------------------------------------------------------------


class _Recorder:
    """A throttle that notes each API it is asked about, and in which thread; the first call meets the other's."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.barrier = barrier

    def __call__(self, api: str) -> None:
        if self.barrier is not None and not self.calls:
            self.barrier.wait(timeout=10)
        self.calls.append((api, threading.current_thread().name))


def test_copies_with_their_own_throttles_run_side_by_side(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                                          http_session: requests.Session) -> None:
    sandbox.add_shop(kit.platform, **kit.shop_spec)
    for order_id in ("ORD-A", "ORD-B"):
        sandbox.add_order(kit.platform, kit.shop_ref, order_id, state="cancellable")
    shared = _Recorder()
    original = build_adapter(kit.platform, kit.credentials, base_url=sandbox_url, session=http_session,
                             throttle=shared)
    barrier = threading.Barrier(2)
    throttles = {"ORD-A": _Recorder(barrier), "ORD-B": _Recorder(barrier)}
    copies = {order_id: original.with_throttle(t) for order_id, t in throttles.items()}
    requests_ = {o: CancelRequest(order_id=o, reason=REASON, options=kit.order_options) for o in throttles}
    outcomes: dict[str, Outcome] = {}
    threads = [threading.Thread(target=lambda o=o: outcomes.__setitem__(o, run_flow(copies[o], requests_[o])),
                                name=o) for o in throttles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert outcomes == {"ORD-A": Outcome.SUCCEEDED, "ORD-B": Outcome.SUCCEEDED}
    for order_id, throttle in throttles.items():
        expected = [(spec.api, order_id) for spec in original.plan(requests_[order_id])]
        assert throttle.calls == expected, f"{order_id}'s throttle saw {throttle.calls}"
    assert shared.calls == [] and original.http.throttle is shared  # type: ignore[attr-defined]


def test_a_throttled_copy_shares_everything_and_costs_microseconds(kit: Kit, http_session: requests.Session) -> None:
    original = build_adapter(kit.platform, kit.credentials, base_url="http://127.0.0.1:9", session=http_session)
    recorder = _Recorder()
    copy = original.with_throttle(recorder)
    assert type(copy) is type(original) and copy is not original
    mine, theirs = copy.http, original.http  # type: ignore[attr-defined]
    assert copy.credentials is original.credentials  # type: ignore[attr-defined]
    assert (mine.session, mine.secrets, mine.timeouts) == (theirs.session, theirs.secrets, theirs.timeouts)
    assert (mine.throttle, theirs.throttle) == (recorder, None)
    started = time.perf_counter()
    for _ in range(10_000):
        original.with_throttle(recorder)
    assert (time.perf_counter() - started) / 10_000 < 50e-6, "a copy per job must cost microseconds"


def _run_write(adapter: Platform, request: CancelRequest) -> None:
    state: dict[str, Mapping[str, Any]] = {}
    for spec in adapter.plan(request):
        result = adapter.run_step(spec.name, request, state)
        state[spec.name] = result.data
