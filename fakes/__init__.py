"""Local fakes of the outside services, for the tests, the benchmarks and the demo.

:mod:`fakes.wecom` serves one loopback HTTP server (starlette + uvicorn) with WeCom's
welcome and application-message APIs, and mounts :mod:`fakes.campaigns` (WeCom mass
send, WeChat subscribe messages) and :mod:`fakes.sms` (Tencent Cloud SMS ``SendSms``).
Each has a control API under ``/fake/…`` for tests.

Only the tests, the benchmarks and the wiring (:mod:`siyu.gateways`) import this package.
"""
