// The fault control panel: everything in force, each removable, in words (Japanese first); adds scoped or
// scheduled rules. The names the server and the reader use in their APIs are labelled by gallery.js.
(function () {
  const state = document.getElementById("fault-state");
  const readerBox = document.getElementById("reader-state");
  const ja = () => !document.body.classList.contains("lang-en");
  const label = (group, name) => window.onshiLabel(group, name);
  const moment = (iso) => window.onshiMoment(iso, ja());
  let lastView = null;
  async function call(method, url, body) {
    const response = await fetch(url, { method, headers: { "Content-Type": "application/json" },
                                        body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) alert(window.onshiDetail(data) + " (" + response.status + ")");
    document.dispatchEvent(new Event("onshi-refresh"));
    return data;
  }
  function tag(text, on) {
    const span = document.createElement("span");
    span.className = "tag" + (on ? " on" : "");
    span.textContent = text;
    return span;
  }
  function ruleLine(rule) {
    const j = ja();
    const parts = [label("kind", rule.kind)];
    if (rule.kind === "error") parts.push((j ? "割合 " : "rate ") + rule.rate + (j ? "・応答 " : ", status ") + rule.status);
    if (rule.kind === "timeout") parts.push((j ? "保留 " : "hold ") + rule.hold_ms + " ms" + (rule.rate < 1 ? (j ? "・割合 " : ", rate ") + rule.rate : ""));
    if (rule.kind === "latency") parts.push("+" + rule.latency_ms + " ms");
    return parts.join(j ? "　" : " ");
  }
  function render(view) {
    lastView = view;
    const j = ja();
    const server = view.server || {};
    document.getElementById("sim-now").textContent = server.now ? (j ? "模擬時刻 " : "simulated time ") + moment(server.now) : "";
    state.innerHTML = "";
    if (server.error) {
      const p = document.createElement("p");
      p.className = "fault-on";
      p.textContent = j ? "中央システム（模擬サーバー）に接続できません（" + view.server_url + "）" : String(server.error);
      state.appendChild(p);
      return;
    }
    const global = document.createElement("p");
    if (server.outage) global.appendChild(tag(j ? "中央システム停止中" : "central system down", true));
    if (server.latency_ms) global.appendChild(tag((j ? "遅延 " : "latency ") + server.latency_ms + " ms", true));
    state.appendChild(global);
    document.getElementById("global-outage").checked = !!server.outage;
    for (const rule of server.rules || []) {
      const active = (server.active || []).includes(rule.id);
      const row = document.createElement("div");
      row.className = "rule" + (active ? " active" : "");
      row.dataset.rule = rule.id;
      const what = document.createElement("strong");
      what.textContent = ruleLine(rule);
      const scope = document.createElement("span");
      scope.textContent = (rule.clinic || (j ? "全医療機関" : "all clinics")) + " · " + label("channel", rule.channel || "any");
      const when = document.createElement("span");
      when.className = "small";
      when.textContent = (rule.start ? moment(rule.start) : (j ? "今から" : "now")) + " → " +
                         (rule.end ? moment(rule.end) : (j ? "解除するまで" : "until removed"));
      const remove = document.createElement("button");
      remove.textContent = j ? "解除" : "remove";
      remove.addEventListener("click", () => call("DELETE", "/api/faults/rules/" + encodeURIComponent(rule.id)));
      row.append(tag(active ? (j ? "有効" : "active") : (j ? "予定・終了" : "scheduled/over"), active), what, scope, when, remove);
      state.appendChild(row);
    }
    if (!server.outage && !server.latency_ms && !(server.rules || []).length) {
      state.innerHTML = "";
      const ok = document.createElement("p");
      ok.className = "fault-ok";
      ok.textContent = j ? "障害なし（正常）" : "No faults (healthy)";
      state.appendChild(ok);
    }
    renderReader(view);
  }
  function renderReader(view) {
    const j = ja();
    readerBox.innerHTML = "";
    if (!view.reader) {
      readerBox.textContent = j ? "カードリーダーに接続できません（" + view.reader_url + "）。読み取り機側の障害はリーダー画面から設定してください。"
                                : "The reader is not reachable (" + view.reader_url + "); set reader-side faults at the reader.";
      return;
    }
    const list = document.createElement("div");
    list.className = "reader-faults";
    for (const [name, value] of Object.entries(view.reader)) {
      const row = document.createElement("label");
      row.className = "reader-fault" + (value ? " on" : "");
      const title = document.createElement("span");
      title.textContent = label("reader", name);
      if (typeof value === "boolean") {
        const box = document.createElement("input");
        box.type = "checkbox"; box.checked = value;
        box.addEventListener("change", () => call("POST", "/api/reader-faults", { [name]: box.checked }));
        row.append(box, title);
      } else if (name === "slow_read_ms") {
        const input = document.createElement("input");
        input.type = "number"; input.min = "0"; input.step = "100"; input.value = String(value || 0);
        input.addEventListener("change", () => call("POST", "/api/reader-faults", { [name]: parseInt(input.value || "0", 10) }));
        const unit = document.createElement("span");
        unit.textContent = " ms" + (value ? "" : (j ? "（なし）" : " (off)"));
        row.append(title, input, unit);
      } else if (name === "unplug_at") {
        const select = document.createElement("select");
        const none = document.createElement("option");
        none.value = ""; none.textContent = j ? "しない" : "never";
        select.appendChild(none);
        for (const screen of ["reading", "method", "face", "pin", "consent", "sending"]) {
          const option = document.createElement("option");
          option.value = screen; option.textContent = label("state", screen);
          select.appendChild(option);
        }
        select.value = value || "";
        select.addEventListener("change", () => call("POST", "/api/reader-faults", { [name]: select.value || null }));
        row.append(title, select);
      } else {
        const shown = document.createElement("span");
        shown.textContent = value === null || value === undefined ? (j ? "なし" : "none") : String(value);
        row.append(title, shown);
      }
      list.appendChild(row);
    }
    readerBox.appendChild(list);
  }
  // "2026-11-24 09:05" (as typed) -> ISO with the JST offset the server expects.
  function iso(text) {
    const m = /^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?\s*$/.exec(text || "");
    return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] || "00"}+09:00` : text;
  }
  async function refresh() { render(await (await fetch("/api/faults")).json()); }
  document.addEventListener("onshi-refresh", refresh);
  document.addEventListener("onshi-faults", (e) => render(e.detail));
  document.addEventListener("onshi-lang", () => { if (lastView) render(lastView); });
  document.getElementById("clear-all").addEventListener("click", () => call("DELETE", "/api/faults"));
  document.getElementById("apply-global").addEventListener("click", () => call("POST", "/api/faults", {
    outage: document.getElementById("global-outage").checked,
    latency_ms: parseInt(document.getElementById("global-latency").value || "0", 10) }));
  document.getElementById("rule-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target).entries());
    for (const key of ["rate"]) data[key] = parseFloat(data[key]);
    for (const key of ["seed", "latency_ms", "hold_ms", "status"]) data[key] = parseInt(data[key] || "0", 10);
    for (const key of ["start", "end"]) if (data[key]) data[key] = iso(data[key]);
    call("POST", "/api/faults/rules", data);
  });
  refresh();
})();
