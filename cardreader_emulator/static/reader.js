// The reader's touch screen: polls /api/reader/state and draws the screen of the current state.
"use strict";

let lang = "ja";
let snap = null;
let drawnKey = "";
let pin = "";
let stream = null;
let capturedStep = -1;
let cameraText = ["カメラ: 準備中", "Camera: starting"];

const $ = (id) => document.getElementById(id);
const t = (ja, en) => (lang === "ja" ? ja : en);

const VALIDITY = {
  "1": ["有効", "valid"], "2": ["無効", "invalid"], "3": ["無効（新しい資格あり）", "invalid (newer qualification)"],
  "4": ["該当資格なし", "no matching qualification"], "5": ["複数該当", "several match"],
};

const STEP_NAMES = {
  idle: ["待機中", "Waiting"], reading: ["読み取り", "Reading"], method: ["本人確認", "Identity"],
  face: ["顔認証", "Face"], matching: ["顔認証", "Face"], pin: ["暗証番号", "PIN"],
  pin_checking: ["暗証番号", "PIN"], visual: ["目視確認", "Visual check"], consent: ["同意の確認", "Consent"],
  sending: ["送信中", "Sending"], result: ["完了", "Done"], error: ["エラー", "Error"],
  phone_pin: ["スマートフォン・暗証番号", "Smartphone: PIN"], phone_confirm: ["スマートフォン・本人確認", "Smartphone: identity"],
  phone_hold: ["スマートフォン読み取り", "Smartphone: read"], phone_reading: ["スマートフォン読み取り", "Smartphone: read"],
};

const PLATFORMS = { android: "Android", iphone: "iPhone" };
let phones = [];

const CONSENTS = {
  medical: ["過去の診療・お薬の情報を\n当機関に提供することに同意しますか", "Share your past medical and medication\ninformation with this clinic?"],
  operation: ["過去の手術の情報を\n当機関に提供することに同意しますか", "Share your past surgery information\nwith this clinic?"],
  checkup: ["過去の健診情報を\n当機関に提供することに同意しますか", "Share your past health check-up results\nwith this clinic?"],
  limit: ["高額療養費制度の限度額情報を\n当機関に提供することに同意しますか", "Share your co-pay ceiling (限度額) bracket\nwith this clinic?"],
  prescription: ["処方箋の受け取り方法を選んでください", "How would you like your prescription?"],
};

let pendingGeneralReader = null;  // the 汎用カードリーダー setting while its change is on its way

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) console.warn(path, data);
  if (data && data.state) { snap = data; render(); }
  return data;
}

