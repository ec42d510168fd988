"""The README's Node client, run with ``node`` against a live server: it submits, repeats, and reads the job."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from cancelq.runtime import Runtime
from tests.api.server import ApiServer
from tests.kits.shopee import KIT as SHOPEE

README = Path(__file__).resolve().parents[2] / "README.md"


def node_snippet() -> str:
    section = README.read_text().split("## The HTTP API", 1)[1]
    found = re.search(r"From Node.*?```js\n(.*?)```", section, re.S)
    assert found is not None, "the README's Node snippet"
    return found.group(1)


def test_the_readmes_node_snippet_submits_a_job_once_and_reads_it(
        server: ApiServer, rt: Runtime, make_key: Callable[..., str], tmp_path: Path, sandbox_url: str) -> None:
    node = shutil.which("node")
    assert node is not None, "node is installed on this machine (the README's client is tested with it)"
    rt.shops.add("shopee", "shopee-sg-main", dict(SHOPEE.credentials), base_url=sandbox_url)
    script = tmp_path / "submit.mjs"
    script.write_text(node_snippet())
    env = {**os.environ, "CANCELQ_API": server.url, "CANCELQ_KEY": make_key("order-manager")}

    runs = [subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60, env=env)
            for _ in range(2)]

    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    first, second = (r.stdout.split() for r in runs)
    assert first[0] == "202" and second[0] == "200" and first[1] == second[1]
    assert first[2] == f"/v1/jobs/{first[1]}" and first[3:] == ["queued", "1"]
    record = rt.ledger.get(first[1])
    assert record is not None and record.job["client_ref"] == "om-4711" and record.job["source"] == "order-manager"
    assert rt.redis.llen(rt.settings.queue) == 1
