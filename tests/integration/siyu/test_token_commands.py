"""``siyu token``: tokens only for principals that exist; a list without secrets; revocation.

``siyu token issue`` used to accept unknown roles, staff that do not exist (a full manager
token for anyone) and malformed customer ids, and nothing but the tests could revoke.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from adapters.tokens import TokenHolder, resolve_token
from application.app import Siyu
from domain.ingestion import EventItem
from siyu import cli
from siyu.token_commands import TokenRefused, issue, listing, revoke
from tests.conftest import SECRET

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def hire(app: Siyu) -> UUID:
    return app.staff.hire("sales", "front_office", "王芳", "service:tests", AT)


def customer(app: Siyu) -> UUID:
    result = app.ingestion.record_batch([EventItem(
        event_id="t-1", type="TAGGED", identity=("mall_member", "m-1"), occurred_at=AT,
        tag="VIP")], "service:tests")
    found = result.outcomes[0].customer_id
    assert found is not None
    return found


@pytest.mark.parametrize(("kind", "subject", "role", "reason"), [
    ("staff", "not-a-uuid", "sales", "UUID"),
    ("staff", "0a6f0000-0000-4000-8000-00000000dead", "sales", "no staff member"),
    ("staff", "HIRED", "king", "--role must be one of"),
    ("staff", "HIRED", "private_domain_manager", "holds the role sales"),
    ("customer", "abc", None, "UUID"),
    ("customer", "0a6f0000-0000-4000-8000-00000000beef", None, "no customer"),
    ("customer", "CUSTOMER", "sales", "takes no --role"),
    ("customer", "HIRED", None, "no customer"),
    ("service", "", None, "a service is named"),
    ("service", "a b", None, "a service is named"),
    ("service", "ingest", "private_domain_manager", "takes no --role"),
])
def test_a_token_is_refused_for_a_principal_that_does_not_exist(
        pg_app: Siyu, pg_url: str, kind: str, subject: str, role: str | None,
        reason: str) -> None:
    subject = {"HIRED": str(hire(pg_app)), "CUSTOMER": str(customer(pg_app))}.get(
        subject, subject)
    with pytest.raises(TokenRefused, match=reason):
        issue(pg_url, SECRET, kind, subject, role)
    assert listing(pg_url) == []


def test_a_staff_member_who_left_gets_no_token_and_their_tokens_can_be_revoked_at_once(
        pg_app: Siyu, pg_url: str) -> None:
    # Given a staff member with two tokens, and a customer and a service with one each
    staff = hire(pg_app)
    first = issue(pg_url, SECRET, "staff", str(staff), "sales", "console")
    second = issue(pg_url, SECRET, "staff", str(staff), "sales", "phone")
    mine = issue(pg_url, SECRET, "customer", str(customer(pg_app)), None)
    ingest = issue(pg_url, SECRET, "service", "mall-import", None)
    assert resolve_token(pg_url, first) == TokenHolder("staff", str(staff), frozenset())
    # When they leave, no new token is issued, and revoking by subject ends both of theirs
    pg_app.staff.leave(staff, "service:tests", AT)
    with pytest.raises(TokenRefused, match="has left"):
        issue(pg_url, SECRET, "staff", str(staff), "sales")
    assert revoke(pg_url, subject=str(staff)) == 2
    assert resolve_token(pg_url, first) is None and resolve_token(pg_url, second) is None
    # And the others still work until revoked one by one
    assert resolve_token(pg_url, mine) is not None
    assert revoke(pg_url, token=ingest) == 1 and revoke(pg_url, token=ingest) == 0
    rows = listing(pg_url)
    assert [(r.kind, r.revoked_at is None) for r in rows] == [
        ("staff", False), ("staff", False), ("customer", True), ("service", False)]


def test_the_command_line_refuses_lists_without_secrets_and_revokes(
        pg_app: Siyu, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("SIYU_SECRET", SECRET.decode())
    monkeypatch.setenv("SIYU_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as refused:
        cli.main(["token", "issue", "--kind", "staff", "--subject", str(uuid4()),
                  "--role", "private_domain_manager"])
    assert refused.value.code == 2 and "no staff member" in capsys.readouterr().err
    staff = hire(pg_app)
    assert cli.main(["token", "issue", "--kind", "staff", "--subject", str(staff),
                     "--role", "sales", "--label", "console"]) == 0
    token = capsys.readouterr().out.strip()
    assert cli.main(["token", "list"]) == 0
    listed = capsys.readouterr().out
    assert str(staff) in listed and "console" in listed and token not in listed
    assert cli.main(["token", "revoke", token]) == 0
    assert "1 token(s) revoked" in capsys.readouterr().out
    assert cli.main(["token", "revoke", "--subject", str(staff)]) == 1


def test_audit_pii_is_granted_to_auditors_only_and_tokens_are_revoked_by_their_listed_id(
        pg_app: Siyu, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("SIYU_SECRET", SECRET.decode())
    monkeypatch.setenv("SIYU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIYU_TOKEN_TTL", "3600")
    sales = hire(pg_app)
    auditor = pg_app.staff.hire("auditor", "back_office", "审计员", "service:tests", AT)
    # A salesperson cannot be given the grant; an auditor can, and the list shows it
    with pytest.raises(TokenRefused, match="auditors"):
        issue(pg_url, SECRET, "staff", str(sales), None, grants=["audit:pii"])
    with pytest.raises(TokenRefused, match="--grant"):
        issue(pg_url, SECRET, "staff", str(auditor), None, grants=["root"])
    assert cli.main(["token", "issue", "--kind", "staff", "--subject", str(auditor),
                     "--grant", "audit:pii"]) == 0
    token = capsys.readouterr().out.strip()
    held = resolve_token(pg_url, token)
    assert held is not None and held.grants == {"audit:pii"}
    row = next(r for r in listing(pg_url) if r.subject_id == str(auditor))
    assert row.grants == ("audit:pii",) and row.role == "auditor" and row.expires_at is not None
    assert 3500 < (row.expires_at - row.created_at).total_seconds() <= 3600
    # And the id the list shows revokes it (a malformed or unknown id revokes nothing)
    assert revoke(pg_url, token_id="nothex") == 0
    assert cli.main(["token", "revoke", "--id", row.token_id]) == 0
    assert resolve_token(pg_url, token) is None
    assert cli.main(["token", "revoke", "--id", row.token_id]) == 1
