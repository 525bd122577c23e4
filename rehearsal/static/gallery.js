// Language toggle (Japanese first, English on demand) and the always-visible fault banner.
(function () {
  const body = document.body;
  const toggle = document.getElementById("lang-toggle");
  function setLang(lang) {
    body.classList.toggle("lang-en", lang === "en");
    document.documentElement.lang = lang;
    if (toggle) toggle.textContent = lang === "en" ? "日本語" : "English";
    try { localStorage.setItem("onshi-lang", lang); } catch (e) { /* private mode */ }
  }
  const params = new URLSearchParams(location.search);
  let initial = params.get("lang");
  if (!initial) { try { initial = localStorage.getItem("onshi-lang"); } catch (e) { initial = null; } }
  setLang(initial === "en" ? "en" : "ja");
  if (toggle) toggle.addEventListener("click", () => setLang(body.classList.contains("lang-en") ? "ja" : "en"));

  function describeFaults(view) {
    const items = [];
    const server = view.server || {};
    if (server.error) items.push("サーバーに接続できません / server unreachable");
    if (server.outage) items.push("中央システム停止 / central outage");
    if (server.latency_ms) items.push("遅延 / latency " + server.latency_ms + " ms");
    for (const rule of server.rules || []) {
      const active = (server.active || []).includes(rule.id);
      items.push(rule.id + " (" + rule.kind + (rule.clinic ? " @" + rule.clinic : "") +
                 (active ? ", 有効 / active" : ", 予定 / scheduled") + ")");
    }
    const reader = view.reader || {};
    for (const [name, value] of Object.entries(reader)) {
      if (value) items.push("reader: " + name + (value === true ? "" : "=" + value));
    }
    return items;
  }
  window.onshiDescribeFaults = describeFaults;
  async function poll() {
    try {
      const view = await (await fetch("/api/faults")).json();
      const items = describeFaults(view);
      const banner = document.getElementById("fault-banner");
      document.getElementById("fault-list").textContent = items.join(" · ");
      banner.hidden = items.length === 0;
      document.dispatchEvent(new CustomEvent("onshi-faults", { detail: view }));
    } catch (e) { /* the gallery itself is going away */ }
  }
  poll();
  setInterval(poll, 3000);

  // "Run live" on the failure pages.
  for (const button of document.querySelectorAll(".run-live")) {
    button.addEventListener("click", async () => {
      const live = document.getElementById("live");
      const ja = body.classList.contains("lang-en") ? false : true;
      button.disabled = true;
      live.innerHTML = "<p>" + (ja ? "実行中…" : "running…") + "</p>";
      try {
        const response = await fetch("/api/run/" + button.dataset.scenario, { method: "POST" });
        const result = await response.json();
        if (!response.ok) throw new Error(result.detail || response.status);
        live.innerHTML = "";
        if (result.registry_reloaded) {
          const reloaded = document.createElement("p");
          reloaded.className = "small";
          reloaded.textContent = ja ? "登録情報を読み込み直しました（フィクスチャ＋シナリオのイベント）"
                                    : "registry reloaded (fixtures + the scenario's events)";
          live.appendChild(reloaded);
        }
        for (const step of result.steps) {
          const div = document.createElement("div");
          div.className = "step" + (step.ok ? "" : " bad") + (step.side === "reader" ? " reader" : "");
          const described = step.side === "reader" && !(step.data && step.data.played);  // --reader off
          const mark = step.ok ? (described ? "◇" : "✔") : "✘";
          const note = ja ? step.note_ja : step.note_en;
          div.textContent = mark + " " + (note ? note.split("。")[0] + " — " : "") + (ja ? step.sees_ja : step.sees_en);
          live.appendChild(div);
          if (step.data && step.data.stranger) {
            const alarm = document.createElement("p");
            alarm.className = "alarm";
            alarm.textContent = ja ? "⚠ 画面の人は目の前の患者ではありません（生年月日 " + step.data.birthdate + "）"
                                   : "⚠ The person on screen is not the patient in front of you (born " + step.data.birthdate + ")";
            live.appendChild(alarm);
          }
        }
        const verdict = document.createElement("p");
        verdict.className = "verdict";
        verdict.textContent = result.ok ? (ja ? "再現できました（期待どおり）" : "Reproduced as expected")
                                        : (ja ? "期待と異なる結果" : "Not as expected") + (result.error ? ": " + result.error : "");
        live.appendChild(verdict);
      } catch (e) {
        live.innerHTML = "<p class='fault-on'>" + (ja ? "実行できません: " : "cannot run: ") + e.message + "</p>";
      } finally {
        button.disabled = false;
        poll();
      }
    });
  }
})();
