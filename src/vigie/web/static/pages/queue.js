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
  const PAGE = 200;
  // The engine's reasons for a clear that ended with the rule, not with the situation.
  const ENDED_WITH_RULE = new Set(["zone_inactive", "obligation_removed", "window_end"]);
  let offset = 0;
  let total = 0;
  // The selection is an alarm, not a row: when a more urgent alarm arrives above it, the
  // highlight (and `a`) stays on the alarm the operator chose.
  let selectedId = null;
  let selectedAt = 0;  // its row, to fall back on when it leaves the list
  // A click lands where the pointer is, not on the alarm the operator chose: when a new alarm
  // arrives above (or one above leaves), the rows shift in the instant before the click, which
  // then acknowledges (takes charge of) the alarm that slid into that place. So for MOVED_MS
  // after another alarm takes a row's place, a click on that row does nothing but say so.
  // Noticing a change under the pointer and holding back a click already decided takes a
  // person about 250-500 ms (simple reaction time is 200-300 ms; a decided click is harder to
  // stop); 700 ms covers the slow end of that with a margin, and is still shorter than the time
  // an operator takes to read the row again and click once more. The list itself is never held
  // back: a new urgent alarm is shown at once.
  const MOVED_MS = 700;
  let drawn = [];  // the alarms' ids, by place, as last drawn
  let placedAt = new Map();  // alarm id -> when it took a place another alarm had (ms)
  // A refused click outlines the row it fell on for REFUSED_MS. The outline is the alarm's, not
  // the row element's: the stream may draw the queue again within that time, and the new row
  // must still show the operator which alarm is there now.
  const REFUSED_MS = 1500;
  const refusedAt = new Map();  // alarm id -> when a click on its row was refused (ms)
  // Who held each alarm at the last read: one another operator held that is now the caller's
  // was handed to him (its holder or a supervisor did), and he is told so; not one he took
  // again himself from this page.
  let heldBy = new Map();
  const takenHere = new Set();
  const me = Vigie.session.user;

  function query() {
    const params = new URLSearchParams();
    const form = new FormData(filters);
    for (const name of ["kind", "case", "escalated"]) if (form.get(name)) params.set(name, form.get(name).trim());
    if (form.get("status")) params.append("status", form.get("status"));
    params.set("limit", PAGE);
    if (offset) params.set("offset", offset);
    return params.toString();
  }

  const readPage = Vigie.latest(Vigie.apiPage);  // null: a later read (a new filter) answered
  async function refresh() {
    try {
      const page = await readPage(`/api/alarms?${query()}`);
      if (!page) return;
      alarms = grouped(page.data);
      total = page.total;
      for (const a of page.data) {
        const mine = a.holder && a.holder.username === me;
        const before = heldBy.get(a.id);
        if (mine && before && before !== me && !takenHere.has(a.id)) {
          Vigie.flash(t("queue.handed").replace("{id}", a.id), "ok");
        }
        if (mine) takenHere.delete(a.id);  // his take seen: a later hand-over to him is told
      }
      heldBy = new Map(page.data.map((a) => [a.id, a.holder ? a.holder.username : null]));
    } catch (err) {
      Vigie.flash(Vigie.say(err));
      return;
    }
    if (!alarms.length && offset && total) {  // the last page emptied: back to the one before
      offset = Math.max(0, Math.floor((total - 1) / PAGE) * PAGE);
      refresh();
      return;
    }
    render();
    pager();
  }

  /* True, with the row highlighted and a word to the operator, when another alarm took this
     row's place within MOVED_MS: the click was aimed at the alarm that was there. */
  function moved(row, alarm) {
    if (!row.hasAttribute("data-moved")) return false;
    refusedAt.set(alarm.id, performance.now());
    outline(row, REFUSED_MS);
    Vigie.flash(t("queue.moved"));
    return true;
  }

  function outline(row, ms) {
    row.classList.add("moved-refused");
    setTimeout(() => row.classList.remove("moved-refused"), ms);
  }

  async function acknowledge(alarm) {
    takenHere.add(alarm.id);
    try {
      await api(`/api/alarms/${alarm.id}/acknowledge`, { method: "POST" });
      Vigie.flash(`${t("alarm.acked")} n° ${alarm.id}`, "ok");
      await refresh();
    } catch (err) {
      takenHere.delete(alarm.id);
      Vigie.flash(Vigie.say(err));
    }
  }

  /* An alarm handed to this operator: he says he has it (`POST /take-over`), his bar goes quiet. */
  async function takeOver(alarm) {
    try {
      await api(`/api/alarms/${alarm.id}/take-over`, { method: "POST" });
      Vigie.flash(`${t("alarm.takenover")} n° ${alarm.id}`, "ok");
      await refresh();
    } catch (err) {
      Vigie.flash(Vigie.say(err));
    }
  }
  /* The row's button, and the key `a`: take an alarm to take, take over one handed to him. */
  const answer = (alarm) => (alarm.handed_to_you ? takeOver(alarm) : acknowledge(alarm));

  /* One BAR incident, one place in the queue: a pre-alert whose alert is on this page is shown
     right under it (the alert's priority places both). */
  function grouped(list) {
    const here = new Set(list.map((a) => a.id));
    const under = new Map();
    for (const a of list) {
      if (a.kind === "pre_alert" && a.incident && here.has(a.incident.alert_id)) under.set(a.incident.alert_id, a);
    }
    const followers = new Set([...under.values()].map((a) => a.id));
    return list.filter((a) => !followers.has(a.id)).flatMap((a) => (under.has(a.id) ? [a, under.get(a.id)] : [a]));
  }

  /* "1–200 sur 253": the queue is never cut without saying so; the pages are a click away. */
  function pager() {
    const shown = alarms.length ? `${offset + 1}` : "0";
    document.getElementById("queue-count").textContent = t("queue.count")
      .replace("{from}", shown).replace("{to}", offset + alarms.length).replace("{total}", total);
    document.getElementById("queue-prev").hidden = offset === 0;
    document.getElementById("queue-next").hidden = offset + alarms.length >= total;
  }
  document.getElementById("queue-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); refresh(); });
  document.getElementById("queue-next").addEventListener("click", () => { offset += PAGE; refresh(); });

  function kindCell(a) {
    const cell = el("td", {}, t(`kind.${a.kind}`));
    const pair = a.incident;
    if (pair && a.kind === "alert") {
      cell.append(" ", el("a", { class: "group", href: `/alarms/${pair.pre_alert_id}` },
        t("queue.group.prealert").replace("{id}", pair.pre_alert_id)));
    } else if (pair) {
      cell.prepend("↳ ");
      cell.append(" ", el("a", { class: "group", href: `/alarms/${pair.alert_id}` },
        t("queue.group.alert").replace("{id}", pair.alert_id)));
    }
    return cell;
  }

  function stateCell(a) {
    const cell = el("td", {}, el("span", { class: `status s-${a.status}` }, t(`status.${a.status}`)));
    // The condition has ended (he came back, the signal returned), or its rule did with nothing
    // observed (the zone's hours, an obligation lifted, the curfew's window with him still out):
    // never told as his return. Still an alarm to work.
    // Taken, and the situation came back since, or its holder has gone: to take again.
    if (a.raised_again_at) {
      const left = Boolean(a.raised_again_why);
      cell.append(" ", el("span", {
        class: left ? "back left" : "back",
        title: `${t(left ? "queue.left.title" : "queue.back.title")} (${when(a.raised_again_at)})`,
      }, t(left ? "queue.left" : "queue.back")));
    } else if (a.cleared_at && a.status !== "closed") {
      const rule = ENDED_WITH_RULE.has(a.cleared_reason);
      const title = rule ? t(`queue.ended.title.${a.cleared_reason}`) : t("queue.ended.title");
      cell.append(" ", el("span", { class: rule ? "ended by-rule" : "ended", title: `${title} (${when(a.cleared_at)})` },
        t(rule ? "queue.ended.rule" : "queue.ended")));
    }
    return cell;
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
    // A place held by another alarm before is guarded; not a place that held no row (nothing
    // there to aim at), nor any place at the first drawing.
    const now = performance.now();
    placedAt = new Map(alarms.map((a, i) => [a.id,
      drawn[i] === undefined || drawn[i] === a.id ? placedAt.get(a.id) ?? -Infinity : now]));
    drawn = alarms.map((a) => a.id);
    alarms.forEach((a, i) => {
      const open = a.to_take;  // open, or taken and come back: waits from then
      const waiting = a.raised_again_at || a.opened_at;
      const flagged = a.raised_again_at ? a.raised_again_escalated : a.escalated;
      const row = el("tr", {
        class: `p${a.priority} ${a.kind === "alert" ? "bar-alert" : ""} ${i === selected ? "selected" : ""} ${flagged ? "escalated" : ""}${a.incident && a.kind === "pre_alert" ? " grouped" : ""}`,
        "data-id": a.id, "data-kind": a.kind, "data-status": a.status, tabindex: "-1",
        "aria-selected": i === selected ? "true" : "false",
        // Selecting is not guarded: the highlight shows which alarm it is, and a click refused
        // would leave `a` on the alarm selected before, one the operator did not click either.
        // Its links are (the alarm's number, its BAR pair's): they open another alarm's page.
        onclick: (e) => {
          if (e.target.closest("a") && moved(row, a)) { e.preventDefault(); return; }
          selectedId = a.id;
          render();
        },
        ondblclick: () => { if (!moved(row, a)) location.assign(`/alarms/${a.id}`); },
      },
        el("td", {}, String(a.priority)),
        el("td", {}, el("a", { href: `/alarms/${a.id}` }, String(a.id)), flagged ? Vigie.escalatedFlag() : ""),
        // The centre's own alarm (a partition unwatched) has no case: its partition instead.
        el("td", {}, a.centre ? t("queue.centre").replace("{p}", String(a.detail.partition)) : a.case),
        el("td", { class: "wearer" }, a.wearer || "—"),
        el("td", {}, a.measure ? t(`measure.${a.measure}`) : "—"),
        kindCell(a),
        stateCell(a),
        el("td", { class: a.holder && a.holder.username === me ? "holder mine" : "holder" },
          a.holder ? a.holder.username : "—"),
        el("td", { class: "age", "data-since": a.raised_at, title: when(a.raised_at) }, duration(since(a.raised_at))),
        // An episode the centre learned of late (data uploaded after an outage): by how much.
        a.detection_lag_s >= 60
          ? el("td", { class: "lag" }, `${t("alarm.detected")} ${duration(a.detection_lag_s)} ${t("alarm.after")}`)
          : el("td", { class: "lag" }, ""),
        el("td", { class: open ? "tta counting" : "tta", "data-since": open ? waiting : null },
          open ? duration(since(waiting)) : duration(a.time_to_acknowledge_s)),
        el("td", {}, (open || a.handed_to_you) && canWork
          ? el("button", { type: "button", class: "ack", onclick: (e) => { e.stopPropagation(); if (!moved(row, a)) answer(a); } },
            t(a.handed_to_you ? "alarm.takeover" : a.raised_again_at ? "alarm.ackagain" : "alarm.ack"))
          : ""),
      );
      const left = placedAt.get(a.id) + MOVED_MS - now;
      if (left > 0) {
        row.setAttribute("data-moved", "");
        setTimeout(() => row.removeAttribute("data-moved"), left);
      }
      const outlined = (refusedAt.get(a.id) ?? -Infinity) + REFUSED_MS - now;
      if (outlined > 0) outline(row, outlined);
      else refusedAt.delete(a.id);
      body.append(row);
    });
    document.getElementById("queue-empty").hidden = alarms.length > 0;
    // The BAR banner and the sound are the alarm layer's (alarm_layer.js): they read every open
    // alarm, whatever this queue's filters.
    const row = body.querySelector("tr.selected");
    if (row) row.scrollIntoView({ block: "nearest" });
    // The queue's tools (bulk acknowledge, known absences) decorate the rows just drawn; their
    // clicks on a row are guarded as its own (`moved`).
    document.dispatchEvent(new CustomEvent("vigie:queue", { detail: { alarms, refresh, moved } }));
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
    else if (e.key === "a" && alarm && (alarm.to_take || alarm.handed_to_you) && canWork) answer(alarm);
    else return;
    e.preventDefault();
  });
  filters.addEventListener("change", () => { offset = 0; refresh(); });
  filters.addEventListener("submit", (e) => { e.preventDefault(); offset = 0; refresh(); });

  // One live stream per tab: the alarm layer's; the queue refreshes at each of its events.
  const dot = document.getElementById("live");
  VigieAlarms.subscribe(refresh);
  VigieAlarms.onState((up) => dot.classList.toggle("up", up));
  refresh();
})();
