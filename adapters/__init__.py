"""Adapters: the platform's side of storage and of the outside services it calls.

They implement what the domain and the workers ask for and import only the domain (its
ports and errors), the standard library and third-party libraries — never the API, the
workers, the projections or the wiring in :mod:`siyu`.

Storage: :mod:`adapters.recorders` (the PostgreSQL event-store recorder that also writes
the ingestion side tables), :mod:`adapters.memory_recorder` (its in-memory twin for
unit tests), :mod:`adapters.vault` (personal-data crypto and the blind-index
key), :mod:`adapters.tokens` (API tokens), :mod:`adapters.embedded_postgres` (a
PostgreSQL for a fresh machine).

Outbound clients: :mod:`adapters.wecom_client` (WeCom welcome and staff messages, the
token session), :mod:`adapters.campaign_gateway` (the interface campaigns send through),
:mod:`adapters.campaign_client` (WeCom mass send, and the direct channels below),
:mod:`adapters.miniprogram_client` (WeChat mini-program subscribe messages),
:mod:`adapters.sms_client` (Tencent Cloud SMS), :mod:`adapters.campaign_replies` (how
their answers are classified and remembered), :mod:`adapters.http_keepalive` (the lean
keep-alive HTTP client of the hot path).
"""
