"use strict";
/* The case file's tools: replay of the wearer's track with its times, the known absences
   (shown to all who read the case, created by a supervisor), the timeline's filter, the end of
   the measure (recorded by a supervisor). */
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
    const iso = (v) => (v ? new Date(v).toISOString() : v);
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
      for (const node of [card, form, document.getElementById("c-zones")]) node.remove();
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
      if (data.get("ended_at")) body.ended_at = new Date(data.get("ended_at")).toISOString();
      try {
        const done = await api(`/api/placements/${id}/end`, { method: "POST", body });
        Vigie.flash(`${t("end.done")} ${done.released.join(", ") || "—"} · ${t("end.openalarms")} ${done.open_alarms}`, "ok");
        ending(done);
      } catch (err) { Vigie.flash(err.message); }
    });
  }

  document.addEventListener("vigie:case", (e) => {
    ending(e.detail.placement);
    replay(e.detail.map, e.detail.activity.track);
    applyFilter();
    suspensions().catch((err) => Vigie.flash(err.message));
  });
})();
