"use strict";
/* One alarm: where, what obligation, the guided procedure, closing, and the report. */
(async () => {
  if (!Vigie.requireLogin()) return;
  const { t, api, el, when, duration, since } = Vigie;
  const id = document.querySelector("[data-alarm]").dataset.alarm;
  const role = Vigie.session.role;
  const canWork = ["operator", "supervisor"].includes(role);
  const PROCEDURES = {
    alert: ["call_protected", "police_alerted", "call_wearer"],
    pre_alert: ["warn_wearer", "call_wearer", "call_protected"],
    zone_entry: ["call_wearer", "police_alerted", "spip_informed"],
    zone_exit: ["call_wearer", "police_alerted", "spip_informed"],
    absence: ["call_wearer", "spip_informed"],
    tamper: ["call_wearer", "police_alerted", "spip_informed"],
  };
  const LIVE = ["acknowledged", "in_progress"];
  const map = Vigie.map("map");
  const layers = L.featureGroup().addTo(map);
  let alarm = null;
  let context = null;

  async function load() {
    try {
      [alarm, context] = await Promise.all([api(`/api/alarms/${id}`), api(`/api/console/alarms/${id}/context`)]);
    } catch (err) {
      document.querySelector(".detail").replaceChildren(el("p", { class: "error" }, err.message));
      return;
    }
    render();
    await drawMap();
    if (alarm.status === "closed") showReport();
  }

  function render() {
    document.getElementById("a-kind").textContent = t(`kind.${alarm.kind}`);
    const status = document.getElementById("a-status");
    status.textContent = t(`status.${alarm.status}`);
    status.className = `status s-${alarm.status}`;
    const link = document.getElementById("a-case");
    link.textContent = alarm.case;
    if (alarm.placement_id) link.href = `/cases/${alarm.placement_id}`;
    document.getElementById("a-raised").textContent = when(alarm.raised_at)
      + (alarm.detection_lag_s >= 60
        ? ` · ${t("alarm.detected")} ${duration(alarm.detection_lag_s)} ${t("alarm.after")}` : "");
    document.getElementById("a-obligation").textContent = context.obligation;
    document.getElementById("a-article").textContent = context.article;
    const detail = Object.entries(alarm.detail).filter(([, v]) => typeof v !== "object")
      .map(([k, v]) => `${k}: ${v}`).join(" · ");
    document.getElementById("a-detail").textContent = detail;
    document.getElementById("ack").hidden = !(canWork && alarm.status === "open");
    const done = new Set(alarm.actions.map((a) => a.action));
    const steps = PROCEDURES[alarm.kind] || ["call_wearer", "spip_informed"];
    const list = document.getElementById("procedure");
    list.replaceChildren(...steps.map((action, i) => el("li", { class: done.has(action) ? "done" : "" },
      el("button", {
        type: "button", "data-action": action, disabled: !(canWork && LIVE.includes(alarm.status)) || null,
        onclick: () => act(action),
      }, `${done.has(action) ? "✓ " : ""}${t(`action.${action}`)}`), " ", el("kbd", {}, String(i + 1)))));
    document.getElementById("actions").replaceChildren(...alarm.actions.map((a) =>
      el("li", {}, el("time", {}, when(a.at)), ` ${t(`action.${a.action}`)}`, a.note ? ` — ${a.note}` : "")));
    // Commands sent for this alarm (the wearer warned, the rate raised) and the device's answer.
    document.getElementById("commands").replaceChildren(...(alarm.commands || []).map((c) =>
      el("li", {}, el("time", {}, when(c.created_at)),
        ` ${t(`command.${c.kind}`)} ${c.device} · ${t(`command.state.${c.state}`)}`, c.reply ? ` — ${c.reply}` : "")));
    for (const form of ["note-form", "close-form"]) {
      document.getElementById(form).hidden = !(canWork && LIVE.includes(alarm.status));
    }
    tick();
  }

  function tick() {
    if (!alarm) return;
    document.getElementById("a-age").textContent = duration(since(alarm.raised_at));
    document.getElementById("a-tta").textContent = alarm.status === "open"
      ? duration(since(alarm.opened_at)) : duration(alarm.time_to_acknowledge_s);
  }
  setInterval(tick, 1000);

  async function drawMap() {
    layers.clearLayers();
    for (const zone of context.zones) Vigie.zoneLayer(zone).addTo(layers);
    if (context.track.length) Vigie.trackLayer(context.track).addTo(layers);
    const note = document.getElementById("protected-note");
    note.hidden = true;
    // Only the operator holding this live BAR alarm may locate her (the API refuses, and audits,
    // anyone else): the others are not even made to ask.
    if (context.bar && alarm.holding) {
      try {
        const answer = await api(`/api/alarms/${id}/protected-position`);
        const p = answer.protected.protected_position
          || { lat: answer.protected.protected_lat, lon: answer.protected.protected_lon };
        if (p.lat !== undefined) {
          L.circleMarker([p.lat, p.lon], { radius: 8, color: "#6a1b9a", fillOpacity: 1 })
            .bindTooltip(Vigie.tip(t("map.protected"))).addTo(layers);
          if (context.pre_alert_m) L.circle([p.lat, p.lon], { radius: context.pre_alert_m, color: "#ef6c00", fill: false, dashArray: "6" }).addTo(layers);
          if (context.alert_m) L.circle([p.lat, p.lon], { radius: context.alert_m, color: "#c62828", fill: false }).addTo(layers);
        }
      } catch (err) {
        note.textContent = err.message;
        note.hidden = false;
      }
    } else if (context.bar) {
      note.textContent = t("alarm.protectedhidden");
      note.hidden = false;
    }
    if (layers.getLayers().length) map.fitBounds(layers.getBounds(), { maxZoom: 16, padding: [20, 20] });
  }

  async function post(path, body) {
    try {
      await api(path, { method: "POST", body });
      alarm = await api(`/api/alarms/${id}`);
      render();
      return true;
    } catch (err) {
      Vigie.flash(err.message);
      return false;
    }
  }

  async function acknowledge() {
    if (await post(`/api/alarms/${id}/acknowledge`)) await drawMap();
  }
  const act = (action, note) => post(`/api/alarms/${id}/actions`, { action, note: note || null });

  document.getElementById("ack").addEventListener("click", acknowledge);
  document.getElementById("note-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const note = new FormData(e.target).get("note").trim();
    if (note && (await act("note", note))) e.target.reset();
  });
  document.getElementById("close-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    if (await post(`/api/alarms/${id}/close`, { qualification: form.get("qualification"), note: form.get("note").trim() || null })) {
      Vigie.flash(t("alarm.closed"), "ok");
      showReport();
    }
  });

  // The report as closing would make it, before closing: the API renders it and saves nothing.
  document.getElementById("preview").addEventListener("click", async () => {
    const form = new FormData(document.getElementById("close-form"));
    try {
      const html = await api(`/api/alarms/${id}/report/preview`, {
        method: "POST",
        headers: { Accept: "text/html" },
        body: { qualification: form.get("qualification"), note: form.get("note").trim() || null },
      });
      document.getElementById("report").srcdoc = html;
      document.getElementById("report-card").hidden = false;
    } catch (err) {
      Vigie.flash(err.message);
    }
  });

  async function showReport() {
    try {
      const html = await api(`/api/alarms/${id}/report.html`, { headers: { Accept: "text/html" } });
      document.getElementById("report").srcdoc = html;
      document.getElementById("report-card").hidden = false;
    } catch (err) {
      Vigie.flash(err.message);
    }
  }
  document.getElementById("report-pdf").addEventListener("click", async (e) => {
    e.preventDefault();
    const response = await fetch(`/api/alarms/${id}/report.pdf`, { headers: { Authorization: `Bearer ${Vigie.session.token}` } });
    if (!response.ok) { Vigie.flash(`PDF: HTTP ${response.status}`); return; }
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: `incident-${id}.pdf` });
    link.click();
  });

  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea") || !alarm) return;
    if (e.key === "a" && alarm.status === "open" && canWork) { acknowledge(); e.preventDefault(); return; }
    const button = document.querySelectorAll("#procedure button")[Number(e.key) - 1];
    if (button && !button.disabled) { button.click(); e.preventDefault(); }
  });

  load();
})();
