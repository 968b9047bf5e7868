"use strict";
/* Supervision as charts (SVG drawn here, no chart library): refreshed every 30 s. */
(() => {
  if (!Vigie.requireLogin()) return;
  const { t, api, duration } = Vigie;
  const NS = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };

  /* Vertical bars with a label under each (every `labelEvery`-th) and the value on hover. */
  function bars(target, items, { color = "#1565c0", labelEvery = 1, format = String } = {}) {
    const W = 560, H = 220, pad = 28, base = H - 30;
    const max = Math.max(1, ...items.map((i) => i.value));
    // Named for a screen reader: the card's title, then every bar's label and value.
    const title = target.closest("section").querySelector("h2").textContent;
    const spoken = `${title}: ${items.map((i) => `${i.label} ${format(i.value)}`).join(", ")}`;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "bars", "aria-label": spoken });
    const step = (W - pad) / Math.max(items.length, 1);
    chart.append(svg("text", { x: 2, y: 12, class: "axis" }, format(max)));
    chart.append(svg("line", { x1: pad, y1: base, x2: W, y2: base, class: "axis-line" }));
    items.forEach((item, i) => {
      const h = (item.value / max) * (base - 16);
      const x = pad + i * step;
      const rect = svg("rect", { x: x + 2, y: base - h, width: Math.max(step - 4, 2), height: h, fill: item.color || color });
      rect.append(svg("title", {}, `${item.label}: ${format(item.value)}`));
      chart.append(rect);
      if (item.value) chart.append(svg("text", { x: x + step / 2, y: base - h - 4, class: "value", "text-anchor": "middle" }, format(item.value)));
      if (i % labelEvery === 0) chart.append(svg("text", { x: x + step / 2, y: H - 12, class: "label", "text-anchor": "middle" }, item.label));
    });
    target.replaceChildren(chart);
  }

  async function refresh() {
    let s;
    try {
      s = await api("/api/console/supervision?hours=24");
    } catch (err) {
      Vigie.flash(err.message);
      return;
    }
    const hour = new Intl.DateTimeFormat(document.documentElement.lang, { timeZone: "Europe/Paris", hour: "2-digit" });
    bars(document.getElementById("chart-hourly"),
      s.alarms_per_hour.map((h) => ({ label: hour.format(new Date(h.hour)), value: h.count })), { labelEvery: 3 });
    const tta = s.time_to_acknowledge_s;
    bars(document.getElementById("chart-tta"), [
      { label: `p50 (n=${tta.n})`, value: tta.p50 || 0, color: "#2e7d32" },
      { label: "p95", value: tta.p95 || 0, color: "#ef6c00" },
    ], { format: (v) => duration(v) });
    bars(document.getElementById("chart-operators"), s.open_per_operator.map((o) => ({
      label: o.operator || t("sup.unassigned"), value: o.count, color: o.operator ? "#1565c0" : "#c62828",
    })));
    const silent = s.devices.filter((d) => d.silent).length;
    const low = s.devices.filter((d) => d.low_battery).length;
    bars(document.getElementById("chart-devices"), [
      { label: t("sup.silent"), value: silent, color: "#6a1b9a" },
      { label: t("sup.lowbattery"), value: low, color: "#ef6c00" },
    ]);
    document.getElementById("sup-devices").replaceChildren(...s.devices.slice(0, 30).map((d) => Vigie.el("li", {},
      `${d.id} (${d.case})`,
      d.silent ? ` · ${d.silent_s === null ? t("sup.neverheard") : t("sup.silentfor").replace("{d}", duration(d.silent_s))}` : "",
      d.battery !== null ? ` · ${t("sup.battery").replace("{p}", Math.round(d.battery * 100))}` : "")));
    // Measures still watched past their end date: each awaits its end, recorded on its page.
    const pastEnd = document.getElementById("sup-pastend");
    pastEnd.replaceChildren(...s.past_end.map((p) => Vigie.el("li", { "data-case": p.case },
      Vigie.el("a", { href: `/cases/${p.placement_id}` }, p.case),
      ` ${t(`measure.${p.measure}`)} · ${t("sup.pastend.since")} ${Vigie.day(p.end_date)}`)));
    if (!s.past_end.length) pastEnd.append(Vigie.el("li", { class: "muted" }, t("sup.pastend.none")));
    // Devices heard though no watched case follows them: fitted without an assignment recorded
    // (watched by no one), or in stock and left on.
    const unfollowed = document.getElementById("sup-unfollowed");
    unfollowed.replaceChildren(...s.heard_unfollowed.slice(0, 30).map((d) => Vigie.el("li", { "data-device": d.device },
      `${d.device} (${Vigie.deviceKind(d.kind)}) · ${t("sup.unfollowed.last")} ${Vigie.when(d.last_heard)}`)));
    if (!s.heard_unfollowed.length) unfollowed.append(Vigie.el("li", { class: "muted" }, t("sup.unfollowed.none")));
    // Devices the gateway refused: a wrong key (someone posing as the device, her phone first
    // of all) or a device withdrawn from service that speaks again.
    const refused = document.getElementById("sup-refused");
    refused.replaceChildren(...s.refused_devices.slice(0, 30).map((r) => Vigie.el("li", { "data-device": r.device },
      `${r.device} (${r.case || t("sup.refused.nocase")}) · `,
      r.reasons.map((why) => t(`sup.refused.reason.${why.replace(/ /g, "_")}`)).join(", "),
      ` · ${r.protocols.join(", ")} · ${t("sup.refused.times")} ×${r.refusals} · ${t("sup.refused.last")} ${Vigie.when(r.last)}`)));
    if (!s.refused_devices.length) refused.append(Vigie.el("li", { class: "muted" }, t("sup.refused.none")));
    // Summaries of ended measures not made yet (their PDF failed, say): tried again, and shown
    // with the reports not delivered, which they are not yet either.
    document.getElementById("sup-notmade").replaceChildren(...s.summaries_not_made.map((m) =>
      Vigie.el("li", { class: "notmade", "data-placement": m.placement_id },
        Vigie.el("a", { href: `/cases/${m.placement_id}` }, t("sup.summary")),
        ` (${m.case}) · ${t("sup.notmade")} · ${m.attempts} ${t("sup.attempts")} · ${m.last_error || ""}`,
        ` · ${t("sup.nextattempt")} ${Vigie.when(m.next_attempt_at)}`)));
    // The last retention purge of locations, when it runs (nothing to do but let it end), or
    // when it never ended or failed: fixes the law says to delete are still stored until the
    // purge is run again to its end.
    const purge = s.unfinished_purge;
    document.getElementById("sup-purge-card").hidden = !purge;
    document.getElementById("sup-purge").textContent = !purge ? ""
      : purge.running
        ? `${t("sup.purge.running")} ${Vigie.when(purge.started_at)} · ${t("sup.purge.cutoff")} ${Vigie.when(purge.cutoff)}`
        : `${t("sup.purge.started")} ${Vigie.when(purge.started_at)} · ${t("sup.purge.cutoff")} ${Vigie.when(purge.cutoff)} · `
          + `${t(`sup.purge.${purge.state}`)}${purge.error ? ` (${purge.error})` : ""} · ${t("sup.purge.again")}`;
    document.getElementById("sup-updated").textContent = Vigie.when(s.now);
  }
  /* Reports the outbox gave up on (an alarm's incident report, a measure's summary): a
     supervisor sees each one and sends it again. */
  async function undelivered() {
    if (Vigie.session.role !== "supervisor") return;
    const list = document.getElementById("sup-undelivered");
    let items;
    try {
      items = await api("/api/outbox/undelivered");
    } catch (err) {
      Vigie.flash(err.message);
      return;
    }
    const { el, when } = Vigie;
    list.replaceChildren(...items.map((m) => el("li", { class: "undelivered", "data-id": m.id },
      m.kind === "summary"
        ? el("a", { href: `/cases/${m.placement_id}` }, t("sup.summary"))
        : el("a", { href: `/alarms/${m.alarm_id}` }, `${t("sup.alarm")} n° ${m.alarm_id}`),
      ` (${m.case}) → ${t(`case.${m.recipient_role}`)} ${m.recipient} · ${m.attempts} ${t("sup.attempts")}`,
      ` · ${when(m.created_at)} · ${m.last_error || ""} `,
      el("button", { type: "button", class: "resend", onclick: () => resend(m.id) }, t("sup.resend")))));
    if (!items.length) list.append(el("li", { class: "muted" }, t("sup.undelivered.none")));
  }

  async function resend(id) {
    try {
      await api(`/api/outbox/${id}/resend`, { method: "POST" });
      Vigie.flash(t("sup.resent"), "ok");
    } catch (err) {
      Vigie.flash(err.message);
    }
    await undelivered();
  }

  refresh();
  undelivered();
  setInterval(() => { refresh(); undelivered(); }, 30000);
})();
