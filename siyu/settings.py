"""The one place that reads the environment. Everything else receives a :class:`Settings`.

| variable | default | meaning |
|---|---|---|
| ``DATABASE_URL`` | unset: embedded PostgreSQL under ``SIYU_DATA_DIR/pgdata`` | PostgreSQL to use |
| ``BROKER_URL`` | the same PostgreSQL | ``amqp://`` → RabbitMQ, ``redis://`` → Redis |
| ``SIYU_DATA_DIR`` | ``./.siyu`` | embedded database, generated secret, demo tokens |
| ``SIYU_PG_PORT`` | ``5433`` | embedded PostgreSQL: TCP port on 127.0.0.1 for BI roles (docs/bi.md) |
| ``SIYU_SECRET`` | generated once into ``SIYU_DATA_DIR/secret.key`` | derives vault and blind-index keys |
| ``SIYU_HOST`` / ``SIYU_PORT`` | ``127.0.0.1`` / ``8000`` | where the GraphQL server listens |
| ``WECOM_API_BASE`` | the local fake gateway started by the main job | outbound message API |
| ``WECOM_CORP_ID`` / ``WECOM_CORP_SECRET`` | the fake gateway's | credentials for the outbound API |
| ``WECOM_TOKEN``, ``WECOM_ENCODING_AES_KEY`` | unset: callbacks answer 404 | callback token and AES key |
| ``SIYU_FAKE_GATEWAY_PORT`` | ``8001`` | port of the local fake WeCom gateway |
| ``MINIPROGRAM_APP_ID`` / ``_SECRET`` | the fake's (none if ``WECOM_API_BASE`` set) | subscribe messages |
| ``MINIPROGRAM_API_BASE`` | ``https://api.weixin.qq.com`` | WeChat API for subscribe messages |
| ``SMS_API_BASE`` | the fake's ``/sms`` (main job) | Tencent SMS: ``https://sms.tencentcloudapi.com`` |
| ``SMS_SECRET_ID`` / ``_SECRET_KEY`` | the fake's; needed with ``SMS_API_BASE`` | TC3 request signing |
| ``SMS_SDK_APP_ID`` / ``SMS_SIGN_NAME`` | the fake's; needed with ``SMS_API_BASE`` | app and signature |
| ``SMS_REGION`` | ``ap-guangzhou`` | ``X-TC-Region`` of SMS requests |
| ``SIYU_FAKE_AUTO_CONFIRM_SECONDS`` | (empty) | the fake confirms mass-send tasks itself (empty: never) |
| ``SIYU_TICK_MINUTES`` | ``60`` | clock slot: time-window segments are re-evaluated once per slot |
| ``SIYU_CHAT_TIMEOUT_MINUTES`` | ``30`` | a customer message unanswered this long alerts the staff member |
| ``SIYU_CHAT_ESCALATION_MINUTES`` | ``120`` | … this long escalates to the department's managers |
| ``SIYU_REPORT_HOUR`` | ``8`` | hour (Asia/Shanghai) after which yesterday's daily reports are built |
| ``SIYU_GROUP_SYNC_MINUTES`` | ``10`` | minutes between two listings of WeCom's customer-group directory |
| ``SIYU_CAMPAIGN_RATES`` | unset: no limit | sends/s per channel for every worker: ``mini_program=200`` |
| ``SIYU_TOKEN_TTL`` | ``7776000`` (90 days) | seconds a new API token stays valid (0: for ever) |
| ``SIYU_LOG_FORMAT`` | ``json`` | ``json`` (one object per line) or ``text`` |
| ``SIYU_METRICS_HOST`` | ``127.0.0.1`` | where the worker and projections serve ``/metrics`` |
| ``SIYU_WORKER_METRICS_PORT`` | ``9101`` | the worker's ``/metrics`` port (empty: none) |
| ``SIYU_PROJECTIONS_METRICS_PORT`` | ``9102`` | the projections' ``/metrics`` port (empty: none) |
| ``SIYU_READY_MAX_LAG`` | ``10000`` | ``/readyz`` fails while a read model is more events behind |
| ``SIYU_CUSTOMER_TOKEN_MINUTES`` | ``120`` | lifetime of a customer token from ``loginWithWeChat`` |
| ``SIYU_DEBUG`` | unset | unmask unexpected GraphQL errors (refused with ``SIYU_ENV=production``) |
| ``SIYU_ENV`` | ``development`` | ``production``: no introspection, suggestions or GraphiQL |
| ``SIYU_QUERY_COST_BUDGETS`` | see ``api.limits`` | values per operation, by principal kind |
| ``SIYU_RATE_LIMITS`` | see ``api.limits`` | requests per minute per principal, by kind |
| ``SIYU_RATE_LIMIT_SHARED`` | ``1`` | ``0``: each API process keeps its own buckets |
| ``SIYU_TRUSTED_PROXIES`` | unset | addresses/networks whose ``X-Forwarded-For`` is read |
| ``SIYU_MAX_BODY_BYTES`` | ``8388608`` | request body limit, any content type |
| ``SIYU_PERSISTED_QUERIES`` | unset | the persisted-query manifest (JSON) the front ends registered |
| ``SIYU_REQUIRE_PERSISTED_QUERIES`` | unset | only persisted operations run (needs the manifest) |
| ``SIYU_WECOM_TAG_IDS`` | unset: none | tag → WeCom tag id, ``VIP=etAbc``: overrides the synced map |
| ``SIYU_POOLS`` | see :data:`DEFAULT_POOLS` | PostgreSQL connections per pool, e.g. ``api=6,api_reads=6`` |
| ``SIYU_FUNNEL_KEPT_CUSTOMERS`` | ``200000`` | funnel merge trees kept in memory (docs/operations.md) |

A malformed value stops the process with :class:`SettingsError`, naming the variable.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from ipaddress import ip_network
from pathlib import Path
from typing import Any

#: The campaign channels a rate may be set for (``domain.restraint.CHANNELS``).
CAMPAIGN_CHANNELS = ("mini_program", "sms", "wecom_mass")


#: Most connections of each pool (docs/operations.md, *Connections*): the main job holds
#: api + api_reads + 1 (LISTEN), twice projections + 1 (leases: the default split runs two
#: projection processes), worker + worker_outbox + worker_campaigns + broker + 1 (leases)
#: — 7 + 6 + 11 = 24 — plus a few short-lived ones.
DEFAULT_POOLS: Mapping[str, int] = {
    "api": 3, "api_reads": 3, "projections": 2, "worker": 2, "worker_outbox": 2,
    "worker_campaigns": 2, "broker": 4}


class SettingsError(ValueError):
    """An environment variable holds a value the platform cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    broker_url: str | None
    data_dir: Path
    secret: bytes
    host: str = "127.0.0.1"
    port: int = 8000
    wecom_api_base: str | None = None
    wecom_corp_id: str | None = None
    wecom_corp_secret: str | None = None
    wecom_token: str | None = None
    wecom_encoding_aes_key: str | None = None
    fake_gateway_port: int = 8001
    pg_port: int = 5433
    miniprogram_app_id: str | None = None
    miniprogram_app_secret: str | None = None
    miniprogram_api_base: str = "https://api.weixin.qq.com"
    fake_auto_confirm_seconds: float | None = None
    sms_api_base: str | None = None
    sms_secret_id: str | None = None
    sms_secret_key: str | None = None
    sms_sdk_app_id: str | None = None
    sms_sign_name: str | None = None
    sms_region: str = "ap-guangzhou"
    debug: bool = False
    token_ttl_seconds: int = 90 * 24 * 3600
    tick_minutes: int = 60
    chat_timeout_minutes: int = 30
    chat_escalation_minutes: int = 120
    report_hour: int = 8
    #: Lifetime of the customer token ``loginWithWeChat`` gives (docs/customers.md).
    customer_token_minutes: int = 120
    #: Minutes between two listings of the WeCom customer-group directory (the worker).
    group_sync_minutes: int = 10
    #: Sends per second per campaign channel (absent: unlimited); for ``wecom_mass`` a
    #: send is one task creation (one sender's part of a chunk), not one customer.
    campaign_rates: Mapping[str, float] = field(default_factory=dict)
    log_format: str = "json"
    metrics_host: str = "127.0.0.1"
    worker_metrics_port: int | None = 9101
    projections_metrics_port: int | None = 9102
    ready_max_lag: int = 10_000
    #: ``SIYU_ENV=production``: introspection, suggestions and GraphiQL off.
    production: bool = False
    #: By principal kind (``default``, ``staff``, ``customer``, ``service``); absent kinds
    #: keep the API's defaults (:mod:`api.limits`).
    query_cost_budgets: Mapping[str, int] = field(default_factory=dict)
    rate_limits: Mapping[str, int] = field(default_factory=dict)
    #: ``SIYU_RATE_LIMIT_SHARED=0``: each API process keeps its own buckets (one process,
    #: or a proxy limiting in front); default: one budget shared through PostgreSQL.
    rate_limit_shared: bool = True
    #: ``SIYU_TRUSTED_PROXIES``: addresses or networks whose X-Forwarded-For is believed.
    trusted_proxies: tuple[str, ...] = ()
    max_body_bytes: int = 8 * 1024 * 1024
    persisted_queries: Path | None = None
    require_persisted_queries: bool = False
    #: ``SIYU_WECOM_TAG_IDS``: an explicit WeCom tag id (企业客户标签 id) for platform tags,
    #: winning over the synced library (``wecom_tag_map``, docs/tags.md).
    wecom_tag_ids: Mapping[str, str] = field(default_factory=dict)
    #: Most connections per pool (:data:`DEFAULT_POOLS`).
    pools: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_POOLS))
    #: Customers whose funnel merge trees the projections keep between pages (~2 kB each).
    funnel_kept_customers: int = 200_000

    def with_database(self, url: str) -> Settings:
        return replace(self, database_url=url)


