"use strict";
/* On every page once logged in: the header's search, the shift handover shown at login until
   read, and the supervisor's chime when an alarm escalates. */
(() => {
  if (document.body.dataset.page === "login" || !Vigie.session.token) return;
  const { t, api, el } = Vigie;
  const role = Vigie.session.role;

  /* Search: a case by reference, a person's name or a device id; the API keeps to the
     caller's cases. Results are links to the case file. */
  const form = document.getElementById("search");
  const input = document.getElementById("search-q");
  const list = document.getElementById("search-results");
  let asked = 0;
  async function search() {
    const q = input.value.trim();
    const mine = ++asked;
    if (q.length < 2) { list.hidden = true; return; }
    let found;
    try {
      found = await api(`/api/search?q=${encodeURIComponent(q)}`);
    } catch (err) {
      Vigie.flash(Vigie.say(err));
      return;
    }
    if (mine !== asked) return;  // a later keystroke has asked again
    list.replaceChildren(...(found.length ? found.map((f) => el("li", {},
      el("a", { href: `/cases/${f.placement_id}`, "data-case": f.case_ref },
        `${f.case_ref} · ${t(`search.match.${f.match}`)} : ${f.label} (${t(`measure.${f.measure}`)})`)))
      : [el("li", { class: "none muted" }, t("search.none"))]));
    list.hidden = false;
  }
  if (form && input) {
    let timer;
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 200); });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const first = list.querySelector("a");
      if (first) location.assign(first.href); else search();
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { list.hidden = true; input.blur(); }
      if (e.key === "ArrowDown") { const a = list.querySelector("a"); if (a) { e.preventDefault(); a.focus(); } }
    });
    document.addEventListener("click", (e) => { if (!form.contains(e.target)) list.hidden = true; });
  }

  if (!["operator", "supervisor"].includes(role)) return;

  /* The handover: the previous shift's notes, until this user says they have read them. */
  async function handover() {
    let notes;
    try { notes = await api("/api/handover/pending"); } catch (err) { return; }
    if (!notes.length) return;
    const dialog = el("dialog", { id: "handover-dialog", class: "handover-dialog", "aria-labelledby": "handover-title" },
      el("h2", { id: "handover-title" }, t("handover.pending")),
      el("ul", { class: "handover-notes" }, ...notes.map((n) => el("li", { "data-note": n.id },
        el("strong", {}, `${n.author_name || n.author} · ${Vigie.when(n.created_at)}`), el("br"), n.text))),
      el("button", { type: "button", class: "primary", id: "handover-read", onclick: async () => {
        try {
          for (const n of notes) await api(`/api/handover/${n.id}/read`, { method: "POST" });
          dialog.close();
          dialog.remove();
        } catch (err) { Vigie.flash(Vigie.say(err)); }
      } }, t("handover.read")));
    // Not dismissed by Escape: reading the handover is acknowledged, not skipped.
    dialog.addEventListener("cancel", (e) => e.preventDefault());
    document.body.append(dialog);
    dialog.showModal();
  }
  handover();

  /* The supervisor's chime: a short two-tone when an alarm escalates (not the BAR alarm's
     sound); an alarm within a known absence never escalates. */
  if (role !== "supervisor") return;
  let known = null;
  function chime() {
    try {
      const ctx = new AudioContext();
      for (const [i, f] of [[0, 523], [1, 784]]) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        gain.gain.value = 0.2;
        osc.type = "triangle";
        osc.frequency.value = f;
        osc.connect(gain).connect(ctx.destination);
        osc.start(ctx.currentTime + i * 0.18);
        osc.stop(ctx.currentTime + i * 0.18 + 0.15);
      }
    } catch (err) { console.warn("no chime:", err.message); }
  }
  async function escalations() {
    let escalated;
    try { escalated = await api("/api/alarms?escalated=true&to_take=true"); } catch (err) { return; }
    const ids = new Set(escalated.map((a) => a.id));
    const fresh = known === null ? [] : [...ids].filter((id) => !known.has(id));
    known = ids;
    if (fresh.length) {
      document.body.dataset.chimed = String(Number(document.body.dataset.chimed || 0) + 1);
      chime();
      Vigie.flash(`${t("escalation.chime")} : n° ${fresh.join(", ")}`);
    }
  }
  VigieAlarms.subscribe(escalations);  // the alarm layer's stream: one per tab
})();
