(function () {
  const button = document.getElementById("prepare");
  if (!button) return;
  const done = document.getElementById("prepare-done");
  const state = document.getElementById("prepare-state");
  const readerState = document.getElementById("prepare-reader");
  const ja = () => !document.body.classList.contains("lang-en");

  function showReader(reader) {
    if (!readerState) return;
    readerState.textContent = reader ? (ja() ? reader.message_ja : reader.message_en) : "";
    readerState.className = "small" + (reader && !reader.ok ? " warning" : "");
  }

  button.addEventListener("click", async () => {
    state.textContent = "…";
    showReader(null);
    const response = await fetch("/api/prepare/" + button.dataset.scenario, { method: "POST" });
    const data = await response.json();
    state.textContent = response.ok
      ? "✔ " + data.persona + " @ " + data.arrive_at + (ja()
          ? "（登録情報をフィクスチャとシナリオのイベントで読み込み直しました）"
          : " (registry reloaded: fixture personas and the scenario's events)")
      : "✘ " + data.detail;
    if (response.ok) showReader(data.reader);
    for (const frame of document.querySelectorAll(".counter iframe")) frame.src = frame.src;
  });

  if (done) done.addEventListener("click", async () => {
    state.textContent = "…";
    const response = await fetch("/api/prepare/" + button.dataset.scenario, { method: "DELETE" });
    const data = await response.json();
    state.textContent = response.ok ? (ja() ? "✔ このシナリオの障害を解除しました" : "✔ this scenario's faults cleared") : "✘ " + data.detail;
    showReader(response.ok && data.reader && data.reader.message_en ? data.reader : null);
    for (const frame of document.querySelectorAll(".counter iframe")) frame.src = frame.src;
  });

  const observeButton = document.getElementById("observe");
  const observeState = document.getElementById("observe-state");
  if (observeButton) observeButton.addEventListener("click", async () => {
    observeState.textContent = "…";
    const response = await fetch("/api/rehearsal/" + observeButton.dataset.scenario + "/observed");
    const data = await response.json();
    if (!response.ok) { observeState.textContent = "✘ " + data.detail; return; }
    for (const [key, value] of Object.entries(data.response)) {
      const fieldset = document.querySelector("fieldset[data-item='" + key + "']");
      if (!fieldset) continue;
      const input = fieldset.querySelector("input[value='" + String(value) + "']");
      if (input) input.checked = true;
      fieldset.classList.add("observed");
      fieldset.querySelector(".observed-tag").hidden = false;
    }
    const count = Object.keys(data.response).length;
    observeState.textContent = data.problem && !data.actions ? "✘ " + data.problem
      : (ja() ? "✔ 受付画面の操作 " + data.actions + " 件から " + count + " 項目を取り込みました"
              : "✔ " + count + " items from " + data.actions + " console actions");
  });
})();
