"""The Shops page lists the cancels the platform has not confirmed (issue 17's unconfirmed watch)."""

from __future__ import annotations

import re

from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.ops.console.server import ConsoleServer
from tests.pushes.pushing import unconfirmed_job


def test_shops_page_lists_an_unconfirmed_cancel_with_its_order_and_job(
        console: ConsoleServer, rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    ops = console.session()
    assert re.search(r'id="cq-unconfirmed">.*?none</td>', ops.get("/cancelq/shops").text, re.S)
    job_id = unconfirmed_job(rt, sandbox, sandbox_url)
    page = ops.get("/cancelq/shops").text
    row = re.search(rf'<tr data-job="{job_id}">(.*?)</tr>', page, re.S)
    assert row is not None and "shopee/shopee-shop" in row.group(1) and "UNC-1" in row.group(1)
    assert f'href="/cancelq/job/{job_id}"' in row.group(1)
