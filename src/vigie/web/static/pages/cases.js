"use strict";
(async () => {
  if (!Vigie.requireLogin()) return;
  const { t, api, el } = Vigie;
  const body = document.querySelector("#cases tbody");
  try {
    const [placements, persons] = await Promise.all([api("/api/placements"), api("/api/persons")]);
    const names = new Map(persons.map((p) => [p.id, `${p.last_name} ${p.first_name}`]));
    for (const p of placements) {
      body.append(el("tr", { class: p.status === "active" ? "" : "muted", "data-status": p.status },
        el("td", {}, el("a", { href: `/cases/${p.id}` }, p.case_ref)),
        el("td", {}, t(`measure.${p.measure}`)),
        el("td", {}, names.get(p.person_id) || `#${p.person_id}`),
        el("td", {}, Vigie.day(p.start_date)), el("td", {}, Vigie.day(p.end_date)),
        el("td", {}, t(`placement.status.${p.status}`))));
    }
  } catch (err) {
    Vigie.flash(err.message);
  }
})();
