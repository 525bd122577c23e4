"""`onshi demo`: the server, the reader emulator and the reception console, ready to click through."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import FrameType

import click

from onshi import defaults
from onshi.procs import ROOT, start_onshi, stop, wait_http

DEMO_DIR = ROOT / "var" / "demo"


def run_demo(*, port: int = 8000, database_url: str | None = None, quiet: bool = False) -> None:
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    # Owner-only: the database (keys), the reader's cards and the logs of a trainer's session.
    DEMO_DIR.chmod(0o700)
    server_url = f"http://127.0.0.1:{port}"
    reader_url = f"http://127.0.0.1:{port + 1}"
    console_url = f"http://127.0.0.1:{port + 2}"
    env = {
        "ONSHI_DATABASE_URL": database_url or f"sqlite:///{DEMO_DIR / 'onshi.db'}",
        "ONSHI_ADMIN_TOKEN": os.environ.get("ONSHI_ADMIN_TOKEN", defaults.ADMIN_TOKEN),
        "ONSHI_SERVER_URL": server_url,
        "ONSHI_CLINIC_CODE": defaults.CLINIC_CODE,
        "ONSHI_CLINIC_TOKEN": defaults.CLINIC_TOKEN,
    }
    logs = DEMO_DIR / "logs"
    logs.mkdir(exist_ok=True)
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def shutdown(*_: object) -> None:
        for _name, process in reversed(processes):
            stop(process)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        click.echo("中央システム（模擬）を起動しています… / starting the mock central system…")
        server = start_onshi(
            ["serve", "--port", str(port), "--load-fixtures", "personas"], env=env, log=logs / "server.log"
        )
        processes.append(("server", server))
        wait_http(f"{server_url}/api/v1/health", timeout=120, process=server)

        click.echo("カードリーダー（エミュレータ）を起動しています… / starting the card reader emulator…")
        reader = start_onshi(
            [
                "reader",
                "--port",
                str(port + 1),
                "--server",
                server_url,
                "--console-url",
                console_url,
                "--results-dir",
                str(DEMO_DIR / "results"),
                "--cards-dir",
                str(DEMO_DIR / "cards"),
            ],
            env=env,
            log=logs / "reader.log",
        )
        processes.append(("reader", reader))
        click.echo("受付画面を起動しています… / starting the reception console…")
        console = start_onshi(
            [
                "console",
                "--port",
                str(port + 2),
                "--server",
                server_url,
                "--reader-url",
                reader_url,
                "--patients",
                str(DEMO_DIR / "patients.json"),
            ],
            env=env,
            log=logs / "console.log",
        )
        processes.append(("console", console))
        gallery_url = f"http://127.0.0.1:{port + 3}"
        click.echo("失敗ギャラリー・研修画面を起動しています… / starting the failure gallery and rehearsal…")
        gallery = start_onshi(
            ["gallery", "--port", str(port + 3), "--server", server_url, "--console", console_url,
             "--reader", reader_url, "--admin-token", env["ONSHI_ADMIN_TOKEN"]],
            env=env, log=logs / "gallery.log",
        )
        processes.append(("gallery", gallery))
        wait_http(f"{reader_url}/", timeout=120, process=reader)
        wait_http(f"{console_url}/", timeout=60, process=console)
        wait_http(f"{gallery_url}/", timeout=60, process=gallery)
        if not quiet:
            click.echo(banner(server_url, reader_url, console_url, gallery_url, logs))
        while all(p.poll() is None for _, p in processes):
            time.sleep(0.5)
        for name, process in processes:
            if process.poll() is not None:
                click.echo(
                    f"{name} stopped (exit {process.returncode}); see {logs / (name + '.log')}", err=True
                )
        raise SystemExit(1)
    except KeyboardInterrupt:
        click.echo("\n停止します / stopping…")
    finally:
        shutdown()


def banner(server_url: str, reader_url: str, console_url: str, gallery_url: str, logs: Path) -> str:
    return f"""
==============================================================================
 onshi-sim デモが起動しました / the demo is running

  受付画面 reception console   {console_url}/
  カードリーダー card reader   {reader_url}/
  失敗ギャラリー・研修 gallery  {gallery_url}/      障害の注入 faults {gallery_url}/faults
  中央システム API (OpenAPI)    {server_url}/docs

 模擬時刻は 2026-11-24 09:00（固定）。ペルソナごとに障害（F1〜F17）を再現します。
 The simulated clock is frozen at 2026-11-24 09:00 JST; each persona reproduces a failure.
 受付画面で患者を選び「カードで確認」→ カードリーダー画面でカードを置いて認証してください。
 Pick a patient on the console, start a card check, then use the reader page beside it.

 ログ / logs: {logs}      停止 / stop: Ctrl-C
==============================================================================
"""
