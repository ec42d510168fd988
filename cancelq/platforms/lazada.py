"""Lazada Open Platform (LazOP): cancel by order item, through validate then create.

The flow (platforms.md 2.2)::

    items     GET  /order/items/get                 the order's items; pick the targets
    validate  GET  /order/reverse/cancel/validate   can they be cancelled? which reason_ids?
    create    POST /order/reverse/cancel/create     the write (form body, as the official SDK sends it)
    verify    GET  /order/items/get                 success is every target item reading ``canceled``

Requests are signed exactly as ``lazop_sdk.base.sign`` does: the API path, then
every parameter sent (sorted by key) as key+value, HMAC-SHA256 with the app
secret, UPPERCASE hex; the timestamp is in milliseconds. Lazada answers errors
in the body (``code != "0"``), usually with HTTP 200, and create can answer
``code "0"`` with ``data.tip_type "error"``: that is a refusal too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import requests

from .base import (
    CancelRequest,
    OrderState,
    OrderStatus,
    Outcome,
    Preview,
    StepResult,
    StepSpec,
    StepState,
    Throttle,
)
from .errors import (
    AuthExpired,
    PermanentError,
    PlatformError,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from .http import HttpClient, Reply, Timeouts, new_session, secrets_of
from .reasons import Reason, UnmappableReason, lazada_reason_id

PLATFORM = "lazada"

GATEWAY_HOSTS: Mapping[str, str] = {
    "sg": "https://api.lazada.sg",
    "my": "https://api.lazada.com.my",
    "vn": "https://api.lazada.vn",
    "th": "https://api.lazada.co.th",
    "ph": "https://api.lazada.com.ph",
    "id": "https://api.lazada.co.id",
}
GATEWAY_PREFIX = "/rest"

API_PATHS: Mapping[str, str] = {
    "GetOrderItems": "/order/items/get",
    "OrderCancelValidate": "/order/reverse/cancel/validate",
    "InitReverseOrderCancel": "/order/reverse/cancel/create",
}

CANCELED = "canceled"
CANCELLABLE_STATUSES = frozenset({"pending", "packed", "ready_to_ship", "repacked"})
PACKAGED_STATUSES = frozenset({"packed", "ready_to_ship", "repacked"})
STOCK_ZEROING_REASONS = frozenset({Reason.OUT_OF_STOCK, Reason.PRICING_ERROR})
TIP_CHARS = 500

PLAN: tuple[StepSpec, ...] = (
    StepSpec("items", "GetOrderItems", False),
    StepSpec("validate", "OrderCancelValidate", False),
    StepSpec("create", "InitReverseOrderCancel", True),
    StepSpec("verify", "GetOrderItems", False),
)


# --- signing -------------------------------------------------------------------------------------------------


def sign(app_secret: str, api_path: str, params: Mapping[str, str]) -> str:
    """The LazOP signature of ``params`` (``sign`` itself excluded by the caller), as lazop-sdk 1.0.3 computes it."""
    message = api_path + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(app_secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256)
    return digest.hexdigest().upper()


def signed_params(
    *, app_key: str, app_secret: str, access_token: str | None, api_path: str,
    params: Mapping[str, str], timestamp_ms: int,
) -> dict[str, str]:
    """System plus business parameters with their ``sign``; empty values are never sent.

    The Python SDK signs an empty value as ``key + ""`` while the Java and C#
    SDKs skip it, so an empty parameter is a signature mismatch waiting to happen.
    """
    system = {"app_key": app_key, "sign_method": "sha256", "timestamp": str(timestamp_ms)}
    if access_token:
        system["access_token"] = access_token
    merged = {k: v for k, v in {**params, **system}.items() if v not in ("", None)}
    return {**merged, "sign": sign(app_secret, api_path, merged)}


def item_id_list(item_ids: Sequence[int]) -> str:
    """``order_item_id_list`` as Lazada wants it: one JSON-array string, signed as sent."""
    return json.dumps([int(i) for i in item_ids], separators=(",", ":"))


# --- classification --------------------------------------------------------------------------------------------

RATE_LIMIT_CODES = frozenset({"ApiCallLimit", "901", "HOT_KEY_BLOCK_EXCEPTION"})
APP_LIMIT_CODES = frozenset({"AppCallLimit"})
TRANSIENT_CODES = frozenset({
    "6", "106", "4136", "4137", "SYSTEM_BUSY", "SYSTEM_TIMEOUT", "ServiceTimeout", "UnknownRuntimeException",
    "SYSTEM_ERROR", "BIZ_DEGRADATION_ERROR",
})
AUTH_EXPIRED_CODES = frozenset({"IllegalAccessToken"})
REAUTH_CODES = frozenset({"IllegalRefreshToken", "AUTH_TYPE_UNSUPPORTED", "InvalidCode", "AppNotSubscribed"})
PERMANENT_CODES = frozenset({
    "IncompleteSignature", "MissingParameter", "InvalidAppKey", "APP_KEY_INVALID", "InvalidApi", "InvalidApiPath",
    "InvalidTimestamp", "InvalidSignMethod", "102", "104", "115", "116", "117", "118", "122", "124", "16",
    "SellerNotVerified", "SellerNotActive",
})
STATE_CONFLICT_CODES = frozenset({"123"})
"""E0123 "invalid trade order lines": what a second create of cancelled lines answers (probably)."""

DEFAULT_BAN_S = 1.0
APP_LIMIT_RETRY_S = 300.0
_BAN = re.compile(r"ban will last (\d+(?:\.\d+)?) ?s", re.IGNORECASE)
_E_CODE = re.compile(r"^E0*(\d+)$")


def normalise_code(code: object) -> str:
    """``E0123`` and ``123`` are the same error (the doc lists both forms)."""
    text = str(code).strip()
    match = _E_CODE.match(text)
    return match.group(1) if match else text


def ban_seconds(message: str) -> float | None:
    """The N of "this ban will last N seconds"; waiting the extra second is the caller's business."""
    match = _BAN.search(message)
    return float(match.group(1)) if match else None


