"""Typed settings: the only place the environment is read.

Every field can be set as ``CANCELQ_<FIELD>`` in the environment or in a TOML
file named by ``CANCELQ_CONFIG`` (environment wins). No Redis URL means the
embedded Valkey server in ``data_dir``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from cancelq.core.connections import CLUSTER_BROKER_REFUSED, is_cluster


class _TomlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("CANCELQ_CONFIG")
        if not path:
            return {}
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise SettingsError(f"CANCELQ_CONFIG names {path}, which does not exist") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"CANCELQ_CONFIG {path} cannot be read: {exc}") from None
        section = data.get("cancelq", data)
        known = self.settings_cls.model_fields
        unknown = [k for k in section if k not in known]
        if unknown:
            raise SettingsError(f"{path}: " + "; ".join(_unknown(k, known) for k in unknown))
        return dict(section)


class SettingsError(ValueError):
    """A setting cancelq cannot use: which one and why, never its value (it may be a secret)."""


def _unknown(key: str, known: Any) -> str:
    near = difflib.get_close_matches(key, list(known), n=1)
    return f"unknown setting {key!r}" + (f" (did you mean {near[0]!r}?)" if near else "")


def _explained(error: ValidationError) -> SettingsError:
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        field = str(item["loc"][0]) if item["loc"] else ""
        problems.append(f"{name} (CANCELQ_{field.upper()}): {item['msg']}" if field
                        else str(item["msg"]).removeprefix("Value error, "))
    return SettingsError("bad setting: " + "; ".join(problems))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CANCELQ_", extra="ignore")

    redis_url: str | None = Field(None, description="Redis/Valkey for the ledger, limiter, dead letters (and broker)")
    broker_url: str | None = Field(None, description="Celery broker; defaults to redis_url (amqp:// to scale out)")
    data_dir: Path = Field(Path(".cancelq"), description="embedded Valkey's data and pid files")
    queue: str = Field("cancelq", description="the broker queue jobs are sent to and workers consume")

    retry_base_s: float = Field(2.0, description="first transient backoff ceiling; doubles per attempt (full jitter)")
    retry_cap_s: float = Field(900.0, description="largest single backoff")
    max_attempts: int = Field(12, description="transient failures before a job is dead-lettered as exhausted")
    max_age_s: float = Field(6 * 3600.0, description="a job still failing this long after intake is exhausted")
    rate_limit_jitter_s: float = Field(0.5, description="added to a platform's retry-after, spread at random")
    default_rate_limit_wait_s: float = Field(1.0, description="wait after a rate limit with no retry-after")
    auth_wait_s: float = Field(60.0, description="how often a job of a shop that needs re-auth looks again")
    config_recheck_s: float = Field(60.0, description="how often a job of a scope parked by a configuration fault "
                                                     "looks again (a lifted park is seen at the next look)")
    clock_warn_skew_s: float = Field(60.0, description="a worker's clock this far from Redis's is a warning; "
                                                      "past a platform's window (Shopee 300 s, Lazada 7200 s) "
                                                      "the worker holds that platform's jobs")
    clock_offset_s: float = Field(0.0, description="test hook: moves this worker's clock (signatures and "
                                                   "measurements), as a drifted host clock would")
    poison_deliveries: int = Field(8, description="deliveries of one job without an outcome before it is dead")

    lease_s: float = Field(120.0, description="a running job's lease; an expired lease is taken over")
    task_time_limit_s: float = Field(100.0, description="hard limit of one task execution (below lease_s)")
    visibility_timeout_s: float = Field(900.0, description="Redis broker redelivers unacked messages after this")
    pump_interval_s: float = Field(0.2, description="how often a worker moves due delayed jobs to the queue")

    rate_limits: dict[str, dict[str, float | int | bool]] = Field(
        default_factory=dict,
        description='per-platform limit overrides, e.g. {"shoplazza": {"rate_per_s": 2, "burst": 40}}')
    cancel_budgets: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='per-platform cancellation budgets, e.g. {"lazada": {"max": 200, "per_s": 86400}} (off unless '
                    'set; a shop\'s own, from `shops set-budget`, wins)')
    budget_recheck_s: float = Field(60.0, description="how often a write held by its shop's cancellation budget "
                                                     "looks again (a raised budget or an approval is seen then)")
    short_wait_s: float = Field(0.25, description="a limiter wait up to this is slept in the worker, else deferred")
    verify_within_s: float = Field(
        600.0, gt=0, description="how long after our cancel an order may still read IN_CANCEL (or its Lazada "
                                 "reverse order pending) before cancel.unconfirmed")
    push_retry_s: float = Field(30.0, gt=0, description="a push a worker could not handle (its read deferred or "
                                                        "failed) is taken up again by a worker after this")
    push_max_tries: int = Field(5, ge=1, description="handlings of one push before it is dropped (the "
                                                     "reconciliation still finds what it told of)")
    reconcile_interval_s: float = Field(60.0, gt=0, description="how often the fleet reconciles shops with open or "
                                                                "unconfirmed jobs, for pushes that were lost")
    reconcile_orders_per_shop: int = Field(5, description="order reads per shop in one reconciliation round")
    reconcile_min_wait_s: float = Field(30.0, description="the reconciliation reads only jobs waiting at least "
                                                          "this long (a job due sooner reads its order itself)")
    pause_recheck_s: float = Field(2.0, description="how often a job held by a pause looks again")
    circuit_shop_threshold: int = Field(5, description="transient failures in the window that open a shop")
    circuit_platform_threshold: int = Field(25, description="transient failures that open a whole platform")
    circuit_open_s: float = Field(30.0, description="first open period; doubles after a failed probe")
    circuit_max_open_s: float = Field(900.0, description="longest open period after failed probes")
    circuit_lock_open_s: float = Field(600.0, description="how long a store lock (HTTP 423) holds the shop")
    circuit_window_s: float = Field(60.0, description="failures older than this do not count towards opening")

    encryption_key: SecretStr | None = Field(
        None, description="a Fernet key: shop credentials are encrypted at rest in Redis when set")
    refresh_ahead_s: float = Field(300.0, description="refresh an access token this long before it expires")
    refresh_lock_s: float = Field(30.0, description="the per-shop refresh lock's lifetime")

    http_connect_timeout_s: float = Field(3.05, description="a platform call's connect timeout")
    http_read_timeout_s: float = Field(15.0, description="a platform call's wait between bytes of the answer")
    http_total_timeout_s: float = Field(
        30.0, description="a platform call's whole time (connect, send, the whole answer); at most half of lease_s")

    events_retention_s: float = Field(7 * 86400.0, description="events are trimmed after this, never before every "
                                                                "consumer group has read them")
    dlq_max_entries: int = Field(100_000, description="the dead-letter store keeps at most this many (oldest go)")
    dlq_max_age_s: float = Field(30 * 86400.0, description="dead letters older than this are dropped")
    ledger_ttl_s: float = Field(30 * 86400.0, description="finished job records expire after this, and "
                                                           "idempotency keys this long after intake")

    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="json lines, or console (coloured); auto: console on a terminal, else json")
    log_level: str = Field("INFO", description="cancelq's log level (DEBUG adds one line per step)")

    # webhooks and Celery replies (cancelq/delivery)
    webhook_allow_private: bool = Field(
        False, description="allow webhook URLs on loopback, link-local or private addresses (tests, a private net)")
    webhook_retry_schedule_s: list[float] = Field(
        [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0],
        description="the waits between a failed webhook attempt and the next (about 3 days); then it is dropped")
    webhook_retry_jitter: float = Field(0.1, description="each retry wait is spread by up to this fraction")
    webhook_disable_after_s: float = Field(5 * 86400.0, description="an endpoint failing this long is disabled")
    webhook_timeout_s: float = Field(15.0, description="a webhook attempt's whole time (connect, send, answer)")
    webhook_body_limit_bytes: int = Field(65536, description="at most this much of a receiver's answer is read")
    webhook_concurrency: int = Field(32, description="webhook attempts in flight per worker")
    webhook_endpoint_concurrency: int = Field(8, description="of those, at most this many to any one endpoint")
    webhook_max_per_s: float = Field(
        100.0, ge=0, description="webhook attempts one worker starts per second at most (0: no cap), so that a "
        "backlog drains beside the cancels instead of taking their CPU")
    webhook_claim_s: float = Field(60.0, description="a delivery a dead worker claimed is sent again after this")
    webhook_poll_s: float = Field(0.5, description="how often an idle worker looks for due webhook deliveries")
    webhook_secret_grace_s: float = Field(86400.0, description="after a rotation the old secret also signs this long")
    webhook_log_size: int = Field(100, description="recent attempts kept per endpoint (`cancelq webhooks show`)")
    webhook_dispatch_claim_s: float = Field(30.0, description="events a dead worker read but did not dispatch are "
                                                               "taken over after this")

    # the HTTP API (cancelq/api)
    api_host: str = Field("127.0.0.1", description="address `cancelq api` binds (TLS is the reverse proxy's)")
    api_port: int = Field(8080, description="port `cancelq api` serves on")
    api_workers: int = Field(1, description="processes `cancelq api` runs on its port (one per core)")
    api_body_limit_bytes: int = Field(2 * 1024 * 1024, description="largest JSON request body (413 above)")
    api_upload_limit_bytes: int = Field(200 * 1024 * 1024, description="largest campaign file upload (413 above)")
    api_batch_max: int = Field(1000, description="most jobs in one POST /v1/cancellations/batch")
    api_key_rate_per_s: float = Field(200.0, description="requests per second each API key may make, fleet-wide")
    api_key_burst: int = Field(400, description="requests an API key may make at once above its rate")
    api_key_cache_s: float = Field(2.0, description="an API process trusts a key it checked for this long "
                                                     "(a revocation takes effect within it)")
    api_require_idempotency_key: bool = Field(False, description="POSTs that create jobs need an Idempotency-Key")
    api_idempotency_ttl_s: float = Field(86400.0, description="how long an Idempotency-Key's answer is kept")
    api_retry_after_s: int = Field(2, description="Retry-After of a 503 (Redis or the broker unreachable)")
    api_poll_after_s: int = Field(1, description="Retry-After on a job that is not final yet")
    push_public_url: str = Field("", description="the public base URL the platforms push to (https://host[/prefix], "
                                 "no trailing slash); Shopee signs {push_public_url}/pushes/shopee, so it must be "
                                 "exactly the callback URL registered with Shopee")
    push_success_window_s: int = Field(600, description="window of the pushes' success-rate gauge "
                                                        "(cancelq_push_success_ratio), whole minutes")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    # operators: metrics, health, flower
    metrics_port: int = Field(9808, description="each worker serves Prometheus metrics on this port (0: off)")
    metrics_host: str = Field("0.0.0.0", description="address the worker's metrics endpoint binds")  # noqa: S104
    metrics_state: bool = Field(True, description="the worker's endpoint also reports fleet state read from Redis")
    metrics_state_cache_s: float = Field(5.0, description="a worker reuses the fleet state it read for this long")
    health_max_dead_letters: int = Field(1000, description="`cancelq health` fails above this many (-1: never)")
    health_min_workers: int = Field(1, description="`cancelq health` fails with fewer live workers than this")
    health_timeout_s: float = Field(3.0, description="how long each `cancelq health` check may take")
    flower_port: int = Field(5555, description="port `cancelq flower` serves on")
    flower_address: str = Field("0.0.0.0", description="address Flower binds")  # noqa: S104
    flower_basic_auth: SecretStr | None = Field(None, description="user:password[,user2:password2] for Flower")
    flower_db: Path | None = Field(None, description="Flower's persistent state (default: data_dir/flower.db)")
    flower_max_tasks: int = Field(20_000, description="tasks Flower keeps in memory and in its state file")
    flower_state_save_interval_s: float = Field(60.0, description="how often Flower writes its state file")
    console_operators: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="who may act from the console in Flower (replay, purge, pause...): "
        "basic-auth users or OAuth emails, comma-separated; '*' is everyone signed in; everyone else reads only")
    console_read_only: bool = Field(False, description="the console's actions off for everyone (`--read-only`)")
    console_action_cap: int = Field(500, description="most dead letters one console action replays or purges "
                                                     "(the page offers to continue)")

    durable_replicas: int = Field(0, ge=0, description="replicas that must have a job's in-flight mark and its final "
                                  "write before the job goes on (Redis WAIT); 0: off, no command sent")
    durable_timeout_ms: int = Field(100, ge=0, description="how long a WAIT for durable_replicas waits; fewer "
                                    "replicas by then is logged (durable_wait_short) and counted, the job goes on")

    @model_validator(mode="after")
    def _broker_not_a_cluster(self) -> Settings:
        if is_cluster(self.broker_url or self.redis_url or ""):
            raise ValueError(CLUSTER_BROKER_REFUSED)
        if self.durable_replicas and is_cluster(self.redis_url or ""):
            raise ValueError("durable_replicas is not available with a Redis Cluster ledger: WAIT must follow the "
                             "write on its connection, which redis-py's cluster pipeline does not pin")
        return self

    @field_validator("console_operators", mode="before")
    @classmethod
    def _operators(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; ``SettingsError`` (one line, naming the setting) when one is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        raise _explained(exc) from None
