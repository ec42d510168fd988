"""No Redis URL: the embedded Valkey daemon, one per data directory, shared by later commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from cancelq.core.embedded import ensure_server, stop_server
from cancelq.core.settings import Settings


def test_embedded_server_starts_once_and_is_reused(tmp_path: Path) -> None:
    url = ensure_server(tmp_path)
    try:
        redis.Redis.from_url(url).set("k", "v")
        assert ensure_server(tmp_path) == url
        assert redis.Redis.from_url(url).get("k") == b"v"
        assert (tmp_path / "appendonlydir").exists() or (tmp_path / "appendonly.aof").exists()
    finally:
        assert stop_server(tmp_path)
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()


def test_settings_come_from_a_toml_file_and_the_environment_wins(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cancelq.toml"
    config.write_text('[cancelq]\nmax_attempts = 3\nretry_cap_s = 42.5\nqueue = "cancel-eu"\n')
    monkeypatch.setenv("CANCELQ_CONFIG", str(config))
    monkeypatch.setenv("CANCELQ_MAX_ATTEMPTS", "9")
    monkeypatch.delenv("CANCELQ_RETRY_CAP_S", raising=False)
    settings = Settings()
    assert settings.max_attempts == 9 and settings.retry_cap_s == 42.5 and settings.queue == "cancel-eu"