def classify(
    http_status: int,
    body: Mapping[str, Any],
    *,
    step: str,
    write: bool = False,
    scrub: Callable[[str], str] = str,
) -> PlatformError:
    """The error for a Lazada answer that is not a success: by body code first, whatever the HTTP status."""
    raw_code = str(body.get("code", ""))
    message = scrub(str(body.get("message") or raw_code or f"HTTP {http_status}"))
    common: dict[str, Any] = {
        "platform": PLATFORM, "step": step, "http_status": http_status, "code": raw_code,
        "request_id": _request_id(body),
    }
    code = normalise_code(raw_code)
    if code == "0" and _tip_type(body) == "error":
        tip = scrub(_tip_content(body)) or "no tip_content"
        common["code"] = "tip_type_error"
        return PermanentError(f"Lazada refused the cancel: {tip}", check_status=True, **common)
    if code in RATE_LIMIT_CODES:
        return RateLimited(message, retry_after_s=ban_seconds(message) or DEFAULT_BAN_S, **common)
    if code in APP_LIMIT_CODES:
        return RateLimited(message, retry_after_s=ban_seconds(message) or APP_LIMIT_RETRY_S, **common)
    if code in AUTH_EXPIRED_CODES:
        return AuthExpired(message, **common)
    if code in REAUTH_CODES:
        return ReauthRequired(message, **common)
    if code in STATE_CONFLICT_CODES:
        return PermanentError(message, check_status=True, **common)
    if code in PERMANENT_CODES:
        return PermanentError(message, **common)
    if code in TRANSIENT_CODES or body.get("type") == "ISP" or http_status >= 500:
        return TransientError(message, check_status=write, **common)
    if http_status == 429:
        return RateLimited(message, retry_after_s=None, **common)
    return PermanentError(message, **common)


def _request_id(body: Mapping[str, Any]) -> str | None:
    value = body.get("request_id")
    return str(value) if value else None


def _data(body: Mapping[str, Any]) -> Mapping[str, Any]:
    data = body.get("data")
    return data if isinstance(data, Mapping) else {}


def _tip_type(body: Mapping[str, Any]) -> str:
    return str(_data(body).get("tip_type") or "")


def _tip_content(body: Mapping[str, Any]) -> str:
    return str(_data(body).get("tip_content") or "")[:TIP_CHARS]


@dataclass(frozen=True)
class _Answer:
    """A successful Lazada answer: its body and the HTTP status it came with."""

    body: Mapping[str, Any]
    http_status: int

    @property
    def request_id(self) -> str | None:
        return _request_id(self.body)

    @property
    def tip_type(self) -> str:
        return _tip_type(self.body)

    @property
    def tip_content(self) -> str:
        return _tip_content(self.body)


