// Phase editor: wavesurfer.js 8 + regions, run by gr.HTML's js_on_load with (element, trigger, props, ..., watch).
// props.value = {audio: FileData|null, duration, peaks, phases: [{start, end, text}]} comes from Python;
// user edits set props.value.phases and fire trigger('plan_edit', {phases}). User text only ever goes into
// textContent / input.value, never into HTML.
const root = element.querySelector(".pe");
const q = (sel) => root.querySelector(sel);
const waveEl = q(".pe-wave");
const timelineEl = q(".pe-timeline");
const textEl = q(".pe-text");
const listEl = q(".pe-list");
const msgEl = q(".pe-msg");
const timeEl = q(".pe-time");
const zoomEl = q(".pe-zoom");
const playBtn = q(".pe-play");
const playPhaseBtn = q(".pe-play-phase");
const deleteBtn = q(".pe-delete");
const addBtn = q(".pe-add");

const MIN_LEN = 0.1; // seconds, same as actavatar.phases.MIN_PHASE_S
const NEW_LEN = 2.0; // length of a phase added with the keyboard
const COLORS = ["34,197,94", "168,85,247", "234,179,8", "6,182,212", "239,68,68", "100,116,139", "236,72,153", "132,204,22"];

let ws = null;
let regions = null;
let audioKey = null;
let selected = null;
let commitTimer = null;
// Safety net for bursts of edits: once the user pauses, the settled state is sent once more, so the table (the
// input Generate reads) always converges to what the editor shows even if Gradio dropped an intermediate event.
let resendTimer = null;
let serial = 0;
let ready = false; // regions added before wavesurfer knows the duration would be clamped to 0 s
let pending = null; // phases to show once it is ready
const texts = new Map(); // region id -> action text (kept outside the DOM)

const fmt = (t) => (Math.round(t * 100) / 100).toFixed(2);
const round3 = (t) => Math.round(t * 1000) / 1000;
const say = (msg) => { msgEl.textContent = msg || ""; };
const duration = () => (ws && ws.getDuration()) || (props.value && props.value.duration) || 0;
const sorted = () => (regions ? regions.getRegions().slice().sort((a, b) => a.start - b.start) : []);
const textOf = (r) => texts.get(r.id) || "";

function currentPhases() {
  if (!regions || !ready) return (pending || (props.value && props.value.phases) || []).slice();
  return sorted().map((r) => ({ start: round3(r.start), end: round3(r.end), text: textOf(r) }));
}

function labelFor(r, i) {
  const el = document.createElement("div");
  el.textContent = `${i + 1}. ${textOf(r) || "…"}`;
  Object.assign(el.style, {
    padding: "2px 5px", fontSize: "12px", lineHeight: "16px", color: "#0f172a", whiteSpace: "nowrap",
    overflow: "hidden", textOverflow: "ellipsis", maxWidth: "100%", boxSizing: "border-box", pointerEvents: "none",
  });
  return el;
}

function paint() {
  sorted().forEach((r, i) => {
    const c = COLORS[i % COLORS.length];
    const color = `rgba(${c},${r === selected ? 0.5 : 0.25})`;
    r.setOptions({ color });
    r.setContent(labelFor(r, i));
    if (r.element) {
      r.element.style.setProperty("--pe-fill", color);
      r.element.setAttribute("data-phase-index", String(i));
      r.element.style.outline = r === selected ? "2px solid #1d4ed8" : "none";
    }
  });
  renderList();
}

function renderList() {
  const phases = currentPhases();
  const order = sorted();
  listEl.replaceChildren(
    ...phases.map((p, i) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "pe-item" + (order[i] && order[i] === selected ? " selected" : "");
      b.textContent = `${i + 1}. ${fmt(p.start)}–${fmt(p.end)} s  ${p.text || "(no action yet)"}`;
      b.addEventListener("click", () => { if (order[i]) select(order[i], true); });
      li.append(b);
      return li;
    }),
  );
  root.classList.toggle("has-phases", phases.length > 0);
}

function select(r, focus) {
  selected = r || null;
  textEl.disabled = !selected;
  textEl.value = selected ? textOf(selected) : "";
  playPhaseBtn.disabled = deleteBtn.disabled = !selected;
  root.querySelectorAll(".pe-chip").forEach((b) => { b.setAttribute("aria-disabled", selected ? "false" : "true"); });
  paint();
  if (selected && focus) textEl.focus();
}

