"""Local fakes of the outside services, for the tests, the benchmarks and the demo.

:mod:`fakes.wecom` serves one loopback HTTP server (starlette + uvicorn) with WeCom's
welcome and application-message APIs, and mounts the campaign APIs (WeCom mass send,
WeChat subscribe messages: state in :mod:`fakes.campaigns`, records in
:mod:`fakes.campaign_records`, routes in :mod:`fakes.campaign_routes`) and :mod:`fakes.sms`
(Tencent Cloud SMS ``SendSms``). :mod:`fakes.rate_limits` holds their token buckets. Each
has a control API under ``/fake/…`` for tests.

Only the tests, the benchmarks and the wiring (:mod:`siyu.gateways`) import this package.
"""
