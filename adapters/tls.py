"""One TLS client context per process, shared by the gateways' HTTP clients.

An ``httpx.Client`` built without ``verify`` builds a context of its own, loading
certifi's bundle: ~35 ms of CPU a client on these machines. The API built one at every
start for its mini-program login client — whether or not it ever speaks TLS — and the
worker one per gateway client; the test suite, which starts the API's lifespan for every
API test, spent a fifth of its Python outside the database waiting on them. A configured
``ssl.SSLContext`` may be shared by any number of clients and threads, and httpx takes
one as ``verify``; built on first use, with the same settings httpx would use
(``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured, else certifi).
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def client_context() -> ssl.SSLContext:
    """The process's context for verifying the servers the gateways call."""
    return httpx.create_ssl_context()
