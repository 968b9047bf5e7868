"use strict";
/* Zone editor: draw or edit a polygon or circle, set its hours day by day, see the case
   service's verdict, then save. Only the latest check may speak: an older answer arriving late
   (two checks in flight, or a check overtaken by the save) is dropped, never shown over it. */
(async () => {
  if (!Vigie.requireLogin()) return;
  const { t, api, el } = Vigie;
  const id = document.querySelector("[data-placement]").dataset.placement;
  const form = document.getElementById("zone-form");
  const verdict = document.getElementById("z-check");
  const save = document.getElementById("z-save");
  const windows = document.getElementById("z-windows");
  const map = Vigie.map("map");
  const existing = L.featureGroup().addTo(map);
  const DAYS = Vigie.WEEK;
  let placement;
  let shape = null; // the layer being drawn or edited
  let editing = null; // the id of the saved zone being edited; null for a new zone
  let generation = 0; // bumped by every check and save: an answer for an older one is stale

  try {
    placement = await api(`/api/placements/${id}`);
  } catch (err) {
    document.querySelector("[data-placement]").replaceChildren(el("p", { class: "error" }, err.message));
    return;
  }
  const caseLink = document.getElementById("z-case");
  caseLink.textContent = placement.case_ref;
  const person = await api(`/api/persons/${placement.person_id}`);
  if (person.home_lat !== null && person.home_lat !== undefined) {
    L.marker([person.home_lat, person.home_lon], { title: t("map.home"), keyboard: false }).bindTooltip(Vigie.tip(t("map.home"))).addTo(existing);
  }

  function geometryOf(layer) {
    if (layer instanceof L.Circle) {
      const c = layer.getLatLng();
      return { type: "circle", lat: c.lat, lon: c.lng, radius_m: Math.round(layer.getRadius()) };
    }
    return layer.toGeoJSON().geometry;
  }

  function layerOf(zone) {
    const g = zone.geometry;
    if (g.type === "circle") return L.circle([g.lat, g.lon], { radius: g.radius_m });
    if (g.type === "Polygon") return L.polygon(g.coordinates.map((ring) => ring.map(([lon, lat]) => [lat, lon])));
    return null; // MultiPolygon: shown, not editable here
  }

  /* The ticked days as the API writes them ("mon-fri", "sat,sun"); read back by Vigie.daySet. */
  function daysText(chosen) {
    const runs = [];
    DAYS.forEach((day, i) => {
      if (!chosen.has(day)) return;
      const run = runs[runs.length - 1];
      if (run && run.end === i - 1) run.end = i; else runs.push({ start: i, end: i });
    });
    return runs.map((r) => (r.end - r.start >= 2 ? `${DAYS[r.start]}-${DAYS[r.end]}`
      : DAYS.slice(r.start, r.end + 1).join(","))).join(",");
  }

  function windowRow(w = { days: "mon-fri", from: "", to: "" }) {
    const n = windows.children.length + 1;
    const box = el("fieldset", { class: "z-window" }, el("legend", {}, `${t("zones.window")} ${n}`));
    const chosen = Vigie.daySet(w.days);
    const days = el("div", { class: "z-days", role: "group", "aria-label": t("zones.days") });
    for (const day of DAYS) {
      const tick = el("input", { type: "checkbox", value: day, "data-day": day });
      tick.checked = chosen.has(day);
      days.append(el("label", { class: "day" }, tick, " ",
        el("abbr", { title: t(`zones.day.${day}.long`) }, t(`zones.day.${day}`))));
    }
    // Text, not type=time: a browser in another locale would show 12-hour times with AM/PM.
    const hour = (cls, value) => el("input", { type: "text", class: cls, value: value || null, size: "5",
      maxlength: "5", inputmode: "numeric", placeholder: "08:00", title: t("zones.hhmm"), autocomplete: "off" });
    const from = hour("z-from", w.from), to = hour("z-to", w.to);
    const remove = el("button", { type: "button", class: "z-remove-window" }, t("zones.removewindow"));
    remove.addEventListener("click", () => {
      box.remove();
      [...windows.children].forEach((row, i) => { row.querySelector("legend").textContent = `${t("zones.window")} ${i + 1}`; });
      document.getElementById("z-add-window").focus();
      check();
    });
    box.append(days, el("label", { class: "inline" }, t("zones.from"), " ", from), " ",
      el("label", { class: "inline" }, t("zones.to"), " ", to), " ", remove);
    return box;
  }

  class Unfinished extends Error {
    constructor(message, node) { super(message); this.node = node; }
  }

  /* The schedule from the form: null for all hours; Unfinished names the slot to complete. */
  function schedule() {
    const rows = [...windows.querySelectorAll(".z-window")];
    if (!rows.length) return null;
    return rows.map((row) => {
      const chosen = new Set([...row.querySelectorAll("[data-day]:checked")].map((c) => c.value));
      if (!chosen.size) throw new Unfinished(t("zones.nodays"), row.querySelector("[data-day]"));
      const from = row.querySelector(".z-from"), to = row.querySelector(".z-to");
      for (const input of [from, to]) {
        const value = input.value.trim().replace(/^(\d)[:h]/, "0$1:").replace("h", ":");
        if (!value) throw new Unfinished(t("zones.nohours"), input);
        if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(value)) throw new Unfinished(t("zones.badhour"), input);
        input.value = value;
      }
      return { days: daysText(chosen), from: from.value, to: to.value };
    });
  }

  function body() {
    const data = new FormData(form);
    return {
      id: data.get("id").trim(), type: data.get("type"), label: data.get("label").trim() || null,
      geometry: geometryOf(shape), schedule: schedule(),
    };
  }

  const isNew = () => editing === null || form.elements.id.value.trim() !== editing;

  function show(ok, message) {
    verdict.textContent = message;
    verdict.className = `check ${ok === null ? "muted" : ok ? "ok" : "refused"}`;
  }

  /* The API's refusal in the page's words, the field at fault marked. */
  function refusal(err) {
    for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    if (err instanceof Unfinished) {
      err.node.setAttribute("aria-invalid", "true");
      return { message: err.message, node: err.node };
    }
    if (err.status === 409 && err.body && err.body.error === "zone_exists") {
      form.elements.id.setAttribute("aria-invalid", "true");
      return { message: t("zones.idtaken"), node: form.elements.id };
    }
    const field = err.body && err.body.field;
    const node = field && form.elements[field.split(/[.[]/)[0]];
    if (node && node.setAttribute) node.setAttribute("aria-invalid", "true");
    return { message: err.message, node: node && node.focus ? node : null };
  }

  async function check() {
    const mine = ++generation;
    if (!shape) return;
    if (!form.elements.id.value.trim()) { show(false, t("zones.needid")); return; }
    let zone;
    try {
      zone = body();
    } catch (err) {
      show(false, refusal(err).message);
      return;
    }
    show(null, t("zones.checking"));
    const query = isNew() ? "?new=true" : "";
    try {
      await api(`/api/console/placements/${id}/zones/check${query}`, { method: "POST", body: zone });
      if (mine !== generation) return; // overtaken by a newer check or a save
      for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
      show(true, t("zones.valid"));
    } catch (err) {
      if (mine !== generation) return;
      show(false, refusal(err).message);
    }
  }

  function take(layer) {
    if (shape && shape !== layer) shape.remove();
    shape = layer;
    shape.setStyle({ color: "#ff6f00", dashArray: "4" });
    shape.pm.enable({ allowSelfIntersection: true });
    shape.on("pm:edit", check);
    check();
  }

  function renderList() {
    existing.eachLayer((l) => { if (!(l instanceof L.Marker)) existing.removeLayer(l); });
    for (const zone of placement.zones) Vigie.zoneLayer(zone).addTo(existing);
    // Each zone with its hours (the editor's slots, in words), or "à toute heure".
    const hours = (zone) => (zone.schedule && zone.schedule.length ? Vigie.hours(zone.schedule) : t("zones.allhours"));
    const list = document.getElementById("z-list");
    list.replaceChildren(...placement.zones.map((zone) => el("li", { "data-zone": zone.id },
      `${zone.label || zone.id} · ${t("zones." + zone.type)} · ${hours(zone)} `,
      el("button", { type: "button", onclick: () => edit(zone) }, t("zones.edit")), " ",
      el("button", { type: "button", class: "danger", onclick: () => remove(zone) }, t("zones.delete")))));
    if (!placement.zones.length) list.append(el("li", { class: "muted" }, t("zones.none")));
    if (existing.getLayers().length) map.fitBounds(existing.getBounds(), { maxZoom: 15, padding: [30, 30], animate: false });
    map.getContainer().dataset.ready = "true"; // drawn where it will stay
  }

  function reset() {
    generation++;
    if (shape) shape.remove();
    shape = null;
    editing = null;
    form.reset();
    windows.replaceChildren();
    show(null, "");
  }

  function edit(zone) {
    const layer = layerOf(zone);
    if (!layer) { Vigie.flash(t("zones.multipolygon")); return; }
    reset();
    editing = zone.id;
    form.elements.id.value = zone.id;
    form.elements.label.value = zone.label || "";
    form.elements.type.value = zone.type;
    for (const w of zone.schedule || []) windows.append(windowRow(w));
    take(layer.addTo(map));
  }

  async function remove(zone) {
    if (!confirm(`${t("zones.delete")} ${zone.id} ?`)) return;
    try {
      await api(`/api/placements/${id}/zones/${encodeURIComponent(zone.id)}`, { method: "DELETE" });
      placement = await api(`/api/placements/${id}`);
      renderList();
    } catch (err) {
      Vigie.flash(err.message);
    }
  }

  map.pm.setGlobalOptions({ allowSelfIntersection: true });
  map.on("pm:create", (e) => take(e.layer));
  document.getElementById("draw-polygon").addEventListener("click", () => map.pm.enableDraw("Polygon", { finishOn: "dblclick" }));
  document.getElementById("draw-circle").addEventListener("click", () => map.pm.enableDraw("Circle"));
  document.getElementById("z-add-window").addEventListener("click", () => {
    const row = windowRow();
    windows.append(row);
    row.querySelector(".z-from").focus();
  });
  document.getElementById("z-new").addEventListener("click", () => { reset(); form.elements.id.focus(); });
  form.addEventListener("change", check);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (save.disabled) return; // a save already in flight
    generation++; // a check still in flight answers for what is being saved: drop it
    if (!shape) { show(false, t("zones.drawfirst")); return; }
    let zone;
    try {
      zone = body();
    } catch (err) {
      const { message, node } = refusal(err);
      show(false, message);
      if (node) node.focus();
      return;
    }
    const creating = isNew();
    save.disabled = true;
    show(null, t("zones.checking"));
    try {
      await api(`/api/placements/${id}/zones/${encodeURIComponent(zone.id)}`, {
        method: "PUT", body: zone, headers: creating ? { "If-None-Match": "*" } : {},
      });
      placement = await api(`/api/placements/${id}`);
      reset();
      show(true, t("zones.saved"));
      renderList();
    } catch (err) {
      const { message, node } = refusal(err);
      show(false, message);
      if (node) node.focus();
    } finally {
      save.disabled = false;
    }
  });

  if (placement.measure === "bar" && ["supervisor", "admin"].includes(Vigie.session.role)) barForm();

  /* The alert distance with the law facts that fix it: one form, the law asked again. */
  async function barForm() {
    const bar = document.getElementById("bar-form");
    const status = document.getElementById("bar-check");
    let facts;
    try {
      facts = await api(`/api/console/placements/${id}/bar`);
    } catch (err) {
      Vigie.flash(err.message);
      return;
    }
    const fill = () => {
      for (const [name, value] of Object.entries(facts)) {
        const input = bar.elements[name];
        if (!input) continue;
        if (input.type === "checkbox") input.checked = value === true;
        else input.value = value ?? "";
      }
    };
    fill();
    bar.hidden = false;
    bar.addEventListener("submit", async (e) => {
      e.preventDefault();
      for (const node of bar.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
      const els = bar.elements;
      const sent = {
        alert_distance_km: Number(els.alert_distance_km.value),
        under_judicial_supervision: els.under_judicial_supervision.checked,
        victim_consent: els.victim_consent.checked,
        incurred_years: Number(els.incurred_years.value),
        relationship: els.relationship.value,
      };
      try {
        facts = await api(`/api/console/placements/${id}/bar`, { method: "POST", body: sent });
        fill();
        status.className = "check ok";
        status.textContent = t("zones.saved");
      } catch (err) {
        status.className = "check refused";
        status.textContent = err.message;
        const field = err.body && (err.body.field || (err.body.errors && err.body.errors[0] && err.body.errors[0].field));
        const node = field && els[field];
        if (node) { node.setAttribute("aria-invalid", "true"); node.focus(); }
      }
    });
  }
  renderList();
})();
