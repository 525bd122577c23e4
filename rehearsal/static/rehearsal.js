// The reader's page is laid out for its own screen width: shown whole, scaled to the column (never clipped).
(function () {
  function fit() {
    for (const box of document.querySelectorAll(".fit[data-natural-width]")) {
      const width = +box.dataset.naturalWidth, height = +box.dataset.naturalHeight;
      const scale = Math.min(1, box.clientWidth / width);
      const frame = box.querySelector("iframe");
      frame.style.width = width + "px";
      frame.style.height = height + "px";
      frame.style.transform = "scale(" + scale + ")";
      box.style.height = Math.ceil(height * scale) + "px";
    }
  }
  window.addEventListener("resize", fit);
  fit();
})();

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
      ? (ja() ? "✔ 準備ができました（" + window.onshiMoment(data.arrive_at, true) + " の受付。登録情報を読み込み直しました）"
              : "✔ Ready (reception at " + window.onshiMoment(data.arrive_at, false) + "; registry reloaded)")
      : "✘ " + window.onshiDetail(data);
    if (response.ok) showReader(data.reader);
    for (const frame of document.querySelectorAll(".counter iframe")) frame.src = frame.src;
  });

  if (done) done.addEventListener("click", async () => {
    state.textContent = "…";
    const response = await fetch("/api/prepare/" + button.dataset.scenario, { method: "DELETE" });
    const data = await response.json();
    state.textContent = response.ok ? (ja() ? "✔ このシナリオの障害を解除しました" : "✔ this scenario's faults cleared") : "✘ " + window.onshiDetail(data);
    showReader(response.ok && data.reader && data.reader.message_en ? data.reader : null);
    for (const frame of document.querySelectorAll(".counter iframe")) frame.src = frame.src;
  });

  const observeButton = document.getElementById("observe");
  const observeState = document.getElementById("observe-state");
  if (observeButton) observeButton.addEventListener("click", async () => {
    observeState.textContent = "…";
    const response = await fetch("/api/rehearsal/" + observeButton.dataset.scenario + "/observed");
    const data = await response.json();
    if (!response.ok) { observeState.textContent = "✘ " + window.onshiDetail(data); return; }
    for (const [key, value] of Object.entries(data.response)) {
      const fieldset = document.querySelector("fieldset[data-item='" + key + "']");
      if (!fieldset) continue;
      const input = fieldset.querySelector("input[value='" + String(value) + "']");
      if (input) input.checked = true;
      fieldset.classList.add("observed");
      fieldset.querySelector(".observed-tag").hidden = false;
    }
    const count = Object.keys(data.response).length;
    observeState.textContent = data.problem && !data.actions ? "✘ " + (ja() ? data.problem_ja : data.problem)
      : (ja() ? "✔ 受付画面の操作 " + data.actions + " 件から " + count + " 項目を取り込みました"
              : "✔ " + count + " items from " + data.actions + " console actions");
  });
})();
