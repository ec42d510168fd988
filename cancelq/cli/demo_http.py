"""The demo's HTTP part: ``cancelq api`` as a child process, and some of the demo's orders sent through it, as
an order manager in another language would (single POSTs with an Idempotency-Key, and one batch)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cancelq.api.apikeys import ApiKeys
from cancelq.client import CancelQ
from cancelq.core.embedded import free_port
from cancelq.core.process import ChildProcess

SINGLE = "shopline"
"""Orders of this platform go one POST each; of BATCHED, in one batch; the rest through the Python API."""
BATCHED = "shoplazza"


@dataclass(frozen=True)
class Submitted:
    job_id: str


def start_api(workdir: Path) -> tuple[ChildProcess, str]:
    """``cancelq api`` on a free loopback port, ready when /readyz answers 200; its log in ``workdir``."""
    url = f"http://127.0.0.1:{free_port()}"
    api = ChildProcess(name="the demo's API", stop_timeout_s=10.0, ready_timeout_s=30.0)
    with (workdir / "api.log").open("wb") as log:
        api.launch([sys.executable, "-m", "cancelq.cli.main", "api", "--port", url.rsplit(":", 1)[1]],
                   env=os.environ, stdout=log, stderr=subprocess.STDOUT, ready=lambda: _ready(url))
    return api, url


def _ready(url: str) -> bool:
    try:
        return requests.get(url + "/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def submit_all(client: CancelQ, api_url: str, jobs: list[dict[str, Any]]) -> tuple[list[Any], str]:
    """Every job, some over HTTP: (handles with ``job_id``, in the jobs' order; a line saying what went how)."""
    token = ApiKeys(client.rt.redis).create("demo-order-manager", ["jobs:write", "jobs:read"])[1]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    batch = [j for j in jobs if j["platform"] == BATCHED]
    answer = session.post(f"{api_url}/v1/cancellations/batch", json={"jobs": batch}, timeout=30)
    answer.raise_for_status()
    batched = iter(Submitted(r["job_id"]) for r in answer.json()["results"])
    handles: list[Any] = []
    singles = 0
    for job in jobs:
        if job["platform"] == BATCHED:
            handles.append(next(batched))
        elif job["platform"] == SINGLE:
            reply = session.post(f"{api_url}/v1/cancellations", json=job, timeout=10,
                                 headers={"Idempotency-Key": f"demo/{job['order_id']}"})
            handles.append(Submitted(reply.json()["job_id"]))
            singles += 1
        else:
            handles.append(client.submit(job, source="demo"))
    session.close()
    return handles, (f"{singles + len(batch)} of {len(jobs)} jobs sent over HTTP to {api_url}: {singles} single "
                     f"POSTs with an Idempotency-Key, one batch of {len(batch)}; the rest through the Python API")
