"""Reading read-model JSON fast, and exactly as the standard library reads it.

The projections read back the ``jsonb`` columns of every row a page touches (a profile's
identities, relations, orders…); psycopg decodes them with :func:`json.loads`, a fifth
of the customer profile's Python time. :func:`loads` uses orjson (several times faster)
where it gives the standard library's answer, and :func:`json.loads` where it may not:
orjson turns integers past 64 bits into floats, and refuses lone surrogates and numbers
out of a double's range.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from psycopg.abc import AdaptContext
from psycopg.types.json import set_json_loads

#: 20 digits in a row: an integer orjson may not hold exactly (2**64 has 20 digits).
_LONG_NUMBER = re.compile(rb"\d{20}")


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if _LONG_NUMBER.search(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def use_fast_loads(context: AdaptContext) -> None:
    """Decode ``json``/``jsonb`` with :func:`loads` on this connection or cursor."""
    set_json_loads(loads, context)
