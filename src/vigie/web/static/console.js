/* The console's core: the token, calls to the API, the live stream, maps, words, keys.
   Every datum on screen comes from the API with the user's own token. */
"use strict";
const Vigie = (() => {
  const words = JSON.parse(document.getElementById("vigie-words").textContent);
  const tiles = JSON.parse(document.getElementById("vigie-tiles").textContent);
  const t = (key) => words[key] || key;
  // The token, shared by the tabs and renewed before it expires (session.js).
  const session = VigieSession;

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  /* A request with the user's token, answered by a Response. A 401 opens the in-page re-login
     and the request is made again with the new token (the page, its typed text and the alarm bar
     stay); a network failure shows the "connection lost" banner and is told in the page's
     language, never as "Failed to fetch". */
  async function send(path, options = {}) {
    const headers = { ...(options.headers || {}) };
    for (let attempt = 0; ; attempt += 1) {
      const sent = session.token;
      if (sent) headers.Authorization = `Bearer ${sent}`;
      let response;
      try {
        response = await fetch(path, { ...options, headers });
      } catch (err) {
        VigieConnection.failed();
        throw new ApiError(0, { message: t("connection.lost.short") });
      }
      if (response.status >= 502 && response.status <= 504) VigieConnection.failed();
      else VigieConnection.ok();
      if (response.status === 401 && path !== "/api/auth/token" && attempt < 3) {
        // Renewed by another tab meanwhile: try again at once; else ask for the password here.
        if (session.token === sent) await session.askLogin();
        continue;
      }
      return response;
    }
  }

  /* A call to the API: JSON in and out; a refusal is thrown as an ApiError. */
  async function api(path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    let body = options.body;
    if (body !== undefined && typeof body !== "string") {
      body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    const response = await send(path, { ...options, headers, body });
    if (options.onResponse) options.onResponse(response);
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  /* Server-sent events read through fetch, so the token travels in a header, not in the URL. */
  function live(path, onChange, onState) {
    let stopped = false;
    async function run() {
      while (!stopped) {
        try {
          const sent = session.token;
          const response = await fetch(path, { headers: { Authorization: `Bearer ${sent}` } });
          if (response.status === 401) {
            VigieConnection.ok();  // the centre answered: it is the token that is refused
            if (session.token === sent) await session.askLogin();
            continue;
          }
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          VigieConnection.ok();
          onState(true);
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;  // ended by the centre (token renewed, shutdown): reconnect
            buffer += value;
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              if (/^event: changed$/m.test(block)) onChange();
            }
          }
          onState(false);
          await new Promise((r) => setTimeout(r, 200));
          continue;
        } catch (err) {
          console.warn("live stream interrupted:", err.message);
          VigieConnection.failed();
        }
        onState(false);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    run();
    return () => { stopped = true; };
  }

  function flash(message, kind = "error") {
    const box = document.getElementById("flash");
    box.textContent = message;
    box.className = kind;
    box.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  const locale = document.documentElement.lang === "en" ? "en-GB" : "fr-FR";
  const timeFormat = new Intl.DateTimeFormat(locale, {
    timeZone: "Europe/Paris", dateStyle: "short", timeStyle: "medium",
  });
  const when = (iso) => (iso ? timeFormat.format(new Date(iso)) : "—");
  /* A calendar date (a birth, an order's day, a deadline: no hour, no zone) as the page's
     language writes it, 20/05/2027, not the API's 2027-05-20. */
  const dayFormat = new Intl.DateTimeFormat(locale, { timeZone: "UTC", dateStyle: "short" });
  const day = (iso) => (/^\d{4}-\d{2}-\d{2}$/.test(iso || "") ? dayFormat.format(new Date(`${iso}T00:00:00Z`)) : iso || "—");
  /* A weekly window's days ("mon-fri", "sat,sun", "daily": the API's words) in the page's. */
  const days = (text) => String(text || "").toLowerCase().replace(/\s/g, "").split(",").map((token) => {
    if (["daily", "*", "all"].includes(token)) return t("zones.day.daily");
    const [first, last] = token.split("-");
    const name = (d) => (words[`zones.day.${d}`] ? t(`zones.day.${d}`) : d);
    return last === undefined ? name(first) : `${name(first)}–${name(last)}`;
  }).join(", ");
  /* The days a days expression names, as the API reads it (detect/schedule.py, parse_days):
     "mon-fri", "sat,sun", a range across the week's end ("fri-mon"), "daily" (or "*", "all"), in
     any case and spacing. A word it does not know names no day (the API refuses it). */
  const WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  const daySet = (text) => {
    const chosen = new Set();
    for (const token of String(text || "").toLowerCase().replace(/\s/g, "").split(",")) {
      if (["daily", "*", "all"].includes(token)) WEEK.forEach((d) => chosen.add(d));
      const [first, last] = token.split("-");
      const from = WEEK.indexOf(first), to = WEEK.indexOf(last === undefined ? first : last);
      if (from < 0 || to < 0) continue;
      for (let i = 0; i <= (to - from + 7) % 7; i++) chosen.add(WEEK[(from + i) % 7]);
    }
    return chosen;
  };
  /* A weekly schedule's windows in words: "Lun–Ven 20:00–07:00; Sam 09:00–12:00". */
  const hours = (windows) => (windows || []).map((w) => `${days(w.days)} ${w.from}–${w.to}`).join("; ");
  /* Paris time both ways: the console shows every time in it, so a form's date and time
     (datetime-local, no zone of its own) is read in it too, and "today" is Paris's date. On a
     workstation set to another zone, a 10:00 typed was sent as that zone's 10:00 and shown
     back as another hour. */
  const parisParts = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Europe/Paris", hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  function parisWall(ms) {
    const p = {};
    for (const part of parisParts.formatToParts(new Date(ms))) p[part.type] = part.value;
    return p;
  }
  const parisDate = (ms) => { const p = parisWall(ms); return `${p.year}-${p.month}-${p.day}`; };
  /* The instant of a Paris wall time ("2026-12-06T10:00"), as the server's zoneinfo reads it:
     the wall time less Paris's offset, the one in force a day before or a day after, whichever
     gives back that wall time. A time met twice in autumn is its first; one skipped in spring
     takes the winter offset (02:30 is 03:30 summer time). */
  function fromParis(local) {
    const [ymd, hms] = local.split("T");
    const [y, mo, d] = ymd.split("-").map(Number);
    const [h, mi, s = 0] = hms.split(":").map(Number);
    const wall = Date.UTC(y, mo - 1, d, h, mi, s);
    const offset = (ms) => {
      const p = parisWall(ms);
      return Date.UTC(+p.year, p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
    };
    const before = offset(wall - 864e5);
    const found = [wall - before, wall - offset(wall + 864e5)].filter((at) => offset(at) === wall - at);
    return new Date(found.length ? Math.min(...found) : wall - before).toISOString();
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
  }
  /* The server's clock, not this workstation's: a desk PC set minutes off would otherwise
     misstate how long an alarm has waited (the page carries the server's time when served). */
  const skew = new Date(document.body.dataset.serverNow).getTime() - Date.now() || 0;
  const now = () => Date.now() + skew;
  const since = (iso) => (now() - new Date(iso).getTime()) / 1000;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
    return node;
  }

  /* A Leaflet map: the configured tiles, or a plain background with the départements outline. */
  function map(id) {
    const m = L.map(id, { zoomControl: true, attributionControl: true }).setView([46.6, 2.4], 6);
    if (tiles.url) {
      L.tileLayer(tiles.url, { attribution: tiles.attribution, maxZoom: 19 }).addTo(m);
    } else {
      document.getElementById(id).classList.add("plain");
      fetch("/static/departements.geojson").then((r) => r.json()).then((outline) => {
        L.geoJSON(outline, {
          interactive: false,
          style: { color: "#8a94a6", weight: 1, fill: true, fillColor: "#f4f1ea", fillOpacity: 1 },
        }).addTo(m).bringToBack();
      });
      m.attributionControl.addAttribution("Départements: MapSVG, CC BY 4.0");
      // Nobody may take the outline for a street map: no address can be read off it.
      const notice = L.control({ position: "bottomleft" });
      notice.onAdd = () => el("div", { class: "map-notice", role: "note" }, t("map.outline"));
      notice.addTo(m);
    }
    if (tiles.geocoder) addressSearch(m);
    return m;
  }

  /* An address typed by the operator, looked up by the centre (VIGIE_GEOCODER_URL), shown. */
  function addressSearch(m) {
    const control = L.control({ position: "topleft" });
    control.onAdd = () => {
      const input = el("input", { type: "search", name: "address", "aria-label": t("map.search"), placeholder: t("map.search"), minlength: "3" });
      const found = el("ul", { class: "geo-results" });
      const form = el("form", { class: "geo-search", role: "search" }, input, " ",
        el("button", { type: "submit" }, t("map.searchgo")), found);
      L.DomEvent.disableClickPropagation(form);
      L.DomEvent.disableScrollPropagation(form);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        try {
          const places = await api(`/api/console/geocode?q=${encodeURIComponent(input.value.trim())}`);
          found.replaceChildren(...places.map((p) => el("li", {}, el("button", {
            type: "button",
            onclick: () => {
              m.setView([p.lat, p.lon], 17);
              L.marker([p.lat, p.lon], { keyboard: false, title: p.label }).bindTooltip(tip(p.label)).addTo(m);
            },
          }, p.label))));
          if (!places.length) found.replaceChildren(el("li", {}, t("map.nothing")));
        } catch (err) {
          flash(err.message);
        }
      });
      return form;
    };
    control.addTo(m);
  }

  /* A tooltip's content as a text node: Leaflet reads a string as HTML, and labels, names and
     ids come from people (a zone label "<img onerror=…>" must show as written, never run). */
  const tip = (text) => el("span", {}, text);

  /* A zone as Leaflet draws it: GeoJSON polygon, or the detection engine's circle. */
  function zoneLayer(zone) {
    const style = zone.type === "exclusion"
      ? { color: "#c62828", fillOpacity: 0.15 } : { color: "#2e7d32", fillOpacity: 0.08 };
    const g = zone.geometry;
    const layer = g.type === "circle"
      ? L.circle([g.lat, g.lon], { radius: g.radius_m, ...style })
      : L.geoJSON(g, { style });
    return layer.bindTooltip(tip(`${zone.label || zone.id} (${t("zones." + zone.type)})`));
  }

  function trackLayer(points) {
    const line = L.polyline(points.map((p) => [p.lat, p.lon]), { color: "#1565c0", weight: 3 });
    const group = L.featureGroup([line]);
    if (points.length) {
      const last = points[points.length - 1];
      L.circleMarker([last.lat, last.lon], { radius: 7, color: "#0d47a1", fillOpacity: 1 })
        .bindTooltip(tip(`${t("map.wearer")} ${when(last.t)}`)).addTo(group);
    }
    return group;
  }

  /* The escalation flag, said as well as shown (a CSS glyph alone is not announced). */
  const escalatedFlag = () => el("span", { class: "flag" },
    el("span", { "aria-hidden": "true" }, " ⚑"), el("span", { class: "sr-only" }, ` ${t("queue.escalated")}`));

  /* Dark or light: the system's choice until the user toggles; kept for every page and tab. */
  const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");
  const isDark = () => (document.documentElement.dataset.theme || (darkQuery.matches ? "dark" : "light")) === "dark";
  function themeToggle() {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const show = () => button.setAttribute("aria-pressed", String(isDark()));
    show();
    darkQuery.addEventListener("change", show);
    button.addEventListener("click", () => {
      const theme = isDark() ? "light" : "dark";
      document.documentElement.dataset.theme = theme;
      localStorage.setItem("vigie.theme", theme);
      show();
    });
    window.addEventListener("storage", (e) => {
      if (e.key !== "vigie.theme") return;
      if (e.newValue) document.documentElement.dataset.theme = e.newValue;
      show();
    });
  }

  /* Show only what the user's role may use; the API refuses the rest anyway. */
  function applyRole() {
    for (const node of document.querySelectorAll("[data-roles]")) {
      if (!node.dataset.roles.split(" ").includes(session.role)) node.hidden = true;
    }
    // Links to pages a role may not open are not in the page until the role is known.
    for (const link of document.querySelectorAll(".top nav a[data-roles]")) {
      link.hidden = !link.dataset.roles.split(" ").includes(session.role);
    }
    const who = document.getElementById("who");
    if (who) who.textContent = `${session.user} · ${t("role." + session.role)}`;
  }

  /* Every operator sees when the centre is blind (detection failing or stalled, the database
     or the server not answering): alarms may be missing, whatever the queue shows. */
  const hourFormat = new Intl.DateTimeFormat(locale, {
    timeZone: "Europe/Paris", hour: "2-digit", minute: "2-digit",
  });
  function watchHealth(every = 5000) {
    const banner = document.getElementById("blind");
    if (!banner) return;
    let seenSince = null;  // when this console first saw the centre blind
    async function poll() {
      let body = null, ok = false;
      try {
        const response = await fetch("/api/health", { headers: { Accept: "application/json" } });
        VigieConnection.ok();
        ok = response.ok;
        body = await response.json();
      } catch (err) {
        console.warn("health not reached:", err.message);
        VigieConnection.failed();
      }
      const blind = !ok && !(body && body.status === "starting");
      if (!blind) {
        seenSince = null;
        banner.hidden = true;
      } else {
        seenSince = seenSince || new Date(now()).toISOString();
        const since = (body && body.pipeline && body.pipeline.blind_since)
          || (body && body.cluster && body.cluster.blind_since) || seenSince;
        banner.textContent = t("blind.since").replace("{time}", hourFormat.format(new Date(since)));
        banner.dataset.since = since;
        banner.hidden = false;
      }
      setTimeout(poll, every);
    }
    poll();
  }

  /* How many taken alarms the operator holds (0 for other roles, or if the centre is away). */
  async function heldByMe() {
    if (session.role !== "operator") return 0;
    try {
      const answer = await fetch("/api/alarms?status=acknowledged&status=in_progress&limit=1000",
        { headers: { Authorization: `Bearer ${session.token}` } });
      if (!answer.ok) return 0;
      return (await answer.json()).filter((a) => a.holder && a.holder.username === session.user).length;
    } catch (err) { return 0; }
  }

  function requireLogin() {
    if (!session.token) { location.assign("/login"); return false; }
    if (requireLogin.done) return true;  // the alarm layer and the page both ask
    requireLogin.done = true;
    applyRole();
    themeToggle();
    watchHealth();
    session.schedule();
    session.on("ended", () => location.assign("/login"));  // logged out in another tab
    document.getElementById("logout").addEventListener("click", async () => {
      // An operator who leaves releases the alarms he holds (`holder_gone`): said first.
      const held = await heldByMe();
      if (held > 0 && !confirm(t("logout.holding").replace("{n}", held))) return;
      // The centre revokes the token: a copy of it left anywhere is worth nothing after this.
      try {
        await fetch("/api/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${session.token}` } });
      } catch (err) { /* already ended, or the centre is away: the token expires anyway */ }
      session.clear();
      location.assign("/login");
    });
    return true;
  }

  /* htmx requests carry the token too; a 422 is an answer to show, not a failure. */
  document.addEventListener("htmx:configRequest", (e) => {
    if (session.token) e.detail.headers.Authorization = `Bearer ${session.token}`;
  });
  if (window.htmx) {
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true, error: false },
      { code: "401", swap: false, error: true },
      { code: "[45]..", swap: false, error: true },
    ];
  }
  document.addEventListener("htmx:sendError", () => {
    VigieConnection.failed();
    flash(t("connection.lost.short"));
  });
  document.addEventListener("htmx:responseError", (e) => {
    if (e.detail.xhr.status === 401) { session.askLogin(); return; }
    flash(`${t("error.request")} (${e.detail.xhr.status})`);
  });

  /* `read` wrapped so that an answer older than one already given comes back as null: reads
     started by the live stream overlap, and the one asked first may answer last. Applied, it
     would put an older state on screen (an acknowledged alarm open again, a new alarm missing
     from the bar) until the next change. */
  function latest(read) {
    let issued = 0;
    let answered = 0;
    return async (...args) => {
      const ticket = ++issued;
      const value = await read(...args);
      if (ticket < answered) return null;
      answered = ticket;
      return value;
    };
  }

  /* A page of a list and the count of all its rows (the API's X-Total-Count header). */
  async function apiPage(path) {
    let total = null;
    const data = await api(path, { onResponse: (r) => { total = Number(r.headers.get("X-Total-Count")); } });
    return { data, total: Number.isFinite(total) ? total : data.length };
  }

  /* Words for what the API says in codes: never a key (`distance_m`) on screen, and in the
     French console never the API's English message (a table of the known ones, else the code's
     sentence). */
  const number = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
  const metres = (m) => `${number.format(m)} m`;
  function distanceText(target) {
    if (!target || typeof target.distance_m !== "number") return "";
    const d = (target.rounded_to_m ? `${t("distance.about")} ` : "") + metres(target.distance_m);
    return t(target.target_kind === "place" ? "distance.place" : "distance.victim").replace("{d}", d);
  }
  const DETAIL = {
    distance_m: (v, d) => `${metres(v)}${d.distance_rounded_to_m ? ` (${t("distance.rounded").replace("{d}", metres(d.distance_rounded_to_m))})` : ""}`,
    threshold_m: metres, depth_m: (v) => metres(Math.abs(v)), accuracy_m: metres, uncertainty_m: metres,
    zone: String, zone_type: (v) => t(`zones.${v}`), target_kind: (v) => t(`detail.target_kind.${v}`),
    timeout_s: (v) => duration(v), last_seen: (v) => when(v), fix_t: (v) => when(v),
    level: (v) => `${Math.round(v * 100)} %`, home_unit: String, reason: (v) => t(`detail.reason.${v}`),
    partition: String, cases: String, devices: String,  // the centre's own alarm: counts only
    // A measure detection cannot apply (`unmonitored`): what it refused; flags say their label.
    field: fieldLabel, error: String, since: (v) => when(v), watched_as_before: () => "", again: () => "",
    // Closed while it went on, and raised again by the centre (`vigie.alarms.ongoing`).
    ongoing_since: (v) => when(v), closed_alarm: String,
  };
  /* The part of a measure detection refused, in words (`zones.0.geometry` is a zone's). */
  function fieldLabel(v) {
    const key = `detail.field.${String(v).split(".")[0]}`;
    return words[key] ? t(key) : String(v);
  }
  /* The depth is counted on the zone's forbidden side: inside an exclusion zone, outside an
     inclusion zone (negative on the other side, a cleared breach). Said as where he is: a
     wearer 220 m out of his inclusion zone read "in the zone by 220 m". */
  function depthLabel(v, detail) {
    const type = detail.zone_type;
    if (type !== "inclusion" && type !== "exclusion") return t("detail.depth_m");
    return t((type === "inclusion") !== (v < 0) ? "detail.depth_m.outside" : "detail.depth_m.inside");
  }
  /* An alarm's detail in words, known keys only (the others would show a key). */
  function detailText(detail) {
    return Object.entries(detail || {}).filter(([k, v]) => DETAIL[k] && v !== null && typeof v !== "object")
      .map(([k, v]) => [k === "depth_m" ? depthLabel(v, detail) : t(`detail.${k}`), DETAIL[k](v, detail)])
      .map(([label, said]) => (said === "" ? label : `${label} : ${said}`)).join(" · ");
  }
  const KNOWN_ERRORS = [
    [/only an open alarm is acknowledged/, "error.msg.notopen"],
    [/acknowledge it before logging/, "error.msg.acknowledgefirst"],
    [/only an acknowledged alarm can be closed/, "error.msg.notacknowledged"],
    [/acknowledge it again before closing it/, "error.msg.ackagainfirst"],
    [/shown only to the operator holding/, "error.msg.notholder"],
    [/has no report/, "error.msg.noreport"],
    [/download its report instead/, "error.msg.closed"],
    [/has no bracelet assigned to warn/, "error.msg.nobracelet"],
    [/is the centre's own \(no case, nobody to call\)/, "error.msg.centreonly"],
    [/no incident report is made for a judge/, "error.msg.centrenoreport"],
    [/^device .* is already registered$/, "error.msg.registered"],
    [/is assigned to another placement/, "error.msg.otherplacement"],
    [/^device .* is a \w+; the \w+ role needs a/, "error.msg.wrongkind"],
  ];
  // Refusals whose message the API writes in French (the closing rule of R24-20 CPP).
  const FRENCH_CODES = new Set(["qualification_refused"]);
  /* What to tell the user of a failed call, in the page's language. */
  function say(err) {
    if (!(err instanceof ApiError)) return err instanceof TypeError ? t("error.network") : err.message;
    if (document.documentElement.lang === "en") return err.message;
    if (err.status === 0) return err.message;  // the centre unreachable: `send` said it in words
    const body = err.body && typeof err.body === "object" ? err.body : {};
    if (FRENCH_CODES.has(body.error)) return String(body.message);  // the API wrote it in French
    for (const [pattern, key] of KNOWN_ERRORS) if (pattern.test(String(body.message || ""))) return t(key);
    const general = words[`error.code.${body.error}`] || `${t("error.request")} (${err.status})`;
    const field = body.field && words[`field.${body.field}`];
    return field ? `${general} (${t("error.field")} : ${field})` : general;
  }

  /* A file the API answered (a PDF fetched with the token) saved under `name`: through a link
     put in the page while it is clicked, since Chromium does not always start a detached one's. */
  async function saveFile(response, name) {
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: name });
    document.body.append(link);
    link.click();
    link.remove();
  }

  /* A device's kind in the words the case page gives its role. */
  const DEVICE_KINDS = { bracelet: "device.wearer", home_unit: "device.home_unit", protected_device: "device.protected" };
  const deviceKind = (kind) => (DEVICE_KINDS[kind] ? t(DEVICE_KINDS[kind]) : kind);

  return { t, words, session, send, api, apiPage, saveFile, deviceKind, latest, live, flash, when, day, days, daySet, WEEK, hours, parisDate, fromParis, duration, now, since, el, tip, map, zoneLayer,
    trackLayer, requireLogin, ApiError, say, detailText, distanceText, metres, escalatedFlag };
})();