def load_secret(data_dir: Path, env: Mapping[str, str]) -> bytes:
    given = env.get("SIYU_SECRET")
    if given:
        return given.encode()
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    path.write_bytes(value)
    path.chmod(0o600)
    return value


def _optional_float(value: str) -> float | None:
    return float(value) if value.strip() else None


def parse_campaign_rates(value: str, variable: str = "SIYU_CAMPAIGN_RATES"
                         ) -> dict[str, float]:
    """``"mini_program=200,wecom_mass=5"`` → ``{"mini_program": 200.0, "wecom_mass": 5.0}``.

    Each channel once, a known channel, a positive finite number of sends per second;
    empty means no limit.
    """
    rates: dict[str, float] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        channel, sep, number = (x.strip() for x in part.partition("="))
        if not sep or not channel or not number:
            raise SettingsError(f"{variable}: {part!r} is not CHANNEL=SENDS_PER_SECOND "
                                "(e.g. mini_program=200,wecom_mass=5)")
        if channel not in CAMPAIGN_CHANNELS:
            raise SettingsError(f"{variable}: unknown channel {channel!r}; expected one of "
                                f"{', '.join(CAMPAIGN_CHANNELS)}")
        if channel in rates:
            raise SettingsError(f"{variable}: channel {channel!r} is given twice")
        try:
            rate = float(number)
        except ValueError:
            raise SettingsError(f"{variable}: the rate of {channel!r} is not a number: "
                                f"{number!r}") from None
        if not math.isfinite(rate) or rate <= 0:
            raise SettingsError(f"{variable}: the rate of {channel!r} must be a positive "
                                f"number of sends per second, not {number!r}")
        rates[channel] = rate
    return rates