function button(label, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.innerHTML = label;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

function both(ja, en) { return t(ja, en); }  // one language at a time; English on the toggle

function screenText(s) {
  const card = s.card_present;
  switch (s.state) {
    case "idle": return [t("マイナンバーカードを置いてください", "Place your My Number card"),
      s.patient_ref ? t(`受付番号 ${s.patient_ref} の方`, `Patient ${s.patient_ref}`) : t("カード置き場に置いてください", "Put it on the card tray")];
    case "reading": return [t("カードを読み取っています", "Reading the card"), t("カードを動かさないでください", "Do not move the card")];
    case "method": return [t("本人確認の方法を選んでください", "Choose how to confirm your identity"), ""];
    case "face": return [t("カメラに顔を向けてください", "Look at the camera"),
      t("枠の中に顔を合わせてください。マスク・帽子・サングラスは外してください", "Fit your face in the frame; remove a mask, hat or sunglasses")];
    case "matching": return [t("顔認証をしています", "Checking your face"), t("そのままお待ちください", "Please wait")];
    case "pin": return [t("暗証番号（数字4桁）を入力してください", "Enter your 4-digit PIN"),
      t(`残り${s.pin_remaining}回（3回間違えるとロックされます）`, `${s.pin_remaining} tries left (3 wrong entries lock the card)`)];
    case "pin_checking": return [t("暗証番号を確認しています", "Checking the PIN"), ""];
    case "visual": return [t("職員が本人確認をします", "Staff will confirm your identity"),
      t("職員をお呼びください。カードの顔写真とご本人を確認します", "Please call staff; they compare you with the card photo")];
    case "consent": { const c = CONSENTS[s.consent_step] || ["", ""]; return [t(c[0], c[1]), ""]; }
    case "sending": return [t("資格情報を確認しています", "Checking your eligibility"), t("カードを取らずにお待ちください", "Leave the card on the reader")];
    case "result": {
      const sc = s.screen;
      if (!sc) return [t("受付が完了しました", "Check-in complete"), ""];
      return [t(sc.title.ja, sc.title.en), card || s.medium === "smartphone" ? t(sc.next.ja, sc.next.en) : ""];
    }
    case "error":
      if (s.medium === "smartphone" && s.error && /^R7/.test(s.error.code)) {
        return [t("スマートフォンでは確認できませんでした", "The smartphone could not be used"), t("受付にお声がけください", "Please speak to reception")];
      }
      return [t("エラーが発生しました", "An error occurred"), card ? t("カードをお取りください", "Please take your card") : ""];
    case "phone_pin": return [t("暗証番号（数字4桁）を入力してください", "Enter your 4-digit PIN"),
      t(`マイナンバーカードと同じ暗証番号です。残り${s.pin_remaining}回（カードと共通・3回間違えるとロック）`,
        `The same PIN as your My Number card. ${s.pin_remaining} tries left (shared with the card; 3 wrong entries lock it)`)];
    case "phone_confirm": return [t("スマートフォンで本人確認をしてください", "Confirm your identity on your phone"),
      t("iPhone の Face ID（顔）または Touch ID（指紋）で確認してください", "Use Face ID or Touch ID on your iPhone")];
    case "phone_hold": return [t("スマートフォンを汎用カードリーダーにかざしてください", "Hold your phone on the general-purpose card reader"),
      t("読み取りが終わるまで（1〜2秒）、動かさないでください", "Keep it still until the read is done (1–2 s)")];
    case "phone_reading": return [t("スマートフォンを読み取っています", "Reading your phone"), t("動かさないでください", "Do not move it")];
  }
  return ["", ""];
}

function choosePhone() {
  const id = $("phone-select").value;
  if (id) api("POST", "/api/reader/phone", { phone_id: id });
}

function renderButtons(s) {
  const box = $("buttons");
  box.innerHTML = "";
  const free = !s.card_present && ["idle", "result", "error"].includes(s.state);
  if (free && s.state === "idle") {  // the smartphone choice on the waiting screen (the card needs no button)
    box.appendChild(button(both("スマートフォンで受付", "Use my smartphone"), choosePhone, "phone"));
  } else if (s.state === "method") {
    const labels = { face: ["顔認証", "Face"], pin: ["暗証番号", "PIN"], visual: ["目視確認（職員）", "Staff visual check"] };
    for (const m of s.methods) {
      box.appendChild(button(both(...labels[m]), () => api("POST", "/api/reader/method", { method: m }), m === "visual" ? "secondary" : ""));
    }
  } else if (s.state === "consent") {
    if (s.consent_step === "prescription") {
      box.appendChild(button(both("電子処方箋", "Electronic"), () => api("POST", "/api/reader/consent", { answer: "1" })));
      box.appendChild(button(both("紙の処方箋", "Paper"), () => api("POST", "/api/reader/consent", { answer: "2" }), "secondary"));
    } else {
      box.appendChild(button(both("同意する", "Agree"), () => api("POST", "/api/reader/consent", { answer: true })));
      box.appendChild(button(both("同意しない", "Do not agree"), () => api("POST", "/api/reader/consent", { answer: false }), "no"));
    }
  } else if (s.state === "visual" && s.methods.includes("pin")) {
    box.appendChild(button(both("暗証番号で確認", "Use the PIN instead"), () => api("POST", "/api/reader/method", { method: "pin" }), "secondary"));
  } else if (s.state === "face" && s.methods.length > 1) {
    box.appendChild(button(both("他の方法を選ぶ", "Another method"), () => api("POST", "/api/reader/method", { method: s.methods.includes("pin") ? "pin" : "visual" }), "secondary"));
  }
}

function renderKeypad() {
  const pad = $("keypad");
  pad.innerHTML = "";
  for (const k of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "C", "0", "OK"]) {
    pad.appendChild(button(k === "C" ? t("訂正", "Clear") : k === "OK" ? t("確定", "OK") : k, () => {
      if (k === "C") pin = "";
      else if (k === "OK") { if (pin.length === 4) { const p = pin; pin = ""; api("POST", "/api/reader/pin", { pin: p }); } }
      else if (pin.length < 4) pin += k;
      drawDots();
    }, k === "OK" ? "ok" : ""));
  }
}

