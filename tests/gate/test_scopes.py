"""gate/scopes.py: operators' words to exact pause scopes, or a refusal with the nearest known names."""

from __future__ import annotations

import pytest

from cancelq.gate.scopes import ScopeError, resolve

PLATFORMS = ("shopee", "lazada", "shopline", "shoplazza")
SHOPS = ("shopee/shopee-sg-main", "shopee/shopee-my-main", "lazada/lazada-vn-store")
CAMPAIGNS = ("20261123-3f9c2a1b",)


def _resolve(kind: str, value: str | None) -> list[str]:
    return resolve(kind, value, platforms=PLATFORMS, shops=SHOPS, campaigns=CAMPAIGNS)


def test_known_names_are_their_own_scopes() -> None:
    assert _resolve("all", None) == ["all"]
    assert _resolve("platform", "lazada") == ["platform:lazada"]
    assert _resolve("shop", "shopee/shopee-sg-main") == ["shop:shopee/shopee-sg-main"]
    assert _resolve("campaign", "20261123-3f9c2a1b") == ["campaign:20261123-3f9c2a1b"]


def test_a_pattern_is_every_shop_it_matches() -> None:
    assert _resolve("shop", "shopee/*") == ["shop:shopee/shopee-sg-main", "shop:shopee/shopee-my-main"]
    with pytest.raises(ScopeError, match=r"no shop in the registry matches 'shoplazza/\*'"):
        _resolve("shop", "shoplazza/*")


@pytest.mark.parametrize(("kind", "value", "hint"), [
    ("shop", "shopee-sg-main", "did you mean shopee/shopee-sg-main?"),
    ("shop", "shopee/shopee-sg-mian", "did you mean shopee/shopee-sg-main"),
    ("shop", "lazada/shopee-sg-main", "did you mean shopee/shopee-sg-main"),
    ("platform", "lazda", "unknown platform 'lazda'; did you mean lazada?"),
    ("platform", "amazon", "known: shopee, lazada, shopline, shoplazza"),
    ("campaign", "20261123-3f9c2a1c", "did you mean 20261123-3f9c2a1b?"),
    ("region", "sg", "unknown scope 'region'"),
    ("shop", "", "a shop scope needs a value"),
])
def test_unknown_names_are_refused_with_the_nearest_known(kind: str, value: str, hint: str) -> None:
    with pytest.raises(ScopeError) as refused:
        _resolve(kind, value)
    assert hint in str(refused.value)