#: Who a budget or a rate may be given to: a principal kind, or ``default`` for the others.
PRINCIPAL_KEYS = ("default", "staff", "customer", "service", "anonymous")
ENVIRONMENTS = ("development", "production")


def parse_kind_numbers(value: str, variable: str) -> dict[str, int]:
    """``"default=50000,customer=5000"`` → ``{"default": 50000, "customer": 5000}``: each
    principal kind once, a whole number ≥ 0."""
    numbers: dict[str, int] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        kind, sep, number = (x.strip() for x in part.partition("="))
        if not sep or kind not in PRINCIPAL_KEYS:
            raise SettingsError(f"{variable}: {part!r} is not KIND=NUMBER with KIND one of "
                                f"{', '.join(PRINCIPAL_KEYS)}")
        if kind in numbers:
            raise SettingsError(f"{variable}: {kind!r} is given twice")
        if not number.isdigit():
            raise SettingsError(f"{variable}: the number of {kind!r} must be a whole number "
                                f"≥ 0, not {number!r}")
        numbers[kind] = int(number)
    return numbers


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "") not in ("", "0", "false")


def _api_hardening(env: Mapping[str, str]) -> dict[str, Any]:
    environment = env.get("SIYU_ENV", "development") or "development"
    if environment not in ENVIRONMENTS:
        raise SettingsError(f"SIYU_ENV: {environment!r} is not one of {', '.join(ENVIRONMENTS)}")
    production = environment == "production"
    if production and _flag(env, "SIYU_DEBUG"):
        raise SettingsError("SIYU_DEBUG shows internal errors: not with SIYU_ENV=production")
    manifest = env.get("SIYU_PERSISTED_QUERIES") or None
    require = _flag(env, "SIYU_REQUIRE_PERSISTED_QUERIES")
    if require and manifest is None:
        raise SettingsError("SIYU_REQUIRE_PERSISTED_QUERIES needs SIYU_PERSISTED_QUERIES")
    max_body = env.get("SIYU_MAX_BODY_BYTES", str(8 * 1024 * 1024)).strip()
    if not max_body.isdigit() or int(max_body) < 1024:
        raise SettingsError(f"SIYU_MAX_BODY_BYTES: {max_body!r} is not a number of bytes "
                            "≥ 1024")
    return {
        "production": production,
        "query_cost_budgets": parse_kind_numbers(env.get("SIYU_QUERY_COST_BUDGETS", ""),
                                                 "SIYU_QUERY_COST_BUDGETS"),
        "rate_limits": parse_kind_numbers(env.get("SIYU_RATE_LIMITS", ""), "SIYU_RATE_LIMITS"),
        "rate_limit_shared": env.get("SIYU_RATE_LIMIT_SHARED", "1") not in ("0", "false", "no"),
        "trusted_proxies": _networks(env.get("SIYU_TRUSTED_PROXIES", "")),
        "max_body_bytes": int(max_body),
        "persisted_queries": None if manifest is None else Path(manifest).resolve(),
        "require_persisted_queries": require,
        "wecom_tag_ids": parse_tag_ids(env.get("SIYU_WECOM_TAG_IDS", "")),
    }


