// The fault control panel: everything in force, each removable; adds scoped / scheduled rules.
(function () {
  const state = document.getElementById("fault-state");
  const readerBox = document.getElementById("reader-state");
  const ja = () => !document.body.classList.contains("lang-en");
  async function call(method, url, body) {
    const response = await fetch(url, { method, headers: { "Content-Type": "application/json" },
                                        body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) alert((data.detail || response.status) + "");
    document.dispatchEvent(new Event("onshi-refresh"));
    return data;
  }
  function render(view) {
    const server = view.server || {};
    document.getElementById("sim-now").textContent = server.now ? (ja() ? "模擬時刻 " : "simulated time ") + server.now : "";
    state.innerHTML = "";
    if (server.error) { state.innerHTML = "<p class='fault-on'>" + server.error + "</p>"; return; }
    const global = document.createElement("p");
    global.innerHTML = (server.outage ? "<span class='tag on'>outage</span> " : "") +
      (server.latency_ms ? "<span class='tag on'>latency " + server.latency_ms + " ms</span> " : "");
    state.appendChild(global);
    document.getElementById("global-outage").checked = !!server.outage;
    for (const rule of server.rules || []) {
      const active = (server.active || []).includes(rule.id);
      const row = document.createElement("div");
      row.className = "rule" + (active ? " active" : "");
      const scope = (rule.clinic || (ja() ? "全医療機関" : "all clinics")) + " · " + rule.channel;
      const when = (rule.start || "…") + " → " + (rule.end || "…");
      const extra = rule.kind === "error" ? " rate " + rule.rate + " seed " + rule.seed + " → " + rule.status
        : rule.kind === "timeout" ? " hold " + rule.hold_ms + " ms" + (rule.rate < 1 ? " rate " + rule.rate : "")
        : rule.kind === "latency" ? " +" + rule.latency_ms + " ms" : "";
      row.innerHTML = "<span class='tag " + (active ? "on" : "") + "'>" + (active ? (ja() ? "有効" : "active") : (ja() ? "予定/終了" : "scheduled/over")) +
        "</span><strong></strong><span></span><span class='small'></span>";
      row.querySelector("strong").textContent = rule.id + " " + rule.kind + extra;
      row.querySelectorAll("span")[1].textContent = scope;
      row.querySelectorAll("span")[2].textContent = when;
      const remove = document.createElement("button");
      remove.textContent = ja() ? "解除" : "remove";
      remove.addEventListener("click", () => call("DELETE", "/api/faults/rules/" + encodeURIComponent(rule.id)));
      row.appendChild(remove);
      state.appendChild(row);
    }
    if (!server.outage && !server.latency_ms && !(server.rules || []).length) {
      state.innerHTML = "<p class='fault-ok'>" + (ja() ? "障害なし（正常）" : "No faults (healthy)") + "</p>";
    }
    readerBox.innerHTML = "";
    if (!view.reader) {
      readerBox.textContent = ja() ? "カードリーダーに接続できません（" + view.reader_url + "）。読み取り機側の障害はリーダー画面から設定してください。"
                                   : "The reader is not reachable (" + view.reader_url + "); set reader-side faults at the reader.";
      return;
    }
    for (const [name, value] of Object.entries(view.reader)) {
      const label = document.createElement("label");
      if (typeof value === "boolean") {
        const box = document.createElement("input");
        box.type = "checkbox"; box.checked = value;
        box.addEventListener("change", () => call("POST", "/api/reader-faults", { [name]: box.checked }));
        label.append(box, " " + name);
      } else {
        label.textContent = name + " = " + value;
      }
      readerBox.appendChild(label);
    }
  }
  async function refresh() { render(await (await fetch("/api/faults")).json()); }
  document.addEventListener("onshi-refresh", refresh);
  document.addEventListener("onshi-faults", (e) => render(e.detail));
  document.getElementById("clear-all").addEventListener("click", () => call("DELETE", "/api/faults"));
  document.getElementById("apply-global").addEventListener("click", () => call("POST", "/api/faults", {
    outage: document.getElementById("global-outage").checked,
    latency_ms: parseInt(document.getElementById("global-latency").value || "0", 10) }));
  document.getElementById("rule-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target).entries());
    for (const key of ["rate"]) data[key] = parseFloat(data[key]);
    for (const key of ["seed", "latency_ms", "hold_ms", "status"]) data[key] = parseInt(data[key] || "0", 10);
    call("POST", "/api/faults/rules", data);
  });
  refresh();
})();
