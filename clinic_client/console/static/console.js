// Waiting page: poll the console for the reader's result, and show where the reader is.
(function () {
  const box = document.getElementById("waiting");
  if (!box) return;
  const patient = box.dataset.patient, after = box.dataset.after;
  const stateLine = document.getElementById("reader-state");
  async function poll() {
    try {
      const r = await fetch(`/api/console/patients/${encodeURIComponent(patient)}/latest?after=${after}`);
      const data = await r.json();
      if (data.url) { window.location = data.url; return; }
      const s = await fetch("/api/console/reader-state");
      const state = await s.json();
      if (stateLine) {
        stateLine.textContent = state.available
          ? (state.state.screen_ja || state.state.screen || state.state.state || JSON.stringify(state.state))
          : (document.documentElement.lang === "ja" ? "カードリーダーの状態を取得できません" : "reader state unavailable");
      }
    } catch (e) { /* keep polling */ }
    setTimeout(poll, 1000);
  }
  poll();
})();