# --- the adapter -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LazadaCredentials:
    """An app's keys and one seller's token; ``country`` picks the gateway."""

    app_key: str
    app_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    country: str = "sg"
    refresh_token: str = field(default="", repr=False)
    """Optional: only ``tokens.refresh_tokens`` uses it; kept here so that no answer can echo it."""

    @classmethod
    def from_mapping(cls, credentials: Mapping[str, Any]) -> LazadaCredentials:
        missing = [k for k in ("app_key", "app_secret", "access_token") if not credentials.get(k)]
        if missing:
            raise ValueError(f"Lazada credentials lack {', '.join(missing)}")
        country = str(credentials.get("country") or "sg").lower()
        if country not in GATEWAY_HOSTS:
            raise ValueError(f"unknown Lazada country {country!r}; expected one of {', '.join(GATEWAY_HOSTS)}")
        return cls(
            app_key=str(credentials["app_key"]), app_secret=str(credentials["app_secret"]),
            access_token=str(credentials["access_token"]), country=country,
            refresh_token=str(credentials.get("refresh_token") or ""),
        )


@dataclass(frozen=True)
class _Items:
    """The targets of a cancel among an order's items, as one GetOrderItems answer shows them."""

    statuses: Mapping[int, str]
    targets: tuple[int, ...]
    packages: Mapping[int, str]
    request_id: str | None
    http_status: int

    @property
    def raw_status(self) -> str:
        return ",".join(sorted({self.statuses[i] for i in self.targets}))

    def all_canceled(self) -> bool:
        return all(self.statuses[i] == CANCELED for i in self.targets)

    def open_targets(self) -> tuple[int, ...]:
        """The targets still to cancel: already-cancelled ones are dropped."""
        return tuple(i for i in self.targets if self.statuses[i] != CANCELED)

    def blocked(self) -> dict[int, str]:
        return {i: self.statuses[i] for i in self.open_targets() if self.statuses[i] not in CANCELLABLE_STATUSES}

    def package_spill(self) -> list[int]:
        """Items outside the targets that Lazada cancels too: same package as a packed target."""
        packages = {self.packages[i] for i in self.open_targets()
                    if self.statuses[i] in PACKAGED_STATUSES and self.packages.get(i)}
        return sorted(i for i, pkg in self.packages.items()
                      if pkg in packages and i not in self.targets and self.statuses[i] != CANCELED)


