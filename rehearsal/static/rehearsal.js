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
})();
