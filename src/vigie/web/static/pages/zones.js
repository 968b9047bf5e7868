"use strict";
/* Zone editor: draw or edit a polygon or circle, see the case service's verdict, then save. */
(async () => {
  if (!Vigie.requireLogin()) return;
  const { t, api, el } = Vigie;
  const id = document.querySelector("[data-placement]").dataset.placement;
  const form = document.getElementById("zone-form");
  const verdict = document.getElementById("z-check");
  const map = Vigie.map("map");
  const existing = L.featureGroup().addTo(map);
  let placement;
  let shape = null; // the layer being drawn or edited

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
    L.marker([person.home_lat, person.home_lon], { title: t("map.home") }).bindTooltip(Vigie.tip(t("map.home"))).addTo(existing);
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

  function schedule() {
    const text = new FormData(form).get("schedule").trim();
    if (!text) return null;
    return text.split(/\n|;/).map((line) => line.trim()).filter(Boolean).map((line) => {
      const [days, from, to] = line.split(/\s+/);
      return { days, from, to };
    });
  }

  function body() {
    const data = new FormData(form);
    return {
      id: data.get("id").trim(), type: data.get("type"), label: data.get("label").trim() || null,
      geometry: geometryOf(shape), schedule: schedule(),
    };
  }

  function show(ok, message) {
    verdict.textContent = message;
    verdict.className = `check ${ok ? "ok" : "refused"}`;
  }

  async function check() {
    if (!shape) return;
    if (!form.elements.id.value.trim()) { show(false, t("zones.needid")); return; }
    try {
      await api(`/api/console/placements/${id}/zones/check`, { method: "POST", body: body() });
      show(true, t("zones.valid"));
    } catch (err) {
      show(false, err.message);
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
    document.getElementById("z-list").replaceChildren(...placement.zones.map((zone) => el("li", {},
      `${zone.label || zone.id} · ${t("zones." + zone.type)} `,
      el("button", { type: "button", onclick: () => edit(zone) }, t("zones.edit")), " ",
      el("button", { type: "button", class: "danger", onclick: () => remove(zone) }, t("zones.delete")))));
    if (existing.getLayers().length) map.fitBounds(existing.getBounds(), { maxZoom: 15, padding: [30, 30], animate: false });
    map.getContainer().dataset.ready = "true"; // drawn where it will stay
  }

  function edit(zone) {
    const layer = layerOf(zone);
    if (!layer) { Vigie.flash(t("zones.multipolygon")); return; }
    form.elements.id.value = zone.id;
    form.elements.label.value = zone.label || "";
    form.elements.type.value = zone.type;
    form.elements.schedule.value = (zone.schedule || []).map((w) => `${w.days} ${w.from} ${w.to}`).join("\n");
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
  form.addEventListener("change", check);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!shape) { show(false, t("zones.drawfirst")); return; }
    const zone = body();
    try {
      await api(`/api/placements/${id}/zones/${encodeURIComponent(zone.id)}`, { method: "PUT", body: zone });
      show(true, t("zones.saved"));
      shape.remove();
      shape = null;
      placement = await api(`/api/placements/${id}`);
      renderList();
    } catch (err) {
      show(false, err.message);
    }
  });

  if (placement.measure === "bar") {
    const bar = document.getElementById("bar-form");
    bar.hidden = false;
    bar.elements.alert_distance_km.value = placement.alert_distance_km || "";
    bar.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        placement = await api(`/api/placements/${id}`, { method: "PATCH", body: { alert_distance_km: Number(bar.elements.alert_distance_km.value) } });
        Vigie.flash(t("zones.saved"), "ok");
      } catch (err) {
        Vigie.flash(err.message);
      }
    });
  }
  renderList();
})();
