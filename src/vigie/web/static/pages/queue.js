"use strict";
/* The alarm queue: most urgent first, live, worked from the keyboard. */
(() => {
  if (!Vigie.requireLogin()) return;
  const { t, api, el, when, duration, since } = Vigie;
  if (Vigie.session.role === "admin") {
    // Accounts are the administrator's work (API /api/users); cases and alarms are not.
    document.getElementById("main").replaceChildren(el("p", { id: "no-queue" }, t("queue.admin")));
    return;
  }
  const body = document.querySelector("#queue tbody");
  const filters = document.getElementById("filters");
  const banner = document.getElementById("bar-banner");
  const canWork = ["operator", "supervisor"].includes(Vigie.session.role);
  let alarms = [];
  let selected = 0;
  const heard = new Set();

  function query() {
    const params = new URLSearchParams();
    const form = new FormData(filters);
    for (const name of ["kind", "case"]) if (form.get(name)) params.set(name, form.get(name).trim());
    if (form.get("status")) params.append("status", form.get("status"));
    return params.toString();
  }

  async function refresh() {
    try {
      alarms = await api(`/api/alarms?${query()}`);
    } catch (err) {
      Vigie.flash(err.message);
      return;
    }
    render();
  }

  async function acknowledge(alarm) {
    try {
      await api(`/api/alarms/${alarm.id}/acknowledge`, { method: "POST" });
      Vigie.flash(`${t("alarm.acked")} n° ${alarm.id}`, "ok");
      await refresh();
    } catch (err) {
      Vigie.flash(err.message);
    }
  }

  function render() {
    body.replaceChildren();
    selected = Math.min(selected, Math.max(alarms.length - 1, 0));
    alarms.forEach((a, i) => {
      const open = a.status === "open";
      const row = el("tr", {
        class: `p${a.priority} ${a.kind === "alert" ? "bar-alert" : ""} ${i === selected ? "selected" : ""} ${a.escalated ? "escalated" : ""}`,
        "data-id": a.id, "data-kind": a.kind, "data-status": a.status, tabindex: "-1",
        onclick: () => { selected = i; render(); },
        ondblclick: () => location.assign(`/alarms/${a.id}`),
      },
        el("td", {}, String(a.priority)),
        el("td", {}, el("a", { href: `/alarms/${a.id}` }, String(a.id))),
        el("td", {}, a.case),
        el("td", {}, t(`kind.${a.kind}`)),
        el("td", {}, el("span", { class: `status s-${a.status}` }, t(`status.${a.status}`))),
        el("td", { class: "age", "data-since": a.raised_at, title: when(a.raised_at) }, duration(since(a.raised_at))),
        // An episode the centre learned of late (data uploaded after an outage): by how much.
        a.detection_lag_s >= 60
          ? el("td", { class: "lag" }, `${t("alarm.detected")} ${duration(a.detection_lag_s)} ${t("alarm.after")}`)
          : el("td", { class: "lag" }, ""),
        el("td", { class: open ? "tta counting" : "tta", "data-since": open ? a.opened_at : null },
          open ? duration(since(a.opened_at)) : duration(a.time_to_acknowledge_s)),
        el("td", {}, open && canWork
          ? el("button", { type: "button", class: "ack", onclick: (e) => { e.stopPropagation(); acknowledge(a); } }, t("alarm.ack"))
          : ""),
      );
      body.append(row);
    });
    document.getElementById("queue-empty").hidden = alarms.length > 0;
    const bar = alarms.filter((a) => a.kind === "alert" && a.status === "open");
    banner.hidden = bar.length === 0;
    banner.textContent = bar.length ? `${t("queue.baralert")}: ${bar.map((a) => `n° ${a.id} (${a.case})`).join(", ")}` : "";
    const fresh = bar.filter((a) => !heard.has(a.id));
    fresh.forEach((a) => heard.add(a.id));
    if (fresh.length) Vigie.beep();
  }

  /* The clocks tick every second without asking the server. */
  setInterval(() => {
    for (const cell of body.querySelectorAll("[data-since]")) cell.textContent = duration(since(cell.dataset.since));
  }, 1000);

  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea")) return;
    const alarm = alarms[selected];
    if (e.key === "j" || e.key === "ArrowDown") { selected = Math.min(selected + 1, alarms.length - 1); render(); }
    else if (e.key === "k" || e.key === "ArrowUp") { selected = Math.max(selected - 1, 0); render(); }
    else if (e.key === "Enter" && alarm) location.assign(`/alarms/${alarm.id}`);
    else if (e.key === "a" && alarm && alarm.status === "open" && canWork) acknowledge(alarm);
    else return;
    e.preventDefault();
  });
  filters.addEventListener("change", refresh);
  filters.addEventListener("submit", (e) => { e.preventDefault(); refresh(); });

  const dot = document.getElementById("live");
  Vigie.live("/api/console/stream", refresh, (up) => dot.classList.toggle("up", up));
})();
