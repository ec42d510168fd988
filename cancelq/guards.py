"""The guard rails as operators and producers work them: scopes checked against what exists, pauses and
configuration-fault parks lifted, circuits closed, shops stored only with usable credentials and verified.

Mixed into ``client.CancelQ`` so that the CLI, the HTTP API and the console share one implementation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cancelq.campaigns.store import CampaignNotFound, store
from cancelq.gate import controls
from cancelq.gate.budget import Budget, BudgetError, Usage, approve, usage
from cancelq.gate.scopes import ScopeError, resolve
from cancelq.platforms.base import CancelRequest
from cancelq.platforms.errors import AuthExpired, PermanentError, PlatformError, ReauthRequired
from cancelq.platforms.reasons import Reason
from cancelq.platforms.registry import BUYER_REQUEST_PLATFORMS, PLATFORM_NAMES
from cancelq.runtime import Runtime
from cancelq.shops.registry import BuyerPolicy, Shop, ShopError


@dataclass(frozen=True)
class Resumed:
    """What a resume lifted: the pauses, and the shops parked by a configuration fault (each now probes)."""

    scopes: list[str]
    shops: list[str]


@dataclass(frozen=True)
class Verified:
    """A shop's one authenticated read (``verify_shop``): ``ok`` when the platform accepted our credentials."""

    ok: bool
    message: str
    code: str | None = None


VERIFY_ORDER = "cancelq-verify-0"
"""The order a verification reads: none has this id, so "not found" means the platform checked our signature
and token and found them good, and no order is touched."""