function drawDots() {
  const dots = $("pin-dots");
  dots.innerHTML = "";
  for (let i = 0; i < 4; i++) { const d = document.createElement("span"); if (i < pin.length) d.className = "on"; dots.appendChild(d); }
}

function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function dateJa(iso) {  // 1985-05-12 → 1985年5月12日 (the reader's Japanese date format)
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(iso || "");
  return m ? `${Number(m[1])}年${Number(m[2])}月${Number(m[3])}日` : "";
}

function renderResult(s) {
  const box = $("result");
  const sc = s.screen;
  if (s.state !== "result" || !sc) { box.hidden = true; return; }
  const lines = [];
  for (const f of sc.facts) {
    const cls = f.label.en === "Eligibility" ? `validity${f.bad ? " bad" : ""}` : "";
    lines.push(`<div class="${cls}">${esc(t(f.label.ja, f.label.en))}: ${esc(t(f.value.ja, f.value.en))}</div>`);
  }
  for (const m of sc.messages) {
    lines.push(`<div class="msg">${m.code ? `<span class="code">${esc(m.code)}</span>` : ""}${esc(t(m.ja, m.en))}</div>`);
  }
  if (s.summary && s.summary.file) $("file").textContent = s.summary.file;
  box.innerHTML = lines.join("");
  box.hidden = lines.length === 0;
}

function render() {
  const s = snap;
  if (!s) return;
  const screen = $("screen");
  screen.dataset.state = s.state;
  screen.dataset.tone = s.state === "result" && s.screen ? s.screen.tone : "";
  $("camera-status").textContent = t(...cameraText);
  $("reader-id").textContent = s.connected ? t("接続中", "connected") : t("未接続", "disconnected");
  $("reader-id").title = s.reader_id;
  const [title, message] = screenText(s);
  $("title").textContent = title;
  $("message").textContent = message;
  const step = s.state === "result" && s.screen ? [s.screen.step.ja, s.screen.step.en] : STEP_NAMES[s.state] || ["", ""];
  $("step-name").textContent = t(step[0], step[1]);
  $("timer").textContent = s.seconds_left != null && s.state !== "error" ? t(`残り ${Math.ceil(s.seconds_left)} 秒`, `${Math.ceil(s.seconds_left)} s left`) : "";
  const notice = s.state === "error" && s.error ? s.error : s.notice;
  $("notice").hidden = !notice;
  if (notice) $("notice").textContent = `${/^R\d{3}$/.test(notice.code || "") ? "[" + notice.code + "] " : ""}${t(notice.ja, notice.en)}`;
  $("video-wrap").hidden = !(s.state === "face" || s.state === "matching");
  const pinScreen = s.state === "pin" || s.state === "phone_pin";
  $("pin-dots").hidden = $("keypad").hidden = !pinScreen;
  $("cancel").hidden = ["idle", "result", "error"].includes(s.state);
  $("card-slot").classList.toggle("present", !!s.card_present);
  $("card-slot").textContent = s.card_present
    ? (s.card ? `${t("カード", "Card")}: ${s.card.name}` : t("カードが置かれています", "Card on the reader"))
    : t("カード置き場", "card tray");
  const key = `${lang}|${s.state}|${s.step}|${(s.methods || []).join()}`;
  if (key !== drawnKey) {
    drawnKey = key;
    renderButtons(s);
    if (pinScreen) { renderKeypad(); drawDots(); }
  }
  renderResult(s);
  const photo = $("card-photo");
  if (s.card && s.card.has_photo) { const src = `/api/reader/cards/${s.card.card_id}/photo`; if (!photo.src.endsWith(src)) photo.src = src; photo.hidden = false; }
  else photo.hidden = true;
  $("visual-ok").disabled = s.state !== "visual";
  renderPhone(s);
  for (const box of document.querySelectorAll("[data-fault]")) box.checked = !!s.faults[box.dataset.fault];
  loadSamples();
  maybeAutoCapture(s);
}

