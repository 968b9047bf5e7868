"use strict";
/* The shift handover: write the log for the next operators; the last day's notes and who read them. */
(() => {
  if (!Vigie.requireLogin()) return;
  const { t, api, el, when } = Vigie;
  const list = document.getElementById("handover-list");
  async function refresh() {
    const notes = await api("/api/handover");
    list.replaceChildren(...notes.map((n) => el("li", { "data-note": n.id },
      el("strong", {}, `${n.author_name || n.author} · ${when(n.created_at)}`), el("br"), n.text, el("br"),
      el("small", { class: "muted" }, n.read_by.length
        ? `${t("handover.readby")} ${n.read_by.map((r) => `${r.user} (${when(r.at)})`).join(", ")}`
        : t("handover.unread")))));
    if (!notes.length) list.append(el("li", { class: "muted" }, t("handover.none")));
  }
  document.getElementById("handover-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = new FormData(e.target).get("text");
    try {
      await api("/api/handover", { method: "POST", body: { text } });
      e.target.reset();
      Vigie.flash(t("handover.sent"), "ok");
      await refresh();
    } catch (err) { Vigie.flash(Vigie.say(err)); }
  });
  refresh().catch((err) => Vigie.flash(Vigie.say(err)));
})();
