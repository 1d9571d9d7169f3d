"""CSV exports for BI and operators: ``GET /exports/segments/{id}/members.csv``.

Bearer token of a company manager, an operator or an auditor (others: 403, see
docs/access.md). One line per current
member with the segment's and the profile's BI columns — never personal data (no
nickname, phone or WeChat id). Streamed from a server-side cursor, so a large
segment is not held in memory. Times are ISO 8601 UTC, money in fen, lists ``;``-joined.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api.auth import Principal
from api.context import Services
from api.errors import BAD_INPUT, FORBIDDEN, NOT_FOUND
from api.policy import EXPORTERS
from projections.segments.queries import EXPORT_COLUMNS, SegmentReads


def _error(status: int, code: str, message: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return str(value)


def segment_members_csv(services: Callable[[], Services]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        principal: Principal | None = request.scope.get("state", {}).get("principal")
        if principal is None or principal.access not in EXPORTERS:
            return _error(403, FORBIDDEN, "exports are for company managers and operators")
        try:
            segment_id = UUID(request.path_params["segment_id"])
        except ValueError:
            return _error(400, BAD_INPUT, "not a segment id")
        reads = SegmentReads(services().read_models.pool)
        if await reads.segment(segment_id) is None:
            return _error(404, NOT_FOUND, "no such segment")

        async def lines() -> AsyncIterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(EXPORT_COLUMNS)
            count = 0
            async for row in reads.export(segment_id):
                writer.writerow([_cell(row[c]) for c in EXPORT_COLUMNS])
                count += 1
                if count % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="segment-{segment_id}.csv"'})

    return endpoint
