"use strict";
/* The supervisor's map of all wearers, clustered, live every 15 s. The API never gives a
   protected person's device or a fix inside a BAR blackout; they are counted, not drawn. */
(() => {
  if (!Vigie.requireLogin()) return;
  const { t, api, el, when } = Vigie;
  const filters = document.getElementById("map-filters");
  const count = document.getElementById("map-count");
  const map = Vigie.map("wearers-map");
  map.setMaxZoom(19);  // the cluster layer needs one; the plain background sets none
  const cluster = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50 });
  map.addLayer(cluster);
  let fitted = false;

  function marker(w) {
    const a = w.alarms;
    const dot = el("div", {
      class: `wearer-dot${a ? ` alarm p${a.priority}` : ""}${a && a.escalated ? " escalated" : ""}`,
      "data-case": w.case, "data-device": w.device, "data-lat": w.lat, "data-lon": w.lon,
    });
    const icon = L.divIcon({ html: dot, className: "wearer-icon", iconSize: [16, 16] });
    const label = `${w.case} · ${t(`measure.${w.measure}`)} · ${w.device} · ${when(w.t)}`
      + (a ? ` · ${a.count} ${t("map.alarms")}` : "");
    return L.marker([w.lat, w.lon], { icon, title: label, keyboard: true })
      .bindTooltip(Vigie.tip(label))
      .on("click", () => location.assign(`/cases/${w.placement_id}`));
  }

  async function refresh() {
    const params = new URLSearchParams();
    const form = new FormData(filters);
    for (const name of ["measure", "alarm"]) if (form.get(name)) params.set(name, form.get(name));
    let data;
    try { data = await api(`/api/console/wearers?${params}`); } catch (err) { Vigie.flash(err.message); return; }
    cluster.clearLayers();
    cluster.addLayers(data.wearers.map(marker));
    count.textContent = t("map.count").replace("{n}", data.wearers.length)
      .replace("{withheld}", data.withheld).replace("{silent}", data.no_fix);
    count.dataset.shown = data.wearers.length;
    count.dataset.withheld = data.withheld;
    if (!fitted && data.wearers.length) {
      map.fitBounds(cluster.getBounds(), { maxZoom: 13, padding: [30, 30] });
      fitted = true;
    }
  }
  filters.addEventListener("change", () => { fitted = false; refresh(); });
  refresh();
  setInterval(refresh, 15000);
})();
