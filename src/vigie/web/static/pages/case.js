"use strict";
/* The case file: person, court order, the law's decision and dates, devices, track, timeline. */
(async () => {
  if (!Vigie.requireLogin()) return;
  const { t, api, el, when } = Vigie;
  const id = document.querySelector("[data-placement]").dataset.placement;
  // A section drawn says so (it was marked busy, with its room kept, until then).
  const drawn = (section) => document.getElementById(section).removeAttribute("aria-busy");
  const facts = (node, pairs) => node.replaceChildren(...pairs.flatMap(([k, v]) =>
    [el("dt", {}, k), el("dd", {}, v === null || v === undefined || v === "" ? "—" : String(v))]));
  // The measure's summary (bilan): shown in a sandboxed frame, or downloaded as a PDF.
  document.getElementById("summary-show").addEventListener("click", async () => {
    try {
      const frame = document.getElementById("summary");
      frame.srcdoc = await api(`/api/placements/${id}/summary.html`, { headers: { Accept: "text/html" } });
      frame.hidden = false;
    } catch (err) {
      Vigie.flash(Vigie.say(err));
    }
  });
  document.getElementById("summary-pdf").addEventListener("click", async () => {
    let response;
    try {
      response = await Vigie.send(`/api/placements/${id}/summary.pdf`);
    } catch (err) {
      Vigie.flash(err.message);
      return;
    }
    if (!response.ok) { Vigie.flash(`PDF: HTTP ${response.status}`); return; }
    const name = (response.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
    await Vigie.saveFile(response, name ? name[1] : "bilan.pdf");
  });
  let placement, activity;
  try {
    [placement, activity] = await Promise.all([api(`/api/placements/${id}`), api(`/api/console/placements/${id}/activity?hours=24`)]);
  } catch (err) {
    document.querySelector("[data-placement]").replaceChildren(el("p", { class: "error", id: "case-error" }, Vigie.say(err)));
    return;
  }
  const person = await api(`/api/persons/${placement.person_id}`);
  document.getElementById("c-ref").textContent = placement.case_ref;
  document.getElementById("c-export").href = `/exports?case=${encodeURIComponent(placement.case_ref)}`;
  document.getElementById("c-measure").textContent = t(`measure.${placement.measure}`);
  facts(document.getElementById("c-person"), [
    [t("case.name"), `${person.last_name} ${person.first_name}`],
    [t("case.birth"), Vigie.day(person.birth_date)], [t("case.address"), person.address], [t("case.phone"), person.phone],
  ]);
  facts(document.getElementById("c-order"), [
    [t("case.courtorder"), `${placement.court_order_ref} (${Vigie.day(placement.court_order_date)})`],
    [t("case.start"), Vigie.day(placement.start_date)], [t("case.end"), Vigie.day(placement.end_date)],
    [t("case.judge"), placement.judge.name], [t("case.prosecutor"), placement.prosecutor.name],
    [t("case.spip"), [placement.spip.name, placement.spip.phone].filter(Boolean).join(" · ")],
    [t("contacts.police"), [placement.police_station, placement.police_phone].filter(Boolean).join(" · ")],
    [t("case.status"), t(`placement.status.${placement.status}`)],
    [t("case.schedule"), Vigie.hours(placement.schedule)],
    [t("zones.alertkm"), placement.alert_distance_km],
  ]);
  const today = Vigie.parisDate(Vigie.now());  // the deadlines are dates in France
  const soon = Vigie.parisDate(Vigie.now() + 30 * 86400e3);
  const deadlines = Object.entries(placement.deadlines).sort((a, b) => a[1].localeCompare(b[1]));
  document.getElementById("c-deadlines").replaceChildren(...deadlines.map(([name, due]) =>
    el("li", { class: due < today ? "past" : due <= soon ? "soon" : "" }, el("time", { datetime: due }, Vigie.day(due)), ` ${t(`lawdate.${name}`)}`)));
  const decision = placement.law_decision;
  const outcome = document.getElementById("c-outcome");
  outcome.textContent = t(`outcome.${decision.outcome}`);
  outcome.className = `outcome outcome-${decision.outcome}`;
  facts(document.getElementById("c-dates"), Object.entries(decision.dates || {}).map(([k, v]) => [t(`lawdate.${k}`), Vigie.day(v)]));
  // The articles of law it applied: not the contract an assumption cites (a decision stored
  // before the engine left it out lists it: `vigie.law.decision.applied_articles`).
  let articles = (decision.articles || []).filter((a) => a !== "CONTRACT");
  // The trace in words: the rule's title (the calculator's catalogue), its id only as a <code>
  // after it; the engine's English notes, and its citations, in the page's language where the
  // console knows them.
  const trace = decision.trace || [];
  let notes = trace.map((s) => ({ text: s.note, lang: "en" }));
  let citations = trace.map((s) => s.citation);
  try {
    if (trace.length || articles.length) {
      const words = await api("/console/law/notes", { method: "POST", body: { notes: trace.map((s) => s.note), citations: [...articles, ...citations] } });
      notes = words.notes;
      articles = words.citations.slice(0, articles.length);
      citations = words.citations.slice(articles.length);
    }
  } catch { /* the English notes, marked as such, rather than no trace */ }
  document.getElementById("c-articles").textContent = articles.join(" · ");
  const pageLang = document.documentElement.lang;
  document.querySelector("#c-trace tbody").replaceChildren(...trace.map((s, i) => {
    // A rule whose id ends in a figure (assumption.ecrou_date) is named by its family.
    const key = [`law.rule.${s.rule}`, `law.rule.${s.rule.replace(/\.[^.]*$/, "")}`].find((k) => t(k) !== k);
    const note = notes[i];
    return el("tr", { class: s.held ? "held" : "not-held", "data-rule": s.rule },
      el("td", {}, ...(key ? [`${t(key)} `] : []), el("code", {}, s.rule)), el("td", {}, citations[i]),
      el("td", {}, el("span", { "aria-hidden": "true" }, s.held ? "✓" : "·"), " ", el("span", { class: "sr-only" }, t(s.held ? "law.held.yes" : "law.held.no"))),
      el("td", note.lang === pageLang ? { class: "law-note" } : { class: "law-note", lang: note.lang }, note.text));
  }));
  drawn("c-decision");
  /* The case's devices now, and those whose position is uncertain: drawn again after a
     supervisor gives the case a device (case_tools.js sends the case read again). */
  function drawDevices(placement, activity) {
    document.querySelector("#c-devices tbody").replaceChildren(...activity.devices.map((d) => el("tr", { "data-device": d.id },
      el("td", {}, d.id), el("td", {}, t(`device.${d.role}`)),
      el("td", { class: d.battery !== null && d.battery < 0.2 ? "low" : "" }, d.battery === null ? "—" : `${Math.round(d.battery * 100)} %`),
      el("td", {}, when(d.last_contact)))));
    // Devices whose latest fix was too coarse to decide: detection asked them for a fresh one.
    const uncertain = Object.entries(placement.uncertain || {});
    const uncertainLine = document.getElementById("c-uncertain");
    uncertainLine.hidden = !uncertain.length;
    uncertainLine.textContent = uncertain.length
      ? `${t("case.uncertain")} ${uncertain.map(([id, since]) => `${id} (${when(since)})`).join(", ")}` : "";
  }
  drawDevices(placement, activity);
  document.addEventListener("vigie:devices", (e) => drawDevices(e.detail.placement, e.detail.activity));
  const commands = document.querySelector("#c-commands tbody");
  commands.replaceChildren(...activity.commands.map((c) => el("tr", { class: `command-${c.state}` },
    el("td", {}, c.device),
    el("td", {}, `${t(`command.${c.kind}`)}${c.args.seconds ? ` (${c.args.seconds} s)` : ""}`),
    el("td", {}, `${t(`command.state.${c.state}`)} · ${when(c.created_at)} · ${c.requested_by}`),
    el("td", {}, c.reply ?? "—"))));
  if (!activity.commands.length) commands.append(el("tr", {}, el("td", { colspan: "4", class: "muted" }, t("case.nocommand"))));
  drawn("c-file");
  const reading = (o) => o.type === "battery" ? `${Math.round(o.value * 100)} %`
    : typeof o.value === "boolean" ? t(`obs.${o.type}.${o.value}`) : (o.value ?? "");
  const events = [
    ...activity.alarms.map((a) => ({ t: a.raised_at, node: el("li", { class: `alarm p${a.priority}`, "data-type": "alarm" },
      el("time", {}, when(a.raised_at)), " ", el("a", { href: `/alarms/${a.id}` }, `${t(`kind.${a.kind}`)} n° ${a.id}`),
      ` · ${t(`status.${a.status}`)}${a.qualification ? ` (${t(`qualification.${a.qualification}`)})` : ""}`) })),
    ...activity.observations.map((o) => ({ t: o.t, node: el("li", { class: "obs muted", "data-type": "reading" },
      el("time", {}, when(o.t)), ` ${o.device} · ${t(`obs.${o.type}`)} ${reading(o)}`) })),
    ...activity.actions.map((a) => ({ t: a.at, node: el("li", { class: "action", "data-type": "action" },
      el("time", {}, when(a.at)), " ", el("a", { href: `/alarms/${a.alarm_id}` }, `n° ${a.alarm_id}`),
      ` · ${t(`action.${a.action}`)}${a.to ? ` ${a.to}` : ""} · ${a.by || "—"}${a.note ? ` : ${a.note}` : ""}`) })),
  ].sort((a, b) => new Date(b.t) - new Date(a.t));
  document.getElementById("c-timeline").replaceChildren(...events.map((e) => e.node));
  if (!events.length) document.getElementById("c-timeline").append(el("li", { class: "muted" }, t("case.noalarm")));
  const map = Vigie.map("map");
  const layers = L.featureGroup().addTo(map);
  for (const zone of placement.zones) Vigie.zoneLayer(zone).addTo(layers);
  if (activity.track.length) Vigie.trackLayer(activity.track).addTo(layers);
  if (person.home_lat !== null && person.home_lat !== undefined) {
    L.marker([person.home_lat, person.home_lon], { title: t("map.home") }).addTo(layers);
  }
  if (layers.getLayers().length) map.fitBounds(layers.getBounds(), { maxZoom: 15, padding: [20, 20] });
  drawn("c-track");
  // The case's tools (track replay, known absences, timeline filter) work on what is drawn.
  document.dispatchEvent(new CustomEvent("vigie:case", { detail: { map, placement, activity } }));
})();
