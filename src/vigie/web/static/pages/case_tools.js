"use strict";
/* The case file's tools: replay of the wearer's track with its times, the known absences
   (shown to all who read the case, created by a supervisor), the timeline's filter, the end of
   the measure (recorded by a supervisor), the case's devices (given or replaced by a
   supervisor). */
(() => {
  const { t, api, el, when } = Vigie;
  const id = document.querySelector("[data-placement]").dataset.placement;
  const filter = document.getElementById("timeline-filter");
  if (!filter) return;  // a case the user may not see: the page says so, nothing to work on

  /* Timeline filter: alarms, readings, actions; hides the others' entries. */
  function applyFilter() {
    const boxes = [...filter.querySelectorAll("input[name=type]")];
    const wanted = new Set(boxes.filter((b) => b.checked).map((b) => b.value));
    for (const item of document.querySelectorAll("#c-timeline li[data-type]")) item.hidden = !wanted.has(item.dataset.type);
  }
  filter.addEventListener("change", applyFilter);

  /* Replay: a slider (and play) over the track's fixes, the time of each shown. */
  function replay(map, track) {
    if (track.length < 2) return;
    const box = document.getElementById("replay");
    const slider = document.getElementById("replay-slider");
    const time = document.getElementById("replay-time");
    const play = document.getElementById("replay-play");
    const dot = L.circleMarker([track[0].lat, track[0].lon], { radius: 8, color: "#ef6c00", fillOpacity: 1 }).addTo(map);
    slider.max = String(track.length - 1);
    function show(i) {
      const p = track[i];
      dot.setLatLng([p.lat, p.lon]);
      time.textContent = when(p.t);
      time.dataset.t = p.t;
    }
    slider.addEventListener("input", () => show(Number(slider.value)));
    let timer = null;
    play.addEventListener("click", () => {
      if (timer) { clearInterval(timer); timer = null; play.textContent = "▶"; return; }
      if (Number(slider.value) >= track.length - 1) slider.value = "0";
      play.textContent = "⏸";
      timer = setInterval(() => {
        const next = Number(slider.value) + 1;
        if (next >= track.length) { clearInterval(timer); timer = null; play.textContent = "▶"; return; }
        slider.value = String(next);
        show(next);
      }, 250);
    });
    show(0);
    box.hidden = false;
  }

  /* Known absences: listed for every reader of the case; a supervisor records one. */
  const list = document.getElementById("suspension-list");
  async function suspensions() {
    const found = await api(`/api/placements/${id}/suspensions`);
    list.replaceChildren(...found.map((s) => el("li", { class: s.active ? "active" : "", "data-suspension": s.id },
      `${t(`absence.reason.${s.reason}`)} · ${when(s.starts_at)} → ${when(s.ended_at || s.ends_at)}`
      + `${s.active ? ` (${t("absence.active")})` : ""} · ${s.note} · ${t("absence.by")} ${s.created_by}`)));
    if (!found.length) list.append(el("li", { class: "muted" }, t("absence.none")));
  }
  const form = document.getElementById("suspension-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const iso = (v) => (v ? Vigie.fromParis(v) : v);
    try {
      await api(`/api/placements/${id}/suspensions`, { method: "POST", body: {
        reason: data.get("reason"), note: data.get("note"),
        starts_at: iso(data.get("starts_at")), ends_at: iso(data.get("ends_at")) } });
      form.reset();
      Vigie.flash(t("absence.created"), "ok");
      await suspensions();
    } catch (err) { Vigie.flash(err.message); }
  });
  // Shown once it works: submitted before, the browser would send it itself. (`method=post`
  // too: never its note, a hospital's name say, in a URL and the server's logs.)
  form.hidden = Vigie.session.role !== "supervisor";

  /* The end of the measure: shown to every reader once recorded; a supervisor records it. */
  function ending(placement) {
    const banner = document.getElementById("c-ended");
    const card = document.getElementById("c-end");
    const ended = placement.ended;
    if (ended) {
      banner.textContent = [`${t("end.ended")} ${when(ended.at)}`, t(`end.reason.${ended.reason}`),
        ended.decision_ref, `${t("end.by")} ${ended.by}`, ended.note].filter(Boolean).join(" · ");
      banner.hidden = false;
      // Nothing of an ended case changes any more: its tools go.
      for (const node of [card, form, document.getElementById("c-zones"), document.getElementById("c-assign")]) {
        if (node) node.remove();
      }
      return;
    }
    card.hidden = Vigie.session.role !== "supervisor";  // shown once its form works
    const endForm = document.getElementById("end-form");
    endForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(endForm);
      if (!confirm(`${t("end.confirm")} ${placement.case_ref}`)) return;
      const body = { reason: data.get("reason") };
      for (const name of ["decision_ref", "note"]) if (data.get(name)) body[name] = data.get(name);
      if (data.get("ended_at")) body.ended_at = Vigie.fromParis(data.get("ended_at"));
      try {
        const done = await api(`/api/placements/${id}/end`, { method: "POST", body });
        Vigie.flash([`${t("end.done")} ${done.released.join(", ") || "—"}`, `${t("end.openalarms")} ${done.open_alarms}`,
          done.summary_owed ? t("end.summary") : ""].filter(Boolean).join(" · "), "ok");
        ending(done);
      } catch (err) { Vigie.flash(err.message); }
    });
  }

  /* A refusal in the page's language, and the API's own words (which name the device) after it. */
  function told(box, err) {
    const said = Vigie.say(err);
    const own = err instanceof Vigie.ApiError && err.status && err.message !== said ? err.message : "";
    box.replaceChildren(said, ...(own ? [" ", el("span", { class: "muted", lang: "en" }, `(${own})`)] : []));
    box.hidden = false;
  }

  /* The case's devices: a supervisor gives it a device in stock for one of its roles, which
     replaces the device holding that role (its assignment ends, it goes back to stock). Only the
     devices in stock (on no case, in service) of the kind the role takes are offered. Ids and
     models are people's text: text only. */
  // The roles of a measure (the protected person's device is a BAR's), the kind each one takes.
  const KIND_FOR_ROLE = { wearer: "bracelet", home_unit: "home_unit", protected: "protected_device" };
  const rolesOf = (measure) => (measure === "bar" ? ["wearer", "protected"] : ["wearer", "home_unit"]);

  function assigning(first) {
    const card = document.getElementById("c-assign");
    if (!card || first.ended || Vigie.session.role !== "supervisor") return;
    const assignForm = document.getElementById("assign-form");
    const roles = assignForm.elements.role;
    const choice = assignForm.elements.device_id;
    const box = assignForm.querySelector(".error");
    const button = assignForm.querySelector("button[type=submit]");
    const wanted = rolesOf(first.measure);
    for (const option of [...roles.options]) if (!wanted.includes(option.value)) option.remove();
    let placement = first;
    let stock = [];
    const holder = (role) => (placement.devices || {})[role];

    function offer() {
      const role = roles.value;
      assignForm.querySelector(".current-device").textContent = holder(role) || t("assign.none");
      const kept = choice.value;
      const fitting = stock.filter((d) => !d.assigned && !d.withdrawn && d.kind === KIND_FOR_ROLE[role]);
      // None: the empty first option is a placeholder, and the browser refuses to send it.
      choice.replaceChildren(...(fitting.length
        ? fitting.map((d) => el("option", { value: d.id }, d.model ? `${d.id} · ${d.model}` : d.id))
        : [el("option", { value: "" }, t("assign.nodevice"))]));
      if (fitting.some((d) => d.id === kept)) choice.value = kept;
    }
    async function readStock() {
      try {
        stock = await api("/api/devices");
      } catch (err) {
        told(box, err);
      }
      offer();
    }
    /* The case read again: its devices' table, and the holder of each role. */
    async function reread() {
      const [fresh, activity] = await Promise.all([api(`/api/placements/${id}`),
        api(`/api/console/placements/${id}/activity?hours=24`)]);
      placement = fresh;
      document.dispatchEvent(new CustomEvent("vigie:devices", { detail: { placement: fresh, activity } }));
    }

    roles.addEventListener("change", offer);
    assignForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const role = roles.value;
      const device = choice.value;
      if (!device) return;
      const replaced = `${t(`device.${role}`)} : ${holder(role) || t("assign.none")} → ${device}`;
      if (!confirm(`${t("assign.confirm")} ${placement.case_ref} · ${replaced}`)) return;
      button.disabled = true;
      box.hidden = true;
      try {
        await api(`/api/placements/${id}/devices`, { method: "POST", body: { device_id: device, role } });
      } catch (err) {
        told(box, err);
        // Taken by another case, or withdrawn, meanwhile: the devices in stock read again.
        if (err instanceof Vigie.ApiError && [409, 422].includes(err.status)) await readStock();
        button.disabled = false;
        return;
      }
      Vigie.flash(`${t("assign.done")} ${device} (${t(`device.${role}`)})`, "ok");
      try {
        await reread();
      } catch (err) {
        Vigie.flash(Vigie.say(err));
      }
      await readStock();
      button.disabled = false;
    });
    readStock();
    card.hidden = false;  // shown once its form works
  }

  document.addEventListener("vigie:case", (e) => {
    ending(e.detail.placement);
    assigning(e.detail.placement);
    replay(e.detail.map, e.detail.activity.track);
    applyFilter();
    suspensions().catch((err) => Vigie.flash(err.message))
      .finally(() => document.getElementById("c-suspensions").removeAttribute("aria-busy"));
  });
})();
