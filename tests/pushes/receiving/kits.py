"""The four test kits by platform (the shops the push vectors are signed for)."""

from __future__ import annotations

from tests.kits import Kit
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE

KITS: dict[str, Kit] = {k.platform: k for k in (SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA)}