def parse_tag_ids(value: str) -> dict[str, str]:
    """``"VIP=etAbc,金卡=etDef"`` → ``{"VIP": "etAbc", "金卡": "etDef"}``."""
    found: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",") if p.strip()):
        tag, sep, tag_id = (x.strip() for x in part.partition("="))
        if not sep or not tag or not tag_id or tag in found:
            raise SettingsError(f"SIYU_WECOM_TAG_IDS: {part!r} is not TAG=WECOM_TAG_ID "
                                "(each tag once)")
        found[tag] = tag_id
    return found


def _networks(value: str) -> tuple[str, ...]:
    found = tuple(v.strip() for v in value.split(",") if v.strip())
    for entry in found:
        try:
            ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(f"SIYU_TRUSTED_PROXIES: {entry!r} is not an address or "
                                "network") from None
    return found


def _whole(env: Mapping[str, str], name: str, default: int, *, least: int = 0,
           most: int | None = None) -> int:
    """A whole-number setting; a malformed or out-of-range value names the variable."""
    raw = env.get(name, str(default)).strip()
    if not raw.isdigit() or int(raw) < least or (most is not None and int(raw) > most):
        bound = f"{least}-{most}" if most is not None else f"at least {least}"
        raise SettingsError(f"{name}: {raw!r} is not a whole number ({bound})")
    return int(raw)


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("SIYU_DATA_DIR", ".siyu")).resolve()
    return Settings(
        database_url=env.get("DATABASE_URL") or None,
        broker_url=env.get("BROKER_URL") or None,
        data_dir=data_dir,
        secret=load_secret(data_dir, env),
        host=env.get("SIYU_HOST", "127.0.0.1"),
        port=_whole(env, "SIYU_PORT", 8000, least=1, most=65535),
        wecom_api_base=env.get("WECOM_API_BASE") or None,
        wecom_corp_id=env.get("WECOM_CORP_ID") or None,
        wecom_corp_secret=env.get("WECOM_CORP_SECRET") or None,
        wecom_token=env.get("WECOM_TOKEN") or None,
        wecom_encoding_aes_key=env.get("WECOM_ENCODING_AES_KEY") or None,
        fake_gateway_port=_whole(env, "SIYU_FAKE_GATEWAY_PORT", 8001, least=1, most=65535),
        pg_port=_whole(env, "SIYU_PG_PORT", 5433, least=1, most=65535),
        miniprogram_app_id=env.get("MINIPROGRAM_APP_ID") or None,
        miniprogram_app_secret=env.get("MINIPROGRAM_APP_SECRET") or None,
        miniprogram_api_base=env.get("MINIPROGRAM_API_BASE") or "https://api.weixin.qq.com",
        fake_auto_confirm_seconds=_optional_float(env.get("SIYU_FAKE_AUTO_CONFIRM_SECONDS", "")),
        **_sms(env),
        debug=env.get("SIYU_DEBUG", "") not in ("", "0", "false"),
        token_ttl_seconds=_token_ttl(env.get("SIYU_TOKEN_TTL", str(90 * 24 * 3600))),
        tick_minutes=_whole(env, "SIYU_TICK_MINUTES", 60, least=1),
        chat_timeout_minutes=_whole(env, "SIYU_CHAT_TIMEOUT_MINUTES", 30, least=1),
        chat_escalation_minutes=_whole(env, "SIYU_CHAT_ESCALATION_MINUTES", 120, least=1),
        report_hour=_whole(env, "SIYU_REPORT_HOUR", 8, most=23),
        customer_token_minutes=_whole(env, "SIYU_CUSTOMER_TOKEN_MINUTES", 120, least=1),
        group_sync_minutes=_whole(env, "SIYU_GROUP_SYNC_MINUTES", 10, least=1),
        campaign_rates=parse_campaign_rates(env.get("SIYU_CAMPAIGN_RATES", "")),
        **_observability(env),
        **_api_hardening(env),
        pools=parse_pools(env.get("SIYU_POOLS", "")),
        funnel_kept_customers=_whole(env, "SIYU_FUNNEL_KEPT_CUSTOMERS", 200_000),
    )


