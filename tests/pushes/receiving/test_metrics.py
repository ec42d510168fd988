"""The receivers' counts as the workers' metrics endpoint exposes them, and the alert rule built on them."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import yaml

from cancelq.ops.metrics import exposition
from cancelq.runtime import Runtime, reset_runtime
from tests.pushes.receiving.conftest import VECTORS

RULES = Path(__file__).parents[3] / "deploy" / "prometheus" / "pushes.rules.yml"


def test_received_pushes_and_the_success_ratio_are_exposed(rt: Runtime, push_shops: dict[str, str],
                                                           http: httpx.Client) -> None:
    vector = VECTORS["lazada"]
    http.post("/pushes/lazada", content=vector["body"].encode(), headers=vector["headers"])
    http.post("/pushes/lazada", content=vector["body"].encode() + b" ", headers=vector["headers"])
    reset_runtime()

    text = exposition(rt.settings).decode()

    assert 'cancelq_pushes_received_total{platform="lazada",reason="",result="accepted"} 1.0' in text
    assert 'cancelq_pushes_received_total{platform="lazada",reason="bad_signature",result="rejected"} 1.0' in text
    assert 'cancelq_push_success_ratio{platform="lazada"} 0.5' in text
    assert 'cancelq_pushes_window_answered{platform="lazada"} 2.0' in text


def test_the_alert_rule_watches_for_under_60_percent_for_10_minutes_on_metrics_that_exist(
        rt: Runtime, push_shops: dict[str, str], http: httpx.Client) -> None:
    vector = VECTORS["shopee"]
    http.post("/pushes/shopee", content=vector["body"].encode(), headers=vector["headers"])
    reset_runtime()
    exposed = set(re.findall(r"^(cancelq_[a-z_]+?)(?:\{| )", exposition(rt.settings).decode(), re.M))

    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    low = next(r for r in rules if r["alert"] == "CancelqPushSuccessLow")

    assert "cancelq_push_success_ratio) < 0.6" in low["expr"] and low["for"] == "10m"
    for rule in rules:
        named = set(re.findall(r"cancelq_[a-z_]+", rule["expr"]))
        assert named and named <= exposed, (rule["alert"], named - exposed)
