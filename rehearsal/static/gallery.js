// Language toggle (Japanese first, English on demand), the always-visible fault banner, and "run live".
(function () {
  const body = document.body;
  const toggle = document.getElementById("lang-toggle");
  const isJa = () => !body.classList.contains("lang-en");

  // Words for the names the server and the reader use in their APIs (never shown raw in Japanese mode).
  const LABELS = {
    reader: {
      card_unreadable: ["カードを読み取れない", "card unreadable"],
      not_my_number_card: ["マイナンバーカード以外と判定", "not a My Number card"],
      camera_unavailable: ["カメラが使えない", "camera unavailable"],
      slow_read_ms: ["カードの読み取りが遅い", "slow card read"],
      unplugged: ["ケーブルが抜けている", "cable unplugged"],
      unplug_at: ["指定した画面でケーブルを抜く", "pull the cable at a screen"],
      network_down: ["ネットワークが切れている", "network down"],
    },
    kind: {
      outage: ["停止", "outage"], latency: ["遅延", "slowness"], error: ["エラー", "errors"],
      timeout: ["タイムアウト", "timeout"], link_cut: ["回線切断", "cut link"],
    },
    channel: {
      any: ["すべての回線", "all links"],
      clinic: ["受付端末 ⇄ 中央", "reception PC ⇄ central"],
      reader: ["カードリーダー ⇄ 中央", "reader ⇄ central"],
    },
    state: {
      idle: ["待機中", "waiting"], reading: ["読み取り中", "reading"], method: ["本人確認の方法の選択", "choosing the method"],
      face: ["顔認証", "face"], matching: ["顔の照合", "matching"], pin: ["暗証番号の入力", "PIN entry"],
      pin_checking: ["暗証番号の確認", "PIN check"], visual: ["目視確認", "visual check"],
      consent: ["同意の画面", "consent screens"], sending: ["照会中", "sending"],
      result: ["結果の画面", "result"], error: ["エラーの画面", "error"],
    },
  };
  function label(group, name) {
    const pair = (LABELS[group] || {})[name];
    return pair ? pair[isJa() ? 0 : 1] : (isJa() ? "その他の設定" : String(name));
  }
  // 2026-11-24T09:05:00+09:00 -> 2026年11月24日 09:05 / 2026-11-24 09:05 (the simulated clock's own time)
  function moment(iso, ja) {
    const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})/.exec(String(iso || ""));
    if (!m) return iso ? String(iso) : "";
    return ja ? `${+m[1]}年${+m[2]}月${+m[3]}日 ${m[4]}:${m[5]}` : `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}`;
  }
  // 19621225 -> 1962年12月25日 / 1962-12-25
  function ymd(text, ja) {
    const m = /^(\d{4})(\d{2})(\d{2})$/.exec(String(text || ""));
    if (!m) return text ? String(text) : "";
    return ja ? `${+m[1]}年${+m[2]}月${+m[3]}日` : `${m[1]}-${m[2]}-${m[3]}`;
  }
  function detail(data) {
    const text = data && (isJa() ? (data.title_ja || data.detail_ja || data.detail) : (data.detail || data.title));
    return text ? String(text) : (isJa() ? "うまくいきませんでした" : "failed");
  }
  window.onshiLabel = label;
  window.onshiMoment = moment;
  window.onshiYmd = ymd;
  window.onshiDetail = detail;

  function setLang(lang) {
    body.classList.toggle("lang-en", lang === "en");
    document.documentElement.lang = lang;
    if (toggle) toggle.textContent = lang === "en" ? "日本語" : "English";
    for (const el of document.querySelectorAll("[data-ja][data-en]")) {  // options, placeholders
      const text = lang === "en" ? el.dataset.en : el.dataset.ja;
      if (el.tagName === "INPUT") el.placeholder = text; else el.textContent = text;
    }
    try { localStorage.setItem("onshi-lang", lang); } catch (e) { /* private mode */ }
    document.dispatchEvent(new Event("onshi-lang"));
  }
  const params = new URLSearchParams(location.search);
  let initial = params.get("lang");
  if (!initial) { try { initial = localStorage.getItem("onshi-lang"); } catch (e) { initial = null; } }
  setLang(initial === "en" ? "en" : "ja");
  if (toggle) toggle.addEventListener("click", () => setLang(isJa() ? "en" : "ja"));

  function describeFaults(view) {
    const ja = isJa();
    const items = [];
    const server = view.server || {};
    if (server.error) items.push(ja ? "サーバーに接続できません" : "server unreachable");
    if (server.outage) items.push(ja ? "中央システム停止" : "central outage");
    if (server.latency_ms) items.push((ja ? "遅延 " : "latency ") + server.latency_ms + " ms");
    for (const rule of server.rules || []) {
      const active = (server.active || []).includes(rule.id);
      items.push(label("kind", rule.kind) + (ja ? "（" : " (") + label("channel", rule.channel || "any") +
                 (rule.clinic ? " " + rule.clinic : "") + (ja ? "、" : ", ") +
                 (active ? (ja ? "有効" : "active") : (ja ? "予定" : "scheduled")) + (ja ? "）" : ")"));
    }
    const reader = view.reader || {};
    for (const [name, value] of Object.entries(reader)) {
      if (!value) continue;
      const shown = value === true ? "" : name === "slow_read_ms" ? " " + value + " ms"
        : name === "unplug_at" ? (ja ? "：" : ": ") + label("state", value) : " " + value;
      items.push((ja ? "カードリーダー：" : "reader: ") + label("reader", name) + shown);
    }
    return items;
  }
  window.onshiDescribeFaults = describeFaults;
  let lastView = null;
  function showBanner(view) {
    const items = describeFaults(view);
    const banner = document.getElementById("fault-banner");
    document.getElementById("fault-list").textContent = items.join(" · ");
    banner.hidden = items.length === 0;
  }
  async function poll() {
    try {
      const view = await (await fetch("/api/faults")).json();
      lastView = view;
      showBanner(view);
      document.dispatchEvent(new CustomEvent("onshi-faults", { detail: view }));
    } catch (e) { /* the gallery itself is going away */ }
  }
  document.addEventListener("onshi-lang", () => { if (lastView) showBanner(lastView); });
  poll();
  setInterval(poll, 3000);

  // "Run live" on the failure pages: the result appears right under the button that was pressed (where the
  // presenter is looking), large, in words: reproduced or not, what the counter sees, the right response.
  for (const button of document.querySelectorAll(".run-live")) {
    button.addEventListener("click", async () => {
      const live = document.getElementById(button.dataset.target) || document.getElementById("live");
      const ja = isJa();
      button.disabled = true;
      live.hidden = false;
      live.className = "live running";
      live.innerHTML = "";
      const running = document.createElement("p");
      running.className = "verdict";
      running.textContent = ja ? "実行中…（サーバーで実際に照会しています）" : "Running… (real checks on the server)";
      live.appendChild(running);
      live.scrollIntoView({ behavior: "smooth", block: "nearest" });
      try {
        const response = await fetch("/api/run/" + button.dataset.scenario, { method: "POST" });
        const result = await response.json();
        if (!response.ok) throw new Error(detail(result));
        live.innerHTML = "";
        live.className = "live " + (result.ok ? "ok" : "bad");
        const verdict = document.createElement("p");
        verdict.className = "verdict";
        verdict.textContent = result.ok ? (ja ? "✔ 再現できました" : "✔ Reproduced")
          : (ja ? "✘ 期待と異なる結果になりました" : "✘ Not as expected");
        live.appendChild(verdict);
        const list = document.createElement("ol");
        list.className = "steps";
        for (const step of result.steps) {
          const item = document.createElement("li");
          item.className = "step" + (step.ok ? "" : " bad") + (step.side === "reader" ? " reader" : "");
          const what = document.createElement("strong");
          what.textContent = (ja ? step.note_ja : step.note_en || "").split(/。|\. /)[0];
          const sees = document.createElement("span");
          sees.className = "sees";
          sees.textContent = (ja ? "画面：" : "Screen: ") + (ja ? step.sees_ja : step.sees_en);
          if (what.textContent) item.append(what, document.createElement("br"));
          item.append(sees);
          list.appendChild(item);
          if (step.data && step.data.stranger) {
            const alarm = document.createElement("p");
            alarm.className = "alarm";
            alarm.textContent = ja ? "⚠ 画面の人は目の前の患者ではありません（" + ymd(step.data.birthdate, true) + "生まれ）"
                                   : "⚠ The person on screen is not the patient in front of you (born " + ymd(step.data.birthdate, false) + ")";
            item.appendChild(alarm);
          }
        }
        live.appendChild(list);
        if (result.right_response_ja) {
          const right = document.createElement("p");
          right.className = "right-response";
          right.textContent = (ja ? "正しい対応：" : "The right response: ") + (ja ? result.right_response_ja : result.right_response_en);
          live.appendChild(right);
        }
        if (!result.ok && result.error) {
          const why = document.createElement("p");
          why.className = "small";
          why.textContent = result.error;
          live.appendChild(why);
        }
        const note = document.createElement("p");
        note.className = "small";
        note.textContent = ja ? "サーバーの登録情報をこの場面の状態に読み込み直して実行しました。"
                              : "The server's registry was reloaded to this scene's state for the run.";
        live.appendChild(note);
        live.scrollIntoView({ behavior: "smooth", block: "nearest" });
      } catch (e) {
        live.className = "live bad";
        live.innerHTML = "";
        const failed = document.createElement("p");
        failed.className = "verdict";
        failed.textContent = (ja ? "実行できません：" : "Cannot run: ") + e.message;
        live.appendChild(failed);
      } finally {
        button.disabled = false;
        poll();
      }
    });
  }
})();