function commit() {
  clearTimeout(commitTimer);
  commitTimer = null;
  const phases = currentPhases();
  props.value = Object.assign({}, props.value || {}, { phases });
  renderList();
  trigger("plan_edit", { phases });
  clearTimeout(resendTimer);
  resendTimer = setTimeout(() => trigger("plan_edit", { phases: currentPhases() }), 1000);
}

function scheduleCommit() {
  clearTimeout(commitTimer);
  commitTimer = setTimeout(commit, 350);
}

// Free interval [lo, hi] around `ref` that no other phase occupies.
function bounds(r, ref) {
  let lo = 0;
  let hi = duration();
  const mid = (ref.start + ref.end) / 2;
  for (const o of regions.getRegions()) {
    if (o === r) continue;
    if (o.end <= ref.start + 1e-6 || (o.start < ref.end && (o.start + o.end) / 2 < mid)) lo = Math.max(lo, o.end);
    else hi = Math.min(hi, o.start);
  }
  return [lo, hi];
}

function onUpdate(r, side) {
  const ref = r.peLast || { start: r.start, end: r.end };
  const [lo, hi] = bounds(r, ref);
  let s = r.start;
  let e = r.end;
  if (!side) {
    const len = Math.min(e - s, hi - lo);
    s = Math.min(Math.max(s, lo), hi - len);
    e = s + len;
  } else if (side === "start") {
    s = Math.min(Math.max(s, lo), e - MIN_LEN);
  } else {
    e = Math.max(Math.min(e, hi), s + MIN_LEN);
  }
  if (Math.abs(s - r.start) > 1e-9 || Math.abs(e - r.end) > 1e-9) r.setOptions({ start: s, end: e });
  r.peLast = { start: r.start, end: r.end };
}

function onCreated(r) {
  if (r.id.startsWith("pe-")) return; // added from props.value; labelled by paint()
  // Drawn by the user: keep it inside the free gap it overlaps most, or drop it if there is no room.
  let best = null;
  for (const [lo, hi] of gaps(r)) {
    const overlap = Math.min(hi, r.end) - Math.max(lo, r.start);
    if (hi - lo >= MIN_LEN && (!best || overlap > best[2])) best = [lo, hi, overlap];
  }
  if (!best || best[2] <= 0) {
    r.remove();
    say("Phases cannot overlap: draw the new phase on a free part of the waveform.");
    return;
  }
  let s = Math.max(r.start, best[0]);
  let e = Math.min(r.end, best[1]);
  if (e - s < MIN_LEN) { s = Math.min(s, best[1] - MIN_LEN); e = s + MIN_LEN; }
  r.setOptions({ start: s, end: e });
  r.peLast = { start: s, end: e };
  texts.set(r.id, "");
  say("New phase: type its action below or pick a preset.");
  select(r, true);
  commit();
}

// Free gaps of the timeline, ignoring `skip`.
function gaps(skip) {
  const out = [];
  let t = 0;
  for (const o of sorted()) {
    if (o === skip) continue;
    if (o.start > t) out.push([t, o.start]);
    t = Math.max(t, o.end);
  }
  if (duration() > t) out.push([t, duration()]);
  return out;
}

function addRegion(p) {
  const id = `pe-${++serial}`;
  texts.set(id, p.text || "");
  const r = regions.addRegion({ id, start: p.start, end: p.end, minLength: MIN_LEN, color: "rgba(0,0,0,0.1)" });
  r.peLast = { start: p.start, end: p.end };
  return r;
}

function setPhases(phases) {
  if (!ready) { pending = phases || []; renderList(); return; }
  pending = null;
  const keep = selected ? selected.start : null;
  selected = null;
  texts.clear();
  regions.clearRegions();
  let again = null;
  for (const p of phases || []) {
    const r = addRegion(p);
    if (keep !== null && Math.abs(p.start - keep) < 1e-3) again = r;
  }
  select(again, false);
}

function addPhaseAtCursor() {
  if (!ws || !ready) { say("Upload or record audio first."); return; }
  const t = ws.getCurrentTime();
  const free = gaps(null).filter(([lo, hi]) => hi - Math.max(lo, t) >= MIN_LEN);
  const any = gaps(null).filter(([lo, hi]) => hi - lo >= MIN_LEN);
  const gap = free[0] || any[0];
  if (!gap) { say("No free room for another phase: shorten or delete one first."); return; }
  const s = free[0] ? Math.max(gap[0], t) : gap[0];
  const r = addRegion({ start: s, end: Math.min(gap[1], s + NEW_LEN), text: "" });
  select(r, true);
  commit();
}