function maybeAutoCapture(s) {
  if (s.state !== "face" || capturedStep === s.step) return;
  capturedStep = s.step;
  setTimeout(() => { if (snap && snap.state === "face" && snap.step === s.step) capture(); }, 1200);
}

async function capture() {
  const sample = $("sample-select").value;
  if (sample) return api("POST", "/api/reader/face/sample", { spec: sample });
  const video = $("video");
  if (!stream || !video.videoWidth) return api("POST", "/api/reader/camera-failure");
  const canvas = document.createElement("canvas");
  canvas.width = 640; canvas.height = 480;
  canvas.getContext("2d").drawImage(video, 0, 0, 640, 480);
  return api("POST", "/api/reader/face", { image: canvas.toDataURL("image/jpeg", 0.9) });
}

async function startCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    $("video").srcObject = stream;
    cameraText = ["カメラ: 使用中", "Camera: on"];
  } catch (e) {
    stream = null;
    cameraText = ["カメラ: 使えません（見本画像を選べます）", "Camera: unavailable (choose a sample image)"];
  }
}

function applyLang() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-ja]")) el.textContent = lang === "ja" ? el.dataset.ja : el.dataset.en;
  $("lang").textContent = lang === "ja" ? "English" : "日本語";
  drawnKey = "";
  render();
}

function renderPhone(s) {
  const general = $("general-reader");
  general.classList.toggle("absent", !s.general_reader);
  general.classList.toggle("waiting", s.state === "phone_hold");
  $("general-reader-label").textContent = s.general_reader
    ? (s.state === "phone_hold" ? t("汎用カードリーダー：ここにかざす", "General reader: hold the phone here")
      : t("汎用カードリーダー", "General-purpose card reader"))
    : t("汎用カードリーダーなし", "No general-purpose card reader");
  // A change being sent wins over a state polled before the server had it (no flicker back).
  if (pendingGeneralReader === null || pendingGeneralReader === !!s.general_reader) {
    pendingGeneralReader = null;
    $("general-reader-setting").checked = !!s.general_reader;
  }
  const free = !s.card_present && ["idle", "result", "error"].includes(s.state);
  $("phone-choose").disabled = !free || !phones.length;
  $("phone-auth-ok").disabled = $("phone-auth-fail").disabled = s.state !== "phone_confirm";
  for (const id of ["hold-ok", "hold-not-read", "hold-moved"]) $(id).disabled = s.state !== "phone_hold";
  const phone = s.phone;
  $("phone-help").textContent = phone
    ? t(`${phone.name}さんの${PLATFORMS[phone.platform]}（電子証明書の有効期限 ${dateJa(phone.certificate_not_after)}）`,
      `${phone.name}'s ${PLATFORMS[phone.platform]} (certificate valid until ${phone.certificate_not_after})`)
    : (phones.length ? t("患者さんが持っているスマートフォンを選んでください", "Choose the phone the patient has")
      : t("スマートフォンに搭載した人はいません", "Nobody has put the card on a phone"));
}

async function loadPhones() {
  const list = await (await fetch("/api/reader/phones")).json().catch(() => []);
  phones = Array.isArray(list) ? list : [];
  const select = $("phone-select");
  const chosen = select.value;
  select.innerHTML = "";
  for (const p of phones) {
    const o = document.createElement("option");
    o.value = p.phone_id;
    const lock = p.pin_locked ? t("・暗証番号ロック", ", PIN locked") : "";
    o.textContent = t(`${p.name}（${PLATFORMS[p.platform]}${lock}）`, `${p.name} (${PLATFORMS[p.platform]}${lock})`);
    select.appendChild(o);
  }
  if (phones.some((p) => p.phone_id === chosen)) select.value = chosen;
  drawnKey = "";
  render();
}

