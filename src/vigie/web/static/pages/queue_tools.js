"use strict";
/* The queue's tools: a box on each open informational alarm (signal lost, low battery, mains)
   to acknowledge them together with one note; "absence connue" on alarms raised within a
   known absence. The API refuses any other kind anyway. */
(() => {
  const { t, api, el } = Vigie;
  const INFORMATIONAL = ["signal_lost", "low_battery", "power"];
  const canWork = ["operator", "supervisor"].includes(Vigie.session.role);
  const form = document.getElementById("bulk");
  if (!form) return;  // the admin's page has no queue
  const all = document.getElementById("bulk-all");
  const chosen = new Set();
  let refresh = null;
  let eligible = [];

  function update() {
    form.hidden = !canWork || chosen.size === 0;
    document.getElementById("bulk-count").textContent = t("bulk.count").replace("{n}", chosen.size);
    if (all) all.checked = eligible.length > 0 && eligible.every((id) => chosen.has(id));
  }

  document.addEventListener("vigie:queue", (e) => {
    refresh = e.detail.refresh;
    const byId = new Map(e.detail.alarms.map((a) => [String(a.id), a]));
    eligible = [];
    for (const row of document.querySelectorAll("#queue tbody tr")) {
      const alarm = byId.get(row.dataset.id);
      if (!alarm) continue;
      if (alarm.known_absence) {
        row.classList.add("known");
        row.children[3].append(el("span", { class: "known-absence", title: t("absence.known.help") }, t("absence.known")));
      }
      if (!canWork) continue;
      const cell = el("td", { class: "pick" });
      if (INFORMATIONAL.includes(alarm.kind) && alarm.to_take) {
        eligible.push(alarm.id);
        cell.append(el("input", {
          type: "checkbox", class: "bulk-pick", "data-id": alarm.id,
          "aria-label": `${t("bulk.pick")} n° ${alarm.id}`,
          checked: chosen.has(alarm.id) ? "checked" : null,
          // A tick on a row another alarm has just taken is refused as a click on its button
          // (queue.js): the alarm ticked would be acknowledged with the others, unread.
          onclick: (ev) => { ev.stopPropagation(); if (e.detail.moved(row, alarm)) ev.preventDefault(); },
          onchange: (ev) => { if (ev.target.checked) chosen.add(alarm.id); else chosen.delete(alarm.id); update(); },
        }));
      }
      row.append(cell);
    }
    for (const id of [...chosen]) if (!eligible.includes(id)) chosen.delete(id);
    update();
  });

  if (all) all.addEventListener("change", () => {
    for (const id of eligible) if (all.checked) chosen.add(id); else chosen.delete(id);
    for (const box of document.querySelectorAll(".bulk-pick")) box.checked = chosen.has(Number(box.dataset.id));
    update();
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const note = new FormData(form).get("note");
    const ids = [...chosen];
    try {
      await api("/api/alarms/acknowledge-many", { method: "POST", body: { ids, note } });
      chosen.clear();
      form.reset();
      Vigie.flash(t("bulk.done").replace("{n}", ids.length), "ok");
      if (refresh) await refresh();
    } catch (err) {
      Vigie.flash(err.message);
    }
  });
})();
