"""`onshi serve`, `onshi fixtures …`, `onshi examples DIR`, `onshi demo`."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import click

from onshi import defaults
from server.settings import DEFAULT_DB, Settings


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or an interface address: reachable from elsewhere


def refuse_public_default_token(host: str, admin_token: str) -> None:
    """Serving beyond loopback with the admin token printed in the README (or an empty one) hands every
    card's private key to anyone on the network: refuse to start."""
    if is_loopback(host) or admin_token.strip() not in ("", defaults.ADMIN_TOKEN):
        return
    raise click.UsageError(
        f"--host {host} は外部から接続できますが、管理トークンが既定値（README に記載の公開値）のままです。"
        f" 環境変数 {defaults.ENV_ADMIN_TOKEN} に推測されない値を設定してから起動してください。\n"
        f"--host {host} is reachable from other machines, but the admin token is still the public default"
        f" printed in the README. Set {defaults.ENV_ADMIN_TOKEN} to a secret value, then start again."
    )


def _use_database(database_url: str | None, schema: str | None = None) -> None:
    if database_url:
        os.environ["ONSHI_DATABASE_URL"] = database_url
    if schema:
        os.environ["ONSHI_DATABASE_SCHEMA"] = schema


@click.command(help="中央システム（模擬）を起動 / run the mock central system (HTTP API, OpenAPI at /docs)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="server processes")
@click.option(
    "--database-url",
    envvar="ONSHI_DATABASE_URL",
    default=None,
    help=f"SQLAlchemy URL (default sqlite:///{DEFAULT_DB}); postgresql://… for PostgreSQL",
)
@click.option("--schema", envvar="ONSHI_DATABASE_SCHEMA", default=None, help="PostgreSQL schema to use")
@click.option("--load-fixtures", "fixture", default=None, help="load this fixture set first (e.g. personas)")
@click.option("--log-level", default="warning", show_default=True)
def serve(
    host: str,
    port: int,
    workers: int,
    database_url: str | None,
    schema: str | None,
    fixture: str | None,
    log_level: str,
) -> None:
    import uvicorn

    refuse_public_default_token(host, Settings().admin_token)
    _use_database(database_url, schema)
    DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
    if fixture:
        _load(fixture)
    uvicorn.run(
        "server.api.app:serve_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )


def _load(name: str) -> None:
    from server.fixtures import load_fixture, read_fixture
    from server.storage.database import create_tables, make_engine

    settings = Settings()
    engine = make_engine(settings.database_url, schema=settings.database_schema)
    create_tables(engine)
    report = load_fixture(engine, read_fixture(name))
    click.echo(
        f"loaded {report.personas} personas, {report.cards} cards, {report.events} events; "
        f"clock frozen at {report.clock:%Y-%m-%d %H:%M} JST"
    )


@click.group(help="フィクスチャ（模擬データ）/ fixture sets")
def fixtures() -> None:
    pass


@fixtures.command(
    "load", help="フィクスチャを読み込む（登録簿を置き換え）/ replace the registry with a fixture set"
)
@click.argument("name", default="personas")
@click.option("--database-url", envvar="ONSHI_DATABASE_URL", default=None)
@click.option("--schema", envvar="ONSHI_DATABASE_SCHEMA", default=None)
def fixtures_load(name: str, database_url: str | None, schema: str | None) -> None:
    _use_database(database_url, schema)
    DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
    _load(name)


@fixtures.command("generate", help="大規模な合成人口を生成 / generate a large synthetic population")
@click.argument("persons", type=int)
@click.option("--database-url", envvar="ONSHI_DATABASE_URL", default=None)
@click.option("--schema", envvar="ONSHI_DATABASE_SCHEMA", default=None)
@click.option("--seed", default=1, show_default=True, type=int)
@click.option(
    "--cards", default=1000, show_default=True, type=int, help="how many get a card (key pairs are slow)"
)
def fixtures_generate(
    persons: int, database_url: str | None, schema: str | None, seed: int, cards: int
) -> None:
    from server.population import generate_population
    from server.storage.database import create_tables, make_engine

    _use_database(database_url, schema)
    settings = Settings()
    engine = make_engine(settings.database_url, schema=settings.database_schema)
    create_tables(engine)
    report = generate_population(engine, persons, seed=seed, cards=cards, progress=click.echo)
    click.echo(f"generated {report['persons']} persons ({report['cards']} with cards)")


@click.command(help="全ペルソナ・全障害の要求と応答の例を書き出す / write example requests and answers")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def examples(directory: Path) -> None:
    from server.examples import write_examples

    written = write_examples(directory)
    click.echo(f"wrote {written} files to {directory}")


@click.command(help="模擬環境一式を起動（中央システム・カードリーダー・受付画面）/ run the whole demo")
@click.option("--port", default=8000, show_default=True, type=int, help="server port (reader +1, console +2)")
@click.option("--database-url", envvar="ONSHI_DATABASE_URL", default=None)
@click.option("--no-browser-hint", is_flag=True, default=False)
def demo(port: int, database_url: str | None, no_browser_hint: bool) -> None:
    from server.demo import run_demo

    run_demo(port=port, database_url=database_url, quiet=no_browser_hint)
