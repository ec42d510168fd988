"""LazOP request signing, exactly as ``lazop_sdk.base.sign`` does it.

The API path, then every parameter sent (sorted by key) as key+value,
HMAC-SHA256 with the app secret, UPPERCASE hex; the timestamp is in milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence


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