class GuardRails:
    """The guard rails' operations of ``CancelQ``, for the CLI, the HTTP API and the console: every name is
    checked before anything is written."""

    rt: Runtime

    def scopes(self, kind: str, value: str | None = None) -> list[str]:
        """The exact pause scopes ``kind``/``value`` names (a shop pattern: each shop it matches); ``ScopeError``
        with the nearest known names for a platform, shop or campaign that does not exist."""
        campaigns: list[str] = []
        if kind == "campaign" and value:
            try:
                campaigns = [store(self.rt).get(value).id]
            except CampaignNotFound as exc:
                raise ScopeError(str(exc)) from None
        return resolve(kind, value, platforms=PLATFORM_NAMES, shops=self.rt.shops.names(), campaigns=campaigns)

    def pause(self, kind: str, value: str | None = None, *, reason: str = "", by: str = "") -> list[str]:
        """Pause writes of the scope (every shop a pattern matches); nothing is written for an unknown name."""
        scopes = self.scopes(kind, value)
        for scope in scopes:
            controls.pause(self.rt.redis, scope, reason, by)
        return scopes

    def resume(self, kind: str, value: str | None = None) -> Resumed:
        """Lift the scope's pauses and the configuration-fault parks of its shops (a probe job goes first)."""
        scopes = self.scopes(kind, value)
        resumed = [scope for scope in scopes if controls.resume(self.rt.redis, scope)]
        return Resumed(resumed, self._lift([s for s in self.rt.shops.all() if s.parked and _within(s, scopes)]))

    def close_circuit(self, platform: str, shop: str | None = None) -> bool:
        """Close one circuit after a fix (False: it was not open)."""
        self.scopes("platform", platform)
        if shop is not None:
            self.scopes("shop", f"{platform}/{shop}")
        return self.rt.circuits.close(platform, shop)

    def add_shop(self, platform: str, name: str, credentials: dict[str, Any], base_url: str | None = None) -> Shop:
        """Store a shop after checking its credentials (``ShopError``); a park of it, or of its app, is lifted."""
        before = self.rt.shops.get(platform, name, fresh=True)
        shop = self.rt.shops.add(platform, name, credentials, base_url)
        self._lift([before] if before is not None and before.parked else [])
        return shop

    def set_tokens(self, shop: Shop, credentials: dict[str, Any], expires_at: float | None) -> Shop:
        """An operator's new grant: stored, and a configuration-fault park of the shop lifted."""
        updated = self.rt.shops.set_tokens(shop, credentials, expires_at)
        self._lift([shop] if shop.parked else [])
        return self.rt.shops.get(shop.platform, shop.name, fresh=True) or updated

    def verify_shop(self, shop: Shop) -> Verified:
        """One cheap authenticated read (an order id no order has): what the platform says of our credentials."""
        adapter = self.rt.adapter(shop)
        try:
            adapter.read_status(CancelRequest(order_id=VERIFY_ORDER, reason=Reason.OTHER))
        except (AuthExpired, ReauthRequired) as exc:
            return Verified(False, f"the platform refused the access token: {exc.message}", exc.code)
        except PermanentError as exc:
            if type(exc) is PermanentError and exc.http_status in (None, 200, 400, 404):
                return Verified(True, f"credentials accepted (the platform answered: {exc.message})", exc.code)
            return Verified(False, f"the platform refused the call: {exc.message}", exc.code)
        except PlatformError as exc:
            return Verified(False, f"could not verify now: {exc.message}", exc.code)
        return Verified(True, "credentials accepted")

    def set_budget(self, target: str, *, max_cancels: int | None, per_s: float | None = None,
                   reasons: Iterable[str] | None = None) -> Budget | None:
        """Set (or, with ``max_cancels`` None, clear) a shop's cancellation budget; ``target`` is P/NAME."""
        shop = self.shop(target)
        if max_cancels is None:
            self.rt.shops.set_budget(shop, None)
            return None
        raw: dict[str, Any] = {"max": max_cancels, "per_s": per_s or 86400.0}
        if reasons:
            unknown = sorted(set(reasons) - {r.value for r in Reason})
            if unknown:
                raise BudgetError(f"unknown reasons {', '.join(unknown)}; use {', '.join(r.value for r in Reason)}")
            raw["reasons"] = sorted(set(reasons))
        budget = Budget.parse(target, raw)
        self.rt.shops.set_budget(shop, budget.to_dict())
        return budget

    def set_buyer_policy(self, target: str, policy: str, unless: Iterable[str] = ()) -> BuyerPolicy:
        """What the shop ``platform/name`` does with buyers' cancel requests; ``ScopeError`` for an unknown shop,
        ``ShopError`` for an unknown policy or condition, or a platform without buyer requests (nothing
        written)."""
        shop = self.shop(target)
        parsed = BuyerPolicy.parse({"policy": policy, "unless": list(unless)})
        if shop.platform not in BUYER_REQUEST_PLATFORMS:
            raise ShopError(f"{target}: {shop.platform} has no buyer cancel requests (only "
                            f"{' and '.join(BUYER_REQUEST_PLATFORMS)} do)")
        self.rt.shops.set_buyer_policy(shop, parsed)
        return parsed

    def budget_usage(self, target: str) -> Usage | None:
        """The shop's budget now (cancels in the window, approvals, room); None when it has none."""
        budget = self.rt.budget_for(self.shop(target))
        return usage(self.rt.redis, budget, _server_ms(self.rt)) if budget is not None else None

    def approve_budget(self, target: str, extra: int) -> int:
        """Let ``extra`` more cancels of the shop pass its budget now; the approvals standing."""
        budget = self.rt.budget_for(self.shop(target))
        if budget is None:
            raise BudgetError(f"{target} has no cancellation budget")
        return approve(self.rt.redis, budget, extra)

    def shop(self, target: str) -> Shop:
        """The registry's shop ``platform/name`` (``ScopeError`` with the nearest names when there is none)."""
        self.scopes("shop", target)
        platform, _, name = target.partition("/")
        shop = self.rt.shops.get(platform, name, fresh=True)
        if shop is None:
            raise ScopeError(f"no shop {target!r} in the registry")
        return shop

    def _lift(self, shops: Iterable[Shop]) -> list[str]:
        lifted: list[str] = []
        for shop in shops:
            if f"{shop.platform}/{shop.name}" not in lifted:
                names = (f"{shop.platform}/{n}" for n in self.rt.parking.lift(shop))
                lifted += [n for n in names if n not in lifted]
        return lifted


def _server_ms(rt: Runtime) -> int:
    seconds, micros = rt.redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _within(shop: Shop, scopes: list[str]) -> bool:
    return any(scope in ("all", f"platform:{shop.platform}", f"shop:{shop.platform}/{shop.name}") for scope in scopes)



__all__ = ["GuardRails", "Resumed", "ScopeError", "Verified"]