def _port(env: Mapping[str, str], name: str, default: int) -> int | None:
    value = env.get(name, str(default)).strip()
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError(f"{name}: {value!r} is not a port (1-65535; empty: none)")
    return int(value)


def _observability(env: Mapping[str, str]) -> dict[str, Any]:
    """Log format, metrics endpoints of the worker and projections, readiness bound."""
    log_format = env.get("SIYU_LOG_FORMAT", "json").strip().lower() or "json"
    if log_format not in ("json", "text"):
        raise SettingsError(f"SIYU_LOG_FORMAT: {log_format!r}; expected json or text")
    lag = env.get("SIYU_READY_MAX_LAG", "10000").strip()
    if not lag.isdigit():
        raise SettingsError(f"SIYU_READY_MAX_LAG: {lag!r} is not a number of events")
    return {"log_format": log_format,
            "metrics_host": env.get("SIYU_METRICS_HOST") or "127.0.0.1",
            "worker_metrics_port": _port(env, "SIYU_WORKER_METRICS_PORT", 9101),
            "projections_metrics_port": _port(env, "SIYU_PROJECTIONS_METRICS_PORT", 9102),
            "ready_max_lag": int(lag)}


def parse_pools(value: str) -> dict[str, int]:
    """``"api=6,worker=3"`` over :data:`DEFAULT_POOLS`; a known pool, at least 1
    connection (the broker's at least 4: two consumers, the LISTEN, one enqueue)."""
    pools = dict(DEFAULT_POOLS)
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, size = item.partition("=")
        name = name.strip()
        if name not in DEFAULT_POOLS:
            raise SettingsError(f"SIYU_POOLS: unknown pool {name!r}; known: "
                                f"{', '.join(DEFAULT_POOLS)}")
        if not size.strip().isdigit() or int(size) < (4 if name == "broker" else 1):
            raise SettingsError(f"SIYU_POOLS: {item!r} is not a number of connections "
                                f"(at least {4 if name == 'broker' else 1})")
        pools[name] = int(size)
    return pools


def _token_ttl(raw: str) -> int:
    try:
        ttl = int(raw)
    except ValueError:
        raise SettingsError(f"SIYU_TOKEN_TTL: a number of seconds, not {raw!r}") from None
    if ttl < 0:
        raise SettingsError("SIYU_TOKEN_TTL: 0 (no expiry) or a positive number of seconds")
    return ttl


SMS_VARIABLES = ("SMS_SECRET_ID", "SMS_SECRET_KEY", "SMS_SDK_APP_ID", "SMS_SIGN_NAME")


def _sms(env: Mapping[str, str]) -> dict[str, Any]:
    """The SMS provider's settings: all four credentials once ``SMS_API_BASE`` is set."""
    base = env.get("SMS_API_BASE") or None
    values = {name: env.get(name) or None for name in SMS_VARIABLES}
    if base is not None:
        missing = [name for name, value in values.items() if value is None]
        if missing:
            raise SettingsError(f"{missing[0]} is required with SMS_API_BASE")
    return {"sms_api_base": base, "sms_region": env.get("SMS_REGION") or "ap-guangzhou",
            **{name.lower(): value for name, value in values.items()}}
