"""``siyu export NAME``: a documented read model (docs/bi.md) to CSV or Parquet, with progress.

CSV (UTF-8, a header line): null is an empty field; times are ISO 8601 in UTC; booleans
``true``/``false``; arrays and JSON documents are JSON text. Parquet keeps the types:
integers, doubles (``numeric`` columns: exact in the database, a double here), booleans,
dates, UTC timestamps, lists of text or integers; JSON documents and other types are text.
Parquet needs ``pyarrow`` (``pip install 'siyu[parquet]'``: about 170 MB, so it is optional).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

import psycopg

from projections import bi_export
from projections.bi_export import Column, NotExportable
from siyu.mall_import import Progress

FORMATS = ("csv", "parquet")


def _json_default(value: Any) -> Any:
    if isinstance(value, (UUID, Decimal, datetime, date)):
        return value.isoformat() if isinstance(value, (datetime, date)) else str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def csv_text(value: Any) -> str:
    """One CSV field, as documented in the module."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    return str(value)


def _write_csv(path: Path, cols: list[Column], rows: Iterable[list[tuple[Any, ...]]],
               done: Callable[[int], None]) -> int:
    n = 0
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow([c.name for c in cols])
        for batch in rows:
            writer.writerows([csv_text(v) for v in row] for row in batch)
            n += len(batch)
            done(n)
    return n


_INTEGERS = {"int2": "int32", "int4": "int32", "int8": "int64"}
_TEXTS = {"text", "varchar", "bpchar", "name", "uuid", "citext"}
_TYPED = {"bool", "float4", "float8", "numeric", "date", "timestamptz", "timestamp",
          *_INTEGERS, *_TEXTS}


def _scalar(type_name: str) -> Any:
    import pyarrow as pa

    if type_name in _INTEGERS:
        return getattr(pa, _INTEGERS[type_name])()
    if type_name in _TEXTS:
        return pa.string()
    return {"bool": pa.bool_(), "float4": pa.float64(), "float8": pa.float64(),
            "numeric": pa.float64(), "date": pa.date32(),
            "timestamptz": pa.timestamp("us", tz="UTC"),
            "timestamp": pa.timestamp("us")}.get(type_name, pa.string())


def arrow_type(col: Column) -> Any:
    """The Parquet type of a column: its own, a list of its elements', or JSON text."""
    import pyarrow as pa

    if col.element is None:
        return _scalar(col.type)
    return pa.list_(_scalar(col.element)) if col.element in _TYPED else pa.string()


def _scalar_value(type_name: str, value: Any) -> Any:
    if value is None or type_name not in _TYPED:
        return None if value is None else (
            json.dumps(value, ensure_ascii=False, default=_json_default)
            if isinstance(value, (list, dict)) else str(value))
    if type_name == "numeric":
        return float(value)
    return str(value) if type_name in _TEXTS else value


def arrow_value(col: Column, value: Any) -> Any:
    """``value`` as :func:`arrow_type` holds it."""
    if value is None:
        return None
    if col.element is None:
        return _scalar_value(col.type, value)
    if col.element in _TYPED:
        return [_scalar_value(col.element, v) for v in value]
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _write_parquet(path: Path, cols: list[Column], rows: Iterable[list[tuple[Any, ...]]],
                   done: Callable[[int], None]) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise NotExportable("Parquet needs pyarrow: pip install 'siyu[parquet]'") from None
    schema = pa.schema([pa.field(c.name, arrow_type(c)) for c in cols])
    n = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in rows:
            arrays = [pa.array([arrow_value(c, r[i]) for r in batch], type=schema.field(i).type)
                      for i, c in enumerate(cols)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            n += len(batch)
            done(n)
    return n


def export(database_url: str, name: str, fmt: str, path: Path, *,
           err: TextIO = sys.stderr, batch: int = 5000) -> int:
    """Write read model ``name`` to ``path`` as ``fmt``; returns the rows written."""
    if fmt not in FORMATS:
        raise NotExportable(f"format must be one of {FORMATS}")
    with psycopg.connect(database_url, autocommit=True) as conn:
        cols = bi_export.columns(conn, name)
        bar = Progress(bi_export.count(conn, name), err, unit="rows")
        write = _write_csv if fmt == "csv" else _write_parquet
        n = write(path, cols, bi_export.batches(conn, name, batch), bar.update)
        bar.finish(n)
    return n


def command(database_url: str, name: str, fmt: str | None, output: Path | None,
            out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The CLI: exit 0 when written, 2 for an unknown read model or format."""
    chosen = fmt or (output.suffix.lstrip(".") if output and output.suffix else "csv")
    path = output or Path(f"{name}.{chosen}")
    try:
        n = export(database_url, name, chosen, path, err=err)
    except NotExportable as error:
        print(f"siyu export: {error}", file=err)
        return 2
    print(f"{name}: {n} rows to {path}", file=out)
    return 0
