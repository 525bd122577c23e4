// Waiting page: poll the console for the reader's result. The console answers where the reader is, in
// words (Japanese or English by the page's language), and ends the wait itself with a result page that
// says what happened when the reader does not deliver one (no check is lost).
(function () {
  const box = document.getElementById("waiting");
  if (!box) return;
  if (box.dataset.result) { window.location = box.dataset.result; return; }
  const patient = box.dataset.patient, after = box.dataset.after;
  const ja = document.documentElement.lang !== "en";
  const stateLine = document.getElementById("reader-state");
  const leftLine = document.getElementById("wait-left");
  async function poll() {
    try {
      const r = await fetch(`/api/console/patients/${encodeURIComponent(patient)}/latest?after=${after}`);
      const data = await r.json();
      if (data.url) { window.location = data.url; return; }
      if (stateLine) stateLine.textContent = ja ? (data.status_ja || "") : (data.status_en || "");
      if (leftLine && data.waiting && data.seconds_left !== null && data.seconds_left < 60) {
        leftLine.textContent = ja ? `あと${data.seconds_left}秒で待つのをやめ、次の対応を表示します。`
                                  : `The wait ends in ${data.seconds_left} s with what to do next.`;
      } else if (leftLine) { leftLine.textContent = ""; }
    } catch (e) { /* keep polling */ }
    setTimeout(poll, 1000);
  }
  poll();
})();
