"""A Lazada Open Platform gateway at its real paths: /rest/order/items/get and /rest/order/reverse/cancel/*.

What it checks, with its own code (nothing from ``cancelq.platforms``), in the
gateway's order: the system parameters are present; ``app_key`` is a known app;
the millisecond (or ISO) ``timestamp`` is within 7200 s; ``sign_method`` is
sha256; ``sign`` is the UPPERCASE HMAC-SHA256 of the API path plus every
parameter sent (query and form alike, sorted, key+value) except ``sign``; the
``access_token`` belongs to that app and is valid. Every error is
``{"code","type","message","request_id"}`` with HTTP 200, as Lazada answers.
Both GET query strings and POST forms are accepted, as the gateway does.

State is per order item: pending, packed, ready_to_ship, repacked (cancellable),
shipped, delivered, canceled. Cancelling a packed item cancels every other item
of its package too ("other order items in the same package will also be
cancelled"). Validate answers per-country ``reason_options`` (ids and names
differ by the shop's country) and ``tip_type "error"`` when an item cannot be
cancelled. Create of a line that is no longer cancellable answers code "0" with
``tip_type "error"`` (as the doc's own sample does); create of a line that is
already ``canceled`` answers **code 123 "E0123: invalid trade order lines [..]"**:
the sandbox's choice for a second cancel (platforms.md 2.6 calls E0123 the
probable signal, unverified). Each create that takes effect counts once in
``order.cancels_applied``. Out of Stock and Wrong Price reasons zero the SKUs'
stock (recorded in ``order.extra["stock_zeroed"]``).

Choices where Lazada documents nothing: an expired timestamp answers
``InvalidTimestamp``, another sign_method ``InvalidSignMethod``, an unknown app
``InvalidAppKey``; the limit answer is ``ApiCallLimit`` with type ISP and
"this ban will last 1 seconds" (default 20/s, burst 20, per shop per API).

Token refresh (``GET|POST /rest/auth/token/refresh``, endpoint name
"refresh_access_token"): the gateway's checks without an access_token, then
``refresh_token`` must be the current one of one of the app's sellers. A refresh
answers a new pair (``expires_in`` 864000, ``refresh_expires_in`` 4320000, the
2025 sample's values) and the old access token stops working at once (Lazada
says nothing of a grace period). The old refresh token is spent too: the doc
only says a new one is returned, rotation is the sandbox's strict reading. An
unknown, spent or killed (control API) refresh token answers
``IllegalRefreshToken`` "The specified refresh token is invalid or expired".
A seller seeded without ``refresh_token`` gets
``state.default_refresh_token("lazada", seller_id)``.
"""

from __future__ import annotations

from .catalog import reason_options
from .gateway import LazadaEmulator
from .signing import lazada_sign

__all__ = ["LazadaEmulator", "lazada_sign", "reason_options"]
