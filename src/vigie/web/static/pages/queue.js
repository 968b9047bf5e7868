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
  const canWork = ["operator", "supervisor"].includes(Vigie.session.role);
  let alarms = [];
  // The selection is an alarm, not a row: when a more urgent alarm arrives above it, the
  // highlight (and `a`) stays on the alarm the operator chose.
  let selectedId = null;
  let selectedAt = 0;  // its row, to fall back on when it leaves the list

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

  const selectedAlarm = () => alarms.find((a) => a.id === selectedId);
  function select(index) {
    const alarm = alarms[Math.min(Math.max(index, 0), alarms.length - 1)];
    selectedId = alarm ? alarm.id : null;
    render();
  }

  function render() {
    body.replaceChildren();
    let selected = alarms.findIndex((a) => a.id === selectedId);
    if (selected < 0) {
      selected = Math.min(selectedAt, Math.max(alarms.length - 1, 0));
      selectedId = alarms.length ? alarms[selected].id : null;
    }
    selectedAt = selected;
    alarms.forEach((a, i) => {
      const open = a.status === "open";
      const row = el("tr", {
        class: `p${a.priority} ${a.kind === "alert" ? "bar-alert" : ""} ${i === selected ? "selected" : ""} ${a.escalated ? "escalated" : ""}`,
        "data-id": a.id, "data-kind": a.kind, "data-status": a.status, tabindex: "-1",
        "aria-selected": i === selected ? "true" : "false",
        onclick: () => { selectedId = a.id; render(); },
        ondblclick: () => location.assign(`/alarms/${a.id}`),
      },
        el("td", {}, String(a.priority)),
        el("td", {}, el("a", { href: `/alarms/${a.id}` }, String(a.id))),
        el("td", {}, a.case),
        el("td", {}, t(`kind.${a.kind}`)),
        el("td", {}, el("span", { class: `status s-${a.status}` }, t(`status.${a.status}`))),
        el("td", { class: "age", "data-since": a.raised_at, title: when(a.raised_at) }, duration(since(a.raised_at))),
        el("td", { class: open ? "tta counting" : "tta", "data-since": open ? a.opened_at : null },
          open ? duration(since(a.opened_at)) : duration(a.time_to_acknowledge_s)),
        el("td", {}, open && canWork
          ? el("button", { type: "button", class: "ack", onclick: (e) => { e.stopPropagation(); acknowledge(a); } }, t("alarm.ack"))
          : ""),
      );
      body.append(row);
    });
    document.getElementById("queue-empty").hidden = alarms.length > 0;
    // The BAR banner and the sound are the alarm layer's (alarm_layer.js): they read every open
    // alarm, whatever this queue's filters.
    const row = body.querySelector("tr.selected");
    if (row) row.scrollIntoView({ block: "nearest" });
  }

  /* The clocks tick every second without asking the server. */
  setInterval(() => {
    for (const cell of body.querySelectorAll("[data-since]")) cell.textContent = duration(since(cell.dataset.since));
  }, 1000);

  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea")) return;
    const alarm = selectedAlarm();
    if (e.key === "j" || e.key === "ArrowDown") select(selectedAt + 1);
    else if (e.key === "k" || e.key === "ArrowUp") select(selectedAt - 1);
    else if (e.key === "Enter" && alarm) location.assign(`/alarms/${alarm.id}`);
    else if (e.key === "a" && alarm && alarm.status === "open" && canWork) acknowledge(alarm);
    else return;
    e.preventDefault();
  });
  filters.addEventListener("change", refresh);
  filters.addEventListener("submit", (e) => { e.preventDefault(); refresh(); });

  // One live stream per tab: the alarm layer's; the queue refreshes at each of its events.
  const dot = document.getElementById("live");
  VigieAlarms.subscribe(refresh);
  VigieAlarms.onState((up) => dot.classList.toggle("up", up));
  refresh();
})();
