"""The pure push parsers on what the HTTP tests do not reach: Lazada's reverse-order and confirm-needed buyer
requests, the kinds of push that tell nothing of orders, odd values a signed body may still carry."""

from __future__ import annotations

import json

import pytest

from cancelq.platforms.pushes import FORMATS, Unparseable, push_ref


def lazada(message_type: int, **data: object) -> bytes:
    return json.dumps({"seller_id": "200001", "message_type": message_type, "timestamp": 1764590401000,
                       "data": {"trade_order_id": "70001", "status_update_time": 1764590400, **data}}).encode()


def test_a_lazada_reverse_order_cancel_init_is_a_buyer_request() -> None:
    push = FORMATS["lazada"].parse({}, lazada(10, reverse_order_line_id="R1", reverse_status="CANCEL_INIT"))

    assert push is not None and push.buyer_request and push.status == "CANCEL_INIT"
    assert (push.order_id, push.shop_ref, push.pushed_at_ms) == ("70001", "200001", 1764590400000)


def test_a_lazada_line_needing_cancel_confirmation_is_a_buyer_request_with_its_own_identity() -> None:
    asked = FORMATS["lazada"].parse({}, lazada(0, trade_order_line_id="1", order_status="pending",
                                               need_cancel_confirm=True))
    other_line = FORMATS["lazada"].parse({}, lazada(0, trade_order_line_id="2", order_status="pending"))

    assert asked is not None and other_line is not None
    assert asked.buyer_request and not other_line.buyer_request
    assert asked.message_id != other_line.message_id


def test_pushes_about_other_things_parse_to_nothing_and_broken_ones_are_unparseable() -> None:
    assert FORMATS["lazada"].parse({}, lazada(3)) is None
    assert FORMATS["shopee"].parse({}, b'{"code":4,"shop_id":1,"data":{}}') is None
    with pytest.raises(Unparseable):
        FORMATS["lazada"].parse({}, lazada(0, order_status="canceled"))  # no line
    with pytest.raises(Unparseable):
        FORMATS["shopee"].parse({}, b"[1, 2]")


def test_a_webhook_may_wrap_its_order_and_carry_odd_times() -> None:
    headers = {"x-shopline-webhook-id": "w1", "x-shopline-topic": "orders/updated",
               "x-shopline-shop-domain": "Kit-Store.myshopline.com"}
    body = b'{"order": {"id": 42, "status": "open", "updated_at": "not a time"}}'

    push = FORMATS["shopline"].parse(headers, body)

    assert push is not None and (push.order_id, push.status, push.pushed_at_ms) == ("42", "open", 0)
    assert push.shop_ref == "kit-store" == push_ref("shopline", {"handle": "Kit-Store"})
    infinite = FORMATS["shopee"].parse({}, b'{"code":3,"shop_id":1,"data":{"ordersn":"A","status":"X",'
                                           b'"update_time":Infinity}}')
    assert infinite is not None and infinite.pushed_at_ms == 0


def test_a_webhook_domain_that_is_not_the_platforms_is_unparseable() -> None:
    with pytest.raises(Unparseable):
        FORMATS["shoplazza"].shop_ref({"x-shoplazza-shop-domain": "kit-store.evil.example"}, b"{}")
