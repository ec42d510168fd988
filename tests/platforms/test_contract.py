"""The platform contract, the same for all four adapters, against the sandbox over real HTTP."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

import pytest
import requests

from cancelq.platforms.base import CancelRequest, OrderState, Outcome, Platform
from cancelq.platforms.errors import AlreadyCancelled, PermanentError, PlatformError, TransientError
from cancelq.platforms.http import Timeouts
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


def _run_write(adapter: Platform, request: CancelRequest) -> None:
    state: dict[str, Mapping[str, Any]] = {}
    for spec in adapter.plan(request):
        result = adapter.run_step(spec.name, request, state)
        state[spec.name] = result.data
