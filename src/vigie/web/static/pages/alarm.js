"use strict";
/* One alarm: where, what obligation, the guided procedure, closing, and the report. */
(async () => {
  if (!Vigie.requireLogin()) return;
  const { t, api, el, when, duration, since } = Vigie;
  const id = document.querySelector("[data-alarm]").dataset.alarm;
  // A section drawn says so (it was marked busy, with its room kept, until then).
  const drawn = (section) => document.getElementById(section).removeAttribute("aria-busy");
  const role = Vigie.session.role;
  const canWork = ["operator", "supervisor"].includes(role);
  const PROCEDURES = {
    // Her call for help: call her back, the police (her position, his, their distance), him, the outcome.
    sos: ["call_protected", "police_alerted", "call_wearer", "note"],
    wearer_sos: ["call_wearer", "police_alerted", "spip_informed"],
    alert: ["call_protected", "police_alerted", "call_wearer"],
    pre_alert: ["warn_wearer", "call_wearer", "call_protected"],
    zone_entry: ["call_wearer", "police_alerted", "spip_informed"],
    zone_exit: ["call_wearer", "police_alerted", "spip_informed"],
    absence: ["call_wearer", "spip_informed"],
    tamper: ["call_wearer", "police_alerted", "spip_informed"],
    unwatched: ["note"],  // the centre's own alarm: nobody to call, what was done is noted
  };
  const LIVE = ["acknowledged", "in_progress"];
  const map = Vigie.map("map");
  const layers = L.featureGroup().addTo(map);
  let alarm = null;
  let context = null;
  let live = null; // her SOS, held: the latest answer of /protected-position
  let contacts = null;

  async function load() {
    try {
      [alarm, context, contacts] = await Promise.all([api(`/api/alarms/${id}`),
        api(`/api/console/alarms/${id}/context`), api(`/api/alarms/${id}/contacts`)]);
    } catch (err) {
      document.querySelector(".detail").replaceChildren(el("p", { class: "error" }, Vigie.say(err)));
      return;
    }
    render();
    // One live stream per tab: the alarm layer's; this page follows its events from now on,
    // and reads once more for a change made between its first read and now (an operator's
    // acknowledgement in another tab would otherwise wait for the next change to show).
    VigieAlarms.subscribe(follow);
    VigieAlarms.onState((up) => document.getElementById("live").classList.toggle("up", up));
    await drawMap();
    if (alarm.status === "closed") showReport();
    follow();
  }

  /* The alarm as the API has it now, or null when a read asked later has answered already. */
  const read = Vigie.latest(() => api(`/api/alarms/${id}`));

  /* What moved on this alarm (another operator took it, a new event, a note logged). */
  const shape = (a) => JSON.stringify([a.status, a.raised_again_at, a.holder && a.holder.id, a.holding, a.event_count,
    a.last_event_at, a.cleared_at, a.actions.length, (a.commands || []).map((c) => c.state)]);

  /* Live: the stream says something changed; the page reads this alarm again and redraws
     what moved, keeping what the operator is typing (the forms are not redrawn). */
  async function follow() {
    let fresh;
    try {
      fresh = await read();
    } catch (err) {
      Vigie.flash(Vigie.say(err));
      return;
    }
    if (!fresh) return;
    const before = alarm;
    if (shape(fresh) === shape(before)) return;
    alarm = fresh;
    render();
    const located = fresh.holding !== before.holding || fresh.event_count !== before.event_count;
    try {
      if (located || fresh.status !== before.status) contacts = await api(`/api/alarms/${id}/contacts`);
      if (located) context = await api(`/api/console/alarms/${id}/context`);
    } catch (err) {
      Vigie.flash(Vigie.say(err));
    }
    renderContacts();
    if (located) await drawMap();
    if (fresh.status === "closed" && before.status !== "closed") showReport();
  }

  function render() {
    document.getElementById("a-kind").textContent = t(`kind.${alarm.kind}`);
    const status = document.getElementById("a-status");
    status.textContent = t(`status.${alarm.status}`);
    status.className = `status s-${alarm.status}`;
    document.getElementById("a-known").hidden = !alarm.known_absence;  // within a known absence
    const link = document.getElementById("a-case");
    link.textContent = alarm.centre
      ? t("alarm.centre").replace("{p}", String(alarm.detail.partition)) : alarm.case;
    link.dataset.centre = alarm.centre ? "true" : "false";
    if (alarm.placement_id) link.href = `/cases/${alarm.placement_id}`;
    document.getElementById("a-raised").textContent = when(alarm.raised_at)
      + (alarm.detection_lag_s >= 60
        ? ` · ${t("alarm.detected")} ${duration(alarm.detection_lag_s)} ${t("alarm.after")}` : "");
    document.getElementById("a-obligation").textContent = context.obligation;
    document.getElementById("a-article").textContent = context.article;
    document.getElementById("a-detail").textContent = Vigie.detailText(alarm.detail) || t("alarm.nodetail");
    if (live && alarm.holding) liveText();
    const holder = alarm.holder;
    document.getElementById("a-holder").textContent = holder
      ? `${t("alarm.heldby")} ${holder.full_name} (${holder.username})${holder.username === Vigie.session.user ? ` — ${t("alarm.you")}` : ""}`
      : t("alarm.noholder");
    // Raised by another centre and imported with its case: its record, never worked here.
    const workable = canWork && !alarm.imported_from;
    document.getElementById("a-imported").hidden = !alarm.imported_from;
    // Handed to this operator: he says he has it, and his alarm bar stops sounding for it.
    const handed = alarm.handed_to_you;
    const ack = document.getElementById("ack");
    ack.hidden = !(workable && (alarm.to_take || handed));
    ack.firstChild.textContent = `${t(handed ? "alarm.takeover" : alarm.raised_again_at ? "alarm.ackagain" : "alarm.ack")} `;
    const handedNote = document.getElementById("a-handed");
    handedNote.hidden = !handed;
    if (handed) {
      handedNote.textContent = t("alarm.handedyou").replace("{by}", handed.by || "?")
        .replace("{at}", when(handed.at)).replace("{reason}", handed.reason || "");
    }
    // Taken, the situation came back or its holder has gone: whoever answers takes it again.
    const back = document.getElementById("a-back");
    back.hidden = !alarm.raised_again_at;
    const why = alarm.raised_again_why ? `alarm.left.${alarm.raised_again_why}` : "alarm.back";
    if (alarm.raised_again_at) back.textContent = t(why).replace("{at}", when(alarm.raised_again_at));
    const done = new Set(alarm.actions.map((a) => a.action));
    const steps = PROCEDURES[alarm.kind] || ["call_wearer", "spip_informed"];
    const list = document.getElementById("procedure");
    list.replaceChildren(...steps.map((action, i) => el("li", { class: done.has(action) ? "done" : "" },
      el("button", {
        type: "button", "data-action": action, disabled: !(workable && LIVE.includes(alarm.status)) || null,
        onclick: () => act(action),
      }, `${done.has(action) ? "✓ " : ""}${t(`action.${action}`)}`), " ", el("kbd", {}, String(i + 1)))));
    document.getElementById("actions").replaceChildren(...alarm.actions.map((a) =>
      el("li", {}, el("time", {}, when(a.at)), ` ${t(`action.${a.action}`)}${a.to_user ? ` ${a.to_user}` : ""}`,
        a.note ? ` — ${a.note}` : "")));
    // Commands sent for this alarm (the wearer warned, the rate raised) and the device's answer.
    document.getElementById("commands").replaceChildren(...(alarm.commands || []).map((c) =>
      el("li", {}, el("time", {}, when(c.created_at)),
        ` ${t(`command.${c.kind}`)} ${c.device} · ${t(`command.state.${c.state}`)}`, c.reply ? ` — ${c.reply}` : "")));
    for (const form of ["note-form", "close-form"]) {
      document.getElementById(form).hidden = !(workable && LIVE.includes(alarm.status));
    }
    if (alarm.raised_again_at) document.getElementById("close-form").hidden = true;
    // Its holder, or a supervisor for a holder gone: to an operator on duty, with the reason.
    document.getElementById("hand-form").hidden = !(workable && alarm.may_hand_over);
    if (workable && alarm.may_hand_over) offerOperators();
    document.getElementById("preview").hidden = Boolean(alarm.centre);  // no report to preview
    renderContacts();
    offerQualifications();
    tick();
    drawn("a-head");
    drawn("a-work");
  }

  /* Who to call, with numbers as links a softphone dials; her number to the holder only. */
  function renderContacts() {
    if (!contacts) return;
    const dial = (phone) => (phone ? el("a", { href: `tel:${phone.replace(/[^0-9+]/g, "")}`, class: "phone" }, phone)
      : el("span", { class: "muted" }, t("contacts.none")));
    const line = (...parts) => parts.filter((p) => p !== null && p !== undefined && p !== "")
      .flatMap((p, i) => (i ? [" · ", p] : [p]));
    const rows = [];
    const add = (key, ...parts) => rows.push(el("dt", {}, t(`contacts.${key}`)), el("dd", { "data-contact": key }, ...line(...parts)));
    const c = contacts;
    if (c.wearer) add("wearer", el("strong", {}, c.wearer.name), dial(c.wearer.phone), c.wearer.address);
    if (c.protected) {
      add("protected", el("strong", {}, c.protected.name), c.protected.withheld
        ? el("span", { class: "withheld", id: "protected-withheld" }, t(`contacts.withheld.${c.protected.withheld}`))
        : dial(c.protected.phone));
    }
    if (c.spip) add("spip", c.spip.name, c.spip.service, dial(c.spip.phone), c.spip.email);
    add("police", ...(c.police ? [c.police.station, dial(c.police.phone)] : [el("span", { class: "muted" }, t("contacts.none"))]));
    if (c.judge) add("judge", c.judge.name, c.judge.phone ? dial(c.judge.phone) : null, c.judge.email);
    document.getElementById("a-contacts").replaceChildren(...rows);
    const target = document.getElementById("a-target");
    target.hidden = !c.target;
    target.textContent = c.target ? `${t("alarm.nearest")} ${Vigie.distanceText(c.target)}` : "";
    drawn("a-people");
  }

  function tick() {
    if (!alarm) return;
    document.getElementById("a-age").textContent = duration(since(alarm.raised_at));
    document.getElementById("a-tta").textContent = alarm.status === "open"
      ? duration(since(alarm.opened_at)) : duration(alarm.time_to_acknowledge_s);
  }
  setInterval(tick, 1000);
  // Her SOS or a BAR alarm on her, held: her position is live (her phone reports every few
  // seconds while it is live), not where she was when it was raised.
  setInterval(() => {
    if (alarm && alarm.holding && LIVE.includes(alarm.status)) drawMap();
  }, 15000);

  async function drawMap() {
    layers.clearLayers();
    for (const zone of context.zones) Vigie.zoneLayer(zone).addTo(layers);
    if (context.track.length) Vigie.trackLayer(context.track).addTo(layers);
    const note = document.getElementById("protected-note");
    note.hidden = true;
    // Only the operator holding this live BAR alarm may locate her (the API refuses, and audits,
    // anyone else): the others are not even made to ask.
    const hers = context.bar || alarm.kind === "sos";
    if (hers && alarm.holding) {
      try {
        const answer = await api(`/api/alarms/${id}/protected-position`);
        // A BAR case protecting places only: no phone of hers, the detail says where they are.
        if (answer.live && (alarm.kind === "sos" || answer.live.protected_position)) showLive(answer.live);
        const p = (answer.live && answer.live.protected_position) || answer.protected.protected_position
          || { lat: answer.protected.protected_lat, lon: answer.protected.protected_lon };
        if (p.lat !== undefined) {
          L.circleMarker([p.lat, p.lon], { radius: 8, color: "#6a1b9a", fillOpacity: 1 })
            .bindTooltip(Vigie.tip(t("map.protected"))).addTo(layers);
          if (context.pre_alert_m) L.circle([p.lat, p.lon], { radius: context.pre_alert_m, color: "#ef6c00", fill: false, dashArray: "6" }).addTo(layers);
          if (context.alert_m) L.circle([p.lat, p.lon], { radius: context.alert_m, color: "#c62828", fill: false }).addTo(layers);
        }
      } catch (err) {
        note.textContent = Vigie.say(err);
        note.hidden = false;
      }
    } else if (hers) {
      note.textContent = t("alarm.protectedhidden");
      note.hidden = false;
    }
    if (layers.getLayers().length) map.fitBounds(layers.getBounds(), { maxZoom: 16, padding: [20, 20] });
    drawn("a-map");
  }

  // Her SOS or a BAR alarm, for the holder alone: her latest fix, the wearer's and their distance
  // (for the police).
  function showLive(answer) {
    live = answer;
    liveText();
    const w = live.protected_wearer_position;
    if (w) L.circleMarker([w.lat, w.lon], { radius: 6, color: "#c62828", fillOpacity: 1 }).addTo(layers);
  }

  function liveText() {
    const fix = (p) => p ? `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)} (±${Math.round(p.accuracy_m)} m, ${when(p.t)})` : "—";
    const text = `${t("map.protected")}: ${fix(live.protected_position)} · ${t("sos.wearer")}: ${fix(live.protected_wearer_position)}`
      + (live.protected_distance_m !== null ? ` · ${Math.round(live.protected_distance_m)} m` : "");
    document.getElementById("a-detail").textContent = text;
  }

  async function post(path, body) {
    try {
      await api(path, { method: "POST", body });
      const fresh = await read();
      if (fresh) {
        alarm = fresh;
        render();
      }
      return true;
    } catch (err) {
      Vigie.flash(Vigie.say(err));
      return false;
    }
  }

  async function acknowledge() {
    if (alarm.handed_to_you) {  // his already: he takes it over (her position is his since)
      if (await post(`/api/alarms/${id}/take-over`)) Vigie.flash(t("alarm.takenover"), "ok");
      return;
    }
    if (!(await post(`/api/alarms/${id}/acknowledge`))) return;
    await drawMap();
    try {
      contacts = await api(`/api/alarms/${id}/contacts`);  // her number, now the holder's
      renderContacts();
    } catch (err) {
      Vigie.flash(Vigie.say(err));
    }
  }
  const act = (action, note) => post(`/api/alarms/${id}/actions`, { action, note: note || null });

  document.getElementById("ack").addEventListener("click", acknowledge);

  /* Handing it over: the operators it may go to (read again when its holder changes), the
     operator's choice kept on a redraw; her position goes with it (the map and her number). */
  const handForm = document.getElementById("hand-form");
  let offeredFor;
  async function offerOperators() {
    const holder = alarm.holder ? alarm.holder.id : null;
    if (offeredFor === holder) return;
    offeredFor = holder;
    const select = handForm.elements.to;
    let operators;
    try {
      operators = await api(`/api/alarms/${id}/hand-over`);
    } catch (err) {
      offeredFor = undefined;
      Vigie.flash(Vigie.say(err));
      return;
    }
    const chosen = operators.some((o) => o.username === select.value) ? select.value : "";
    select.replaceChildren(select.options[0],
      ...operators.map((o) => el("option", { value: o.username, "data-online": String(o.online) },
        `${o.full_name} (${o.username}) · ${t(o.online ? "alarm.hand.online" : "alarm.hand.offline")}`)));
    select.value = chosen;
  }
  handForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(handForm);
    const to = form.get("to");
    const reason = form.get("reason").trim();
    if (!to || !reason) { (to ? handForm.elements.reason : handForm.elements.to).focus(); return; }
    const held = alarm.holding;
    if (!(await post(`/api/alarms/${id}/hand-over`, { to, reason }))) return;
    handForm.reset();
    Vigie.flash(t("alarm.handed").replace("{to}", to), "ok");
    if (held !== alarm.holding) {  // hers no longer to locate: the map and her number go
      live = null;
      await drawMap();
      try {
        contacts = await api(`/api/alarms/${id}/contacts`);
        renderContacts();
      } catch (err) {
        Vigie.flash(Vigie.say(err));
      }
    }
  });
  document.getElementById("note-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const note = new FormData(e.target).get("note").trim();
    if (note && (await act("note", note))) e.target.reset();
  });
  /* Closing: no qualification chosen in advance, only those the alarm's kind allows (the API
     says which: never "breach" for a BAR pre-alert, R24-20 CPP, and it refuses it too), then a
     confirmation naming the choice, then the way to the next open alarm. */
  const closeForm = document.getElementById("close-form");
  const confirmBox = document.getElementById("close-confirm");
  function offerQualifications() {
    const select = closeForm.elements.qualification;
    const allowed = alarm.qualifications || [];
    const current = [...select.options].slice(1).map((o) => o.value);
    if (current.join() === allowed.join()) return;  // keep the operator's choice on a refresh
    const chosen = allowed.includes(select.value) ? select.value : "";
    select.replaceChildren(select.options[0],
      ...allowed.map((q) => el("option", { value: q }, t(`qualification.${q}`))));
    select.value = chosen;
  }
  closeForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const select = closeForm.elements.qualification;
    if (!select.value) { select.focus(); return; }
    // Its condition still going on (him still in the zone, still near her): it comes back.
    document.getElementById("close-question").textContent = [t("alarm.confirmclose")
      .replace("{id}", id).replace("{qualification}", select.selectedOptions[0].textContent),
    alarm.ongoing ? t("alarm.confirmclose.ongoing") : ""].join(" ").trim();
    confirmBox.hidden = false;
    document.getElementById("close-yes").focus();
  });
  document.getElementById("close-no").addEventListener("click", () => { confirmBox.hidden = true; });
  document.getElementById("close-yes").addEventListener("click", async () => {
    confirmBox.hidden = true;
    const form = new FormData(closeForm);
    if (await post(`/api/alarms/${id}/close`, { qualification: form.get("qualification"), note: form.get("note").trim() || null })) {
      Vigie.flash(t("alarm.closed"), "ok");
      document.getElementById("after-close").hidden = false;
      document.getElementById("next-alarm").focus();
      showReport();
    }
  });
  async function nextAlarm() {
    try {
      const next = await VigieAlarms.next(id);
      if (next) location.assign(`/alarms/${next.id}`);
      else { Vigie.flash(t("alarm.nonext"), "ok"); location.assign("/"); }
    } catch (err) {
      Vigie.flash(err.message);
    }
  }
  document.getElementById("next-alarm").addEventListener("click", nextAlarm);

  // The report as closing would make it, before closing: the API renders it and saves nothing.
  document.getElementById("preview").addEventListener("click", async () => {
    const form = new FormData(document.getElementById("close-form"));
    if (!form.get("qualification")) { document.querySelector("#close-form select").focus(); return; }
    try {
      const html = await api(`/api/alarms/${id}/report/preview`, {
        method: "POST",
        headers: { Accept: "text/html" },
        body: { qualification: form.get("qualification"), note: form.get("note").trim() || null },
      });
      document.getElementById("report").srcdoc = html;
      document.getElementById("report-card").hidden = false;
    } catch (err) {
      Vigie.flash(Vigie.say(err));
    }
  });

  async function showReport() {
    if (alarm.centre) return;  // the centre's own alarm: no case, no report for a judge
    try {
      const html = await api(`/api/alarms/${id}/report.html`, { headers: { Accept: "text/html" } });
      document.getElementById("report").srcdoc = html;
      document.getElementById("report-card").hidden = false;
    } catch (err) {
      Vigie.flash(Vigie.say(err));
    }
  }
  document.getElementById("report-pdf").addEventListener("click", async (e) => {
    e.preventDefault();
    let response;
    try {
      response = await Vigie.send(`/api/alarms/${id}/report.pdf`);
    } catch (err) {
      Vigie.flash(err.message);
      return;
    }
    if (!response.ok) { Vigie.flash(`PDF: HTTP ${response.status}`); return; }
    await Vigie.saveFile(response, `incident-${id}.pdf`);
  });

  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea") || !alarm) return;
    if (e.key === "a" && (alarm.to_take || alarm.handed_to_you) && canWork && !alarm.imported_from) { acknowledge(); e.preventDefault(); return; }
    if (e.key === "n" && alarm.status === "closed") { nextAlarm(); e.preventDefault(); return; }
    const button = document.querySelectorAll("#procedure button")[Number(e.key) - 1];
    if (button && !button.disabled) { button.click(); e.preventDefault(); }
  });

  load();
})();
