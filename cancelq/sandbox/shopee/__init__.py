"""The Shopee Open Platform v2 emulator: get_order_detail, cancel_order, handle_buyer_cancellation.

Every call is checked the way Shopee's gateway does, with this module's own
code: the common query parameters are present, partner_id is known, the
timestamp (seconds) is within 5 minutes, the HMAC-SHA256 sign matches, the shop
is linked to the partner and the access_token is the shop's and still valid.
Answers are ``{"error","message","request_id","response"}`` like the docs.

Choices where Shopee documents nothing:

- HTTP status of an error (undocumented): 403 for auth, sign and permission
  errors, 429 for error_rate_limit and error_limit, 500 for error_server and
  error_network, 404 for error_not_found, 400 for the rest (parameters and
  business rejections). Clients must read the body whatever the status.
- A second cancel_order on a CANCELLED order, like a cancel of any status that
  is not cancellable (IN_CANCEL, SHIPPED, COMPLETED...), answers
  ``order.error_limit`` "Can not cancel this order." and changes nothing.
- A seller cancel moves the order straight to CANCELLED with cancel_by
  "seller" (the real platform may show IN_CANCEL for a while).
- handle_buyer_cancellation on an order that is not IN_CANCEL answers
  ``order.order_status_invalid``; ACCEPT cancels it (cancel_by "buyer"),
  REJECT puts back the status it had before the buyer asked.
- get_order_detail leaves out order_sn it does not find in the shop and
  answers error_param "The information you queried is not found." when it
  finds none. Parameters are checked (order_sn, cancel_reason, item_list...)
  before the order's state.
- Rate limit (Shopee publishes none): a bucket of 10/s, burst 20, per shop and
  API, answered with error_rate_limit when limits are switched on.

Token refresh (``POST /api/v2/auth/access_token/get``, endpoint name
"refresh_access_token"): a Public API call (sign over partner_id + path +
timestamp) with the JSON body ``{refresh_token, partner_id, shop_id}``. The
shop's refresh token is single-use and rotates: a refresh answers a new
access_token (``expire_in`` 14400, the documented 4 h) and a new refresh_token,
and the old access token stops working at once. A spent or unknown refresh
token answers ``error_shop_refresh_token`` "Your refresh token is error
,please check refresh token or shopid." (the refresh API's documented error for
a wrong token; Shopee names no separate code for a spent one); a refresh grant
killed through the control API answers ``refresh_token_expired``; a shop_id not
linked to the partner answers ``shop_no_linked``. A shop seeded without a
``refresh_token`` gets ``state.default_refresh_token("shopee", shop_id)``.

Pushes (``sandbox.pushes``): a push whose every attempt failed is listed by ``v2.push.get_lost_push_message``
until ``v2.push.confirm_consumed_lost_push_message`` (``lost.py``).
"""

from __future__ import annotations

from .answers import Rejected
from .gateway import ShopeeEmulator
from .signing import shop_sign

__all__ = ["Rejected", "ShopeeEmulator", "shop_sign"]
