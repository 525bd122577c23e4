"""The page at ``/`` of the mock central system: what this server is and where to go next.

Self-contained HTML (no script, no web font, no CDN): it must show in a clinic's closed network.
"""

from __future__ import annotations

from html import escape

# The demo's other programs sit on the next ports (`onshi demo`: server, reader +1, console +2, gallery +3).
NEIGHBOURS = (
    (1, "カードリーダー（エミュレータ）", "face-auth card reader emulator"),
    (2, "受付画面", "reception console"),
    (3, "失敗ギャラリー・研修", "failure gallery and rehearsal"),
)


def landing_page(port: int) -> str:
    neighbours = "\n".join(
        f'<li><a href="http://127.0.0.1:{port + offset}/">{escape(ja)}</a> '
        f'<span lang="en">{escape(en)}</span> — <code>http://127.0.0.1:{port + offset}/</code></li>'
        for offset, ja, en in NEIGHBOURS
    )
    return f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>onshi-sim 中央システム（模擬） / mock central system</title>
<style>
 body {{ font-family: system-ui, "Noto Sans CJK JP", sans-serif; max-width: 52rem; margin: 2rem auto;
        padding: 0 1rem; line-height: 1.6; color: #1d2430; }}
 h1 {{ font-size: 1.6rem; margin-bottom: .2rem; }} h2 {{ font-size: 1.15rem; margin-top: 1.8rem; }}
 .en, [lang=en] {{ color: #5a6472; }} .en {{ display: block; font-size: .95rem; }}
 ul {{ padding-left: 1.2rem; }} li {{ margin: .35rem 0; }} code {{ background: #eef1f5; padding: 0 .3rem; }}
 .note {{ border-left: 4px solid #d08a00; background: #fff7e6; padding: .6rem .9rem; }}
</style></head>
<body>
<h1>onshi-sim 中央システム（模擬）</h1>
<p>オンライン資格確認等システムの模擬サーバーです。<!--
-->医療機関のソフトウェアを変更せずに試験するための資格確認（番号・カード・一括照会）、J-LIS（模擬）の証明書、障害の注入、模擬時刻を提供します。
<span class="en" lang="en">A mock of Japan's online insurance-eligibility check system
(オンライン資格確認): number, card and bulk checks with the real message formats,
a mock J-LIS certificate authority, injected faults and a simulated clock,
for testing clinic software unchanged.</span></p>
<p class="note">本物の資格情報は扱いません。表示される人物・番号はすべて架空です。
<span class="en" lang="en">No real data: every person and number here is made up.</span></p>

<h2>API の説明 <span lang="en">API documentation</span></h2>
<ul>
<li><a href="/docs">API 仕様（Swagger UI）</a> <span lang="en">interactive API docs</span>
 — <code>/docs</code></li>
<li><a href="/redoc">API 仕様（ReDoc）</a> <span lang="en">reference</span> — <code>/redoc</code></li>
<li><a href="/openapi.json">OpenAPI 定義</a> <span lang="en">OpenAPI document (for client generators)</span>
 — <code>/openapi.json</code></li>
<li><a href="/api/v1/health">稼働状況と模擬時刻</a> <span lang="en">health and the simulated clock</span>
 — <code>/api/v1/health</code></li>
</ul>

<h2>デモのほかの画面 <span lang="en">The demo's other pages</span></h2>
<p><code>onshi demo</code> で起動した場合の既定のアドレスです。<span class="en" lang="en">Default
addresses when started with <code>onshi demo</code>.</span></p>
<ul>
{neighbours}
</ul>
</body></html>
"""