async function loadCards() {
  const cards = await api("GET", "/api/reader/cards");
  const select = $("card-select");
  const chosen = select.value;  // a refresh of the list keeps the card the trainer chose
  select.innerHTML = "";
  for (const c of cards) {
    const o = document.createElement("option");
    o.value = c.card_id;
    const born = c.birthdate ? t(`${dateJa(c.birthdate)}生・`, `born ${c.birthdate}, `) : "";
    o.textContent = `${c.name}（${born}${t(c.variant.ja, c.variant.en)}${c.pin_locked ? t("・暗証番号ロック", ", PIN locked") : ""}）`;
    select.appendChild(o);
  }
  if (cards.some((c) => c.card_id === chosen)) select.value = chosen;
}

let samplesKey = null;

async function loadSamples() {  // the prepared faces, in words; the card holder's first
  const key = `${lang}|${snap && snap.card ? snap.card.card_id : ""}`;
  if (key === samplesKey) return;
  samplesKey = key;
  const samples = await (await fetch("/api/reader/face/samples")).json();
  const select = $("sample-select");
  const chosen = select.value;
  select.innerHTML = "";
  const camera = document.createElement("option");
  camera.value = "";
  camera.textContent = t("（カメラの映像）", "(camera image)");
  select.appendChild(camera);
  const groups = [[t("カードの本人", "The card holder"), samples.holder], [t("見本の顔", "Sample faces"), samples.all]];
  for (const [label, items] of groups) {
    if (!items.length) continue;
    const group = document.createElement("optgroup");
    group.label = label;
    for (const item of items) {
      const o = document.createElement("option");
      o.value = item.spec;
      o.textContent = t(item.ja, item.en);
      group.appendChild(o);
    }
    select.appendChild(group);
  }
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

async function poll() {
  try { snap = await (await fetch("/api/reader/state")).json(); render(); } catch (e) { /* server restarting */ }
  setTimeout(poll, 400);
}

$("lang").addEventListener("click", () => { lang = lang === "ja" ? "en" : "ja"; applyLang(); loadCards(); loadPhones(); });
$("phone-choose").addEventListener("click", choosePhone);
$("phone-auth-ok").addEventListener("click", () => api("POST", "/api/reader/phone/confirm", { ok: true }));
$("phone-auth-fail").addEventListener("click", () => api("POST", "/api/reader/phone/confirm", { ok: false }));
$("hold-ok").addEventListener("click", () => api("POST", "/api/reader/phone/hold", { outcome: "ok" }));
$("hold-not-read").addEventListener("click", () => api("POST", "/api/reader/phone/hold", { outcome: "not_read" }));
$("hold-moved").addEventListener("click", () => api("POST", "/api/reader/phone/hold", { outcome: "moved_early" }));
$("general-reader-setting").addEventListener("change", async (e) => {
  pendingGeneralReader = e.target.checked;
  let data = null;
  try {
    data = await api("POST", "/api/reader/settings", { general_reader: e.target.checked });
  } finally {
    // Refused or unreachable: the next polled state shows the setting as it really is.
    if (!data || data.general_reader !== e.target.checked) pendingGeneralReader = null;
  }
  drawnKey = "";
});
$("place").addEventListener("click", () => api("POST", "/api/reader/card", { card_id: $("card-select").value }));
$("remove").addEventListener("click", async () => { await api("DELETE", "/api/reader/card"); loadCards(); });
$("capture").addEventListener("click", capture);
$("cancel").addEventListener("click", () => api("POST", "/api/reader/cancel"));
$("visual-ok").addEventListener("click", () => api("POST", "/api/reader/visual"));
for (const box of document.querySelectorAll("[data-fault]")) {
  box.addEventListener("change", () => {
    const value = box.dataset.value ? (box.checked ? Number(box.dataset.value) : 0) : box.checked;
    api("POST", "/api/reader/faults", { [box.dataset.fault]: value });
  });
}

applyLang();
loadCards();
loadPhones();
startCamera();
poll();