function removeSelected() {
  if (!selected) return;
  texts.delete(selected.id);
  selected.remove();
  selected = null;
  select(null);
  commit();
  say("Phase deleted.");
}

function build(v) {
  if (ws) { ws.destroy(); ws = null; regions = null; }
  ready = false;
  pending = null;
  selected = null;
  texts.clear();
  const audio = v.audio && (v.audio.url || v.audio.path) ? v.audio : null;
  root.classList.toggle("has-audio", !!audio);
  zoomEl.value = "0";
  if (!audio) { select(null); return; }
  if (!window.WaveSurfer || !window.WaveSurfer.Regions) { say("The waveform library did not load: reload the page."); return; }
  regions = window.WaveSurfer.Regions.create();
  ws = window.WaveSurfer.create({
    container: waveEl,
    height: 110,
    waveColor: "#94a3b8",
    progressColor: "#475569",
    cursorColor: "#dc2626",
    barWidth: 2,
    barGap: 1,
    barRadius: 2,
    normalize: true,
    url: audio.url || "",
    peaks: [v.peaks || []],
    duration: v.duration,
    plugins: [
      regions,
      window.WaveSurfer.Timeline.create({ container: timelineEl, height: 18 }),
      window.WaveSurfer.Zoom.create({ scale: 0.25, maxZoom: 400 }),
    ],
  });
  regions.enableDragSelection({ color: "rgba(37,99,235,0.25)", minLength: MIN_LEN });
  regions.on("region-initialized", (r) => { if (r.element) r.element.style.setProperty("--pe-fill", "rgba(37,99,235,0.25)"); });
  regions.on("region-created", (r) => { onCreated(r); paint(); });
  regions.on("region-update", (r, side) => onUpdate(r, side));
  regions.on("region-updated", (r) => { r.peLast = { start: r.start, end: r.end }; commit(); paint(); });
  regions.on("region-clicked", (r, e) => { e.stopPropagation(); select(r, true); });
  ws.on("timeupdate", (t) => { timeEl.textContent = `${fmt(t)} / ${fmt(duration())} s`; });
  ws.on("ready", () => {
    timeEl.textContent = `0.00 / ${fmt(duration())} s`;
    if (!ready) { ready = true; setPhases(pending); }
  });
  ws.on("play", () => { playBtn.textContent = "⏸ Pause"; });
  ws.on("pause", () => { playBtn.textContent = "▶ Play"; });
  ws.on("zoom", (px) => { zoomEl.value = String(Math.round(px)); });
  setPhases(v.phases);
}

function apply(v) {
  v = v || {};
  const key = v.audio ? `${v.audio.url || v.audio.path}|${v.duration}` : null;
  if (key !== audioKey) {
    audioKey = key;
    build(v);
  } else if (regions) {
    setPhases(v.phases);
  } else {
    renderList();
  }
  say("");
}

playBtn.addEventListener("click", () => { if (ws) ws.playPause(); else say("Upload or record audio first."); });
playPhaseBtn.addEventListener("click", () => { if (selected) selected.play(true); });
deleteBtn.addEventListener("click", removeSelected);
addBtn.addEventListener("click", addPhaseAtCursor);
zoomEl.addEventListener("input", () => { if (ws) ws.zoom(Number(zoomEl.value)); });
textEl.addEventListener("input", () => {
  if (!selected) return;
  say(""); // the "type its action" hint has been followed
  texts.set(selected.id, textEl.value);
  paint();
  scheduleCommit();
});
textEl.addEventListener("change", () => { if (selected && commitTimer) commit(); });
textEl.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); commit(); } });
root.addEventListener("click", (e) => {
  const chip = e.target.closest && e.target.closest(".pe-chip");
  if (!chip) return;
  if (!selected) { say("Select a phase first: click it on the waveform or in the list."); return; }
  texts.set(selected.id, chip.dataset.action);
  textEl.value = chip.dataset.action;
  say("");
  paint();
  commit();
});
root.addEventListener("keydown", (e) => {
  if (e.target === textEl) return;
  if ((e.key === "Delete" || e.key === "Backspace") && selected) { e.preventDefault(); removeSelected(); }
  else if (e.key === " " && e.target.tagName !== "BUTTON" && ws) { e.preventDefault(); ws.playPause(); }
});

watch("value", () => apply(props.value));
apply(props.value);
