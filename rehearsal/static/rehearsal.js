(function () {
  const button = document.getElementById("prepare");
  if (!button) return;
  button.addEventListener("click", async () => {
    const state = document.getElementById("prepare-state");
    state.textContent = "…";
    const response = await fetch("/api/prepare/" + button.dataset.scenario, { method: "POST" });
    const data = await response.json();
    state.textContent = response.ok ? "✔ " + data.persona + " @ " + data.arrive_at : "✘ " + data.detail;
    for (const frame of document.querySelectorAll(".counter iframe")) frame.src = frame.src;
  });
})();
