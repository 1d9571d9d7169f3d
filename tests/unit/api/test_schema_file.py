"""schema.graphql is the committed SDL of the live schema."""

from __future__ import annotations

from pathlib import Path

from api.schema import schema

SDL = Path(__file__).resolve().parents[3] / "schema.graphql"


def test_the_committed_schema_file_matches_the_live_schema() -> None:
    assert SDL.read_text().strip() == schema.as_str().strip(), (
        "schema.graphql is stale: run `python -m api.export_schema > schema.graphql`")