class LazadaAdapter:
    """Cancels Lazada order items through GetOrderItems, OrderCancelValidate and InitReverseOrderCancel."""

    name: ClassVar[str] = PLATFORM

    def __init__(
        self,
        *,
        credentials: LazadaCredentials,
        gateway: str,
        http: HttpClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.gateway = gateway.rstrip("/")
        self.http = http
        self.clock = clock

    @classmethod
    def from_credentials(
        cls,
        credentials: Mapping[str, Any],
        *,
        base_url: str | None = None,
        session: requests.Session | None = None,
        throttle: Throttle | None = None,
        timeouts: Timeouts | None = None,
    ) -> LazadaAdapter:
        creds = LazadaCredentials.from_mapping(credentials)
        host = base_url.rstrip("/") if base_url else GATEWAY_HOSTS[creds.country]
        http = HttpClient(
            platform=PLATFORM, session=session or new_session(), timeouts=timeouts or Timeouts(),
            throttle=throttle, secrets=secrets_of((creds.app_secret, creds.access_token, creds.refresh_token)),
        )
        return cls(credentials=creds, gateway=host + GATEWAY_PREFIX, http=http)

    def __repr__(self) -> str:
        return f"LazadaAdapter(app_key={self.credentials.app_key!r}, gateway={self.gateway!r})"

    # --- the protocol ---

    def plan(self, request: CancelRequest) -> Sequence[StepSpec]:
        return PLAN

    def run_step(self, step: str, request: CancelRequest, state: StepState) -> StepResult:
        runners: dict[str, Callable[[CancelRequest, StepState], StepResult]] = {
            "items": self._step_items, "validate": self._step_validate,
            "create": self._step_create, "verify": self._step_verify,
        }
        if step not in runners:
            raise ValueError(f"Lazada has no step {step!r}; expected one of {', '.join(runners)}")
        return runners[step](request, state)

    def read_status(self, request: CancelRequest) -> OrderStatus:
        items = self._items(request, step="read_status")
        detail = {"items": {str(i): items.statuses[i] for i in items.targets}}
        if items.all_canceled():
            state = OrderState.CANCELLED
        elif items.blocked():
            state = OrderState.NOT_CANCELLABLE
        else:
            state = OrderState.CANCELLABLE
        return OrderStatus(state, items.raw_status, items.request_id, detail)

    def preview(self, request: CancelRequest) -> Preview:
        items = self._items(request, step="preview")
        if items.all_canceled():
            return Preview(OrderState.CANCELLED, items.raw_status, request_id=items.request_id)
        blocked = items.blocked()
        if blocked:
            return Preview(OrderState.NOT_CANCELLABLE, items.raw_status, (_blocked_text(blocked),), items.request_id)
        answer = self._validate_call(request.order_id, items.open_targets(), step="preview", refuse=False)
        if answer.tip_type == "error":
            tip = answer.tip_content or "Lazada refused the cancel"
            return Preview(OrderState.NOT_CANCELLABLE, items.raw_status, (tip,), answer.request_id)
        reason_id, reason_name = self._reason(request, answer, step="preview")
        effects = [f"reason: {reason_name} (reason_id {reason_id})"]
        effects += _side_effects(request, items, answer.tip_content)
        return Preview(OrderState.CANCELLABLE, items.raw_status, tuple(effects), answer.request_id)

    # --- steps ---

    def _step_items(self, request: CancelRequest, state: StepState) -> StepResult:
        items = self._items(request, step="items")
        if items.all_canceled():
            data = {"order_item_ids": list(items.targets), "statuses": _statuses(items)}
            return StepResult(data, items.request_id, Outcome.ALREADY_CANCELLED)
        blocked = items.blocked()
        if blocked:
            raise PermanentError(
                _blocked_text(blocked), platform=PLATFORM, step="items", code="not_cancellable",
                request_id=items.request_id, http_status=items.http_status,
            )
        data = {
            "order_item_ids": list(items.open_targets()),
            "already_canceled": [i for i in items.targets if items.statuses[i] == CANCELED],
            "package_spill": items.package_spill(),
        }
        return StepResult(data, items.request_id)

    def _step_validate(self, request: CancelRequest, state: StepState) -> StepResult:
        item_ids = _item_ids(state, "items", step="validate")
        answer = self._validate_call(request.order_id, item_ids, step="validate", refuse=True)
        reason_id, reason_name = self._reason(request, answer, step="validate")
        data = {
            "order_item_ids": list(item_ids), "reason_id": reason_id, "reason_name": reason_name,
            "tip_type": answer.tip_type, "tip_content": answer.tip_content,
        }
        return StepResult(data, answer.request_id)

    def _step_create(self, request: CancelRequest, state: StepState) -> StepResult:
        item_ids = _item_ids(state, "validate", step="create")
        reason_id = str(state["validate"].get("reason_id") or "")
        if not reason_id:
            raise _missing("validate", "reason_id", step="create")
        params = {"order_id": request.order_id, "order_item_id_list": item_id_list(item_ids), "reason_id": reason_id}
        answer = self._call("InitReverseOrderCancel", params, step="create", write=True)
        data = {"order_item_ids": list(item_ids), "tip_type": answer.tip_type, "tip_content": answer.tip_content}
        return StepResult(data, answer.request_id)

    def _step_verify(self, request: CancelRequest, state: StepState) -> StepResult:
        item_ids = _item_ids(state, "validate" if "validate" in state else "items", step="verify")
        items = self._items(request, step="verify", targets=item_ids)
        if not items.all_canceled():
            pending = {i: s for i, s in items.statuses.items() if i in item_ids and s != CANCELED}
            raise TransientError(
                f"items not cancelled yet: {_describe(pending)}", platform=PLATFORM, step="verify",
                code="not_yet_cancelled", request_id=items.request_id, http_status=items.http_status,
            )
        return StepResult({"order_item_ids": list(item_ids), "statuses": _statuses(items)}, items.request_id)

    # --- calls ---

    def _items(self, request: CancelRequest, *, step: str, targets: Sequence[int] | None = None) -> _Items:
        answer = self._call("GetOrderItems", {"order_id": request.order_id}, step=step)
        rows = answer.body.get("data")
        if not isinstance(rows, list) or not rows:
            raise PermanentError(
                f"order {request.order_id} has no items", platform=PLATFORM, step=step, code="no_items",
                request_id=answer.request_id, http_status=answer.http_status,
            )
        statuses = {int(r["order_item_id"]): str(r.get("status", "")) for r in rows}
        packages = {int(r["order_item_id"]): str(r.get("package_id") or "") for r in rows}
        wanted = tuple(targets) if targets is not None else _requested_ids(request, step=step)
        unknown = [i for i in wanted if i not in statuses]
        if unknown:
            raise PermanentError(
                f"order {request.order_id} has no items {unknown}", platform=PLATFORM, step=step,
                code="unknown_item", request_id=answer.request_id, http_status=answer.http_status,
            )
        return _Items(statuses, wanted or tuple(statuses), packages, answer.request_id, answer.http_status)

    def _validate_call(self, order_id: str, item_ids: Sequence[int], *, step: str, refuse: bool) -> _Answer:
        params = {"order_id": order_id, "order_item_id_list": item_id_list(item_ids)}
        return self._call("OrderCancelValidate", params, step=step, refuse_tip_error=refuse)

    def _reason(self, request: CancelRequest, answer: _Answer, *, step: str) -> tuple[str, str]:
        options = [o for o in _data(answer.body).get("reason_options") or [] if isinstance(o, Mapping)]
        try:
            reason_id = lazada_reason_id(request.reason, options)
        except UnmappableReason as exc:
            raise PermanentError(
                str(exc), platform=PLATFORM, step=step, code="unmappable_reason", request_id=answer.request_id,
                http_status=answer.http_status,
            ) from None
        name = next((str(o.get("reason_name")) for o in options if str(o.get("reason_id")) == reason_id), "")
        return reason_id, name

    def _call(
        self, api: str, params: Mapping[str, str], *, step: str, write: bool = False, refuse_tip_error: bool = True,
    ) -> _Answer:
        path = API_PATHS[api]
        signed = signed_params(
            app_key=self.credentials.app_key, app_secret=self.credentials.app_secret,
            access_token=self.credentials.access_token, api_path=path, params=params,
            timestamp_ms=int(self.clock() * 1000),
        )
        url = self.gateway + path
        if write:
            reply = self.http.request("POST", url, step=step, api=api, data=signed)
        else:
            reply = self.http.request("GET", url, step=step, api=api, params=signed)
        return self._checked(reply, step=step, write=write, refuse_tip_error=refuse_tip_error)

    def _checked(self, reply: Reply, *, step: str, write: bool, refuse_tip_error: bool) -> _Answer:
        body = reply.body
        if not isinstance(body, Mapping) or "code" not in body:
            problem = reply.body_error or "the answer has no Lazada code"
            raise self.http.unparsed(replace(reply, body_error=problem), step=step)
        tip_refused = refuse_tip_error and _tip_type(body) == "error"
        if str(body["code"]) != "0" or tip_refused or reply.status >= 400:
            raise classify(reply.status, body, step=step, write=write, scrub=self.http.scrub)
        return _Answer(body, reply.status)


# --- helpers ---------------------------------------------------------------------------------------------------


def _requested_ids(request: CancelRequest, *, step: str) -> tuple[int, ...]:
    ids = []
    for item in request.items:
        value = item.get("order_item_id")
        if isinstance(value, bool) or not str(value).isdigit():
            raise PermanentError(
                f"a Lazada item is named by an integer order_item_id, got {value!r}", platform=PLATFORM,
                step=step, code="invalid_item",
            )
        ids.append(int(str(value)))
    return tuple(dict.fromkeys(ids))


def _item_ids(state: StepState, source: str, *, step: str) -> tuple[int, ...]:
    ids = state.get(source, {}).get("order_item_ids")
    if not ids:
        raise _missing(source, "order_item_ids", step=step)
    return tuple(int(i) for i in ids)


def _missing(source: str, key: str, *, step: str) -> PermanentError:
    return PermanentError(
        f"step {step!r} needs {key} from step {source!r}, which did not run", platform=PLATFORM, step=step,
        code="missing_step_data",
    )


def _statuses(items: _Items) -> dict[str, str]:
    return {str(i): items.statuses[i] for i in items.targets}


def _describe(statuses: Mapping[int, str]) -> str:
    return ", ".join(f"{i} is {s or 'unknown'}" for i, s in sorted(statuses.items()))


def _blocked_text(blocked: Mapping[int, str]) -> str:
    allowed = ", ".join(sorted(CANCELLABLE_STATUSES))
    return f"items not cancellable ({_describe(blocked)}); only {allowed} items can be cancelled"


def _side_effects(request: CancelRequest, items: _Items, tip_content: str) -> list[str]:
    effects = [tip_content] if tip_content else []
    if request.reason in STOCK_ZEROING_REASONS:
        effects.append("stock will be set to 0 for the cancelled SKUs")
    spill = items.package_spill()
    if spill:
        effects.append(f"items {spill} share a package with a packed target and will be cancelled too")
    skipped = [i for i in items.targets if items.statuses[i] == CANCELED]
    if skipped:
        effects.append(f"items {skipped} are already cancelled and are left out")
    return effects
