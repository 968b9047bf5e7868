"use strict";
/* The alarm layer: on every page of the centre's staff, whatever the page and its filters, the
   most urgent alarm to take in a fixed bar, its sound repeated until it is acknowledged (a sound
   of its own for an SOS and for a BAR alert), the tab's title and icon flashing, and a browser
   notification. It reads ALL the alarms to take the user may see (`GET /api/alarms?to_take=true`:
   the open ones, and the taken ones whose situation came back since, to take again), never the
   queue's filtered list, at every event of the live stream; for an operator, the alarms handed
   to him that he has not taken over yet come with them (`handed_to_you`): taken, they sound
   nowhere else, and a BAR alert handed to him while on another page must reach him.

   What it shows is also exposed for tests and for other scripts, as data attributes of
   #alarm-bar and as `VigieAlarms.state()`:
     data-top-id, data-top-kind, data-top-priority  the most urgent alarm to take ("" if none)
     data-open, data-escalated                        counts of alarms to take / of those escalated
     data-back       how many of them are taken alarms come back, to take again
     data-handed     how many of them were handed to this operator, not yet taken over
     data-sound      the sound due: "sos" (priority 0), "bar" (BAR alert), "alarm", or ""
     data-rings      how many times a sound was played (audio running)
     data-missed     how many times a sound was due while the browser blocked audio
     data-audio      "running", "blocked" (autoplay policy: one click needed) or "none"
     data-flashing   "true" while the title and icon flash
     data-notified   how many browser notifications this page showed */
const VigieAlarms = (() => {
  const WORKERS = ["operator", "supervisor"];  // who works alarms: the bar and its sound
  const READERS = [...WORKERS, "spip", "judge", "prosecutor"];  // who may follow the stream
  const subscribers = [];
  const stateListeners = [];
  let streamUp = null;  // the stream's last state, told at once to a late listener
  const layer = {
    /* The queue refreshes on the same stream (one stream per tab). */
    subscribe: (fn) => subscribers.push(fn),
    onState: (fn) => { stateListeners.push(fn); if (streamUp !== null) fn(streamUp); },
    state: () => null,
  };
  const bar = document.getElementById("alarm-bar");
  if (!bar || !Vigie.requireLogin()) return layer;
  const live = (onChange) => Vigie.live("/api/console/stream", onChange, (up) => {
    streamUp = up;
    for (const fn of stateListeners) fn(up);
  });
  if (!WORKERS.includes(Vigie.session.role)) {
    // No bar and no sound for the other roles: the stream only for a page that follows it.
    bar.hidden = true;
    if (READERS.includes(Vigie.session.role)) {
      layer.subscribe = (fn) => {
        if (!subscribers.length) live(() => { for (const f of subscribers) f(); });
        subscribers.push(fn);
      };
    }
    return layer;
  }
  const { t } = Vigie;
  const banner = document.getElementById("bar-banner");
  const counts = document.getElementById("bar-counts");
  const button = document.getElementById("sound-on");
  const blocked = document.getElementById("audio-blocked");
  const announce = document.getElementById("bar-announce");
  // How often each sound comes back while its alarm is open (ms).
  const EVERY = { sos: 2500, bar: 4000, alarm: 15000 };
  let open = [];
  let rings = 0, missed = 0, notified = 0;
  let ringTimer = null;
  let ringing = "";

  /* ---- sound: WebAudio tones, no file to ship. Chromium creates the context suspended when the
     page had no click (a reload, a new tab): the operator must click once, and is told so. */
  let audio = null;
  try { audio = new AudioContext(); } catch (err) { audio = null; }

  function audioState() {
    if (!audio) return "none";
    return audio.state === "running" ? "running" : "blocked";
  }

  function showAudio() {
    const state = audioState();
    bar.dataset.audio = state;
    blocked.hidden = state === "running";
    button.hidden = state === "running" && localStorage.getItem("vigie.sound") === "on";
  }

  async function unlock() {
    if (!audio) return;
    try { await audio.resume(); } catch (err) { /* still blocked: the notice stays */ }
    showAudio();
  }

  function tone(start, frequency, length, type = "sine", gain = 0.25) {
    const osc = audio.createOscillator();
    const volume = audio.createGain();
    osc.type = type;
    osc.frequency.value = frequency;
    volume.gain.value = gain;
    osc.connect(volume).connect(audio.destination);
    osc.start(audio.currentTime + start);
    osc.stop(audio.currentTime + start + length);
  }

  const SOUNDS = {
    // SOS: fast high triple pulses, twice: unlike anything else in the centre.
    sos: () => { for (let i = 0; i < 6; i += 1) tone(i * 0.16 + (i >= 3 ? 0.25 : 0), 1320, 0.1, "square", 0.2); },
    // BAR alert: a two-tone siren.
    bar: () => { for (let i = 0; i < 4; i += 1) tone(i * 0.3, i % 2 ? 660 : 990, 0.28, "sawtooth", 0.15); },
    // Any other open alarm: one soft double beep.
    alarm: () => { tone(0, 880, 0.15); tone(0.25, 660, 0.15); },
  };

  function ring() {
    if (!ringing) return;
    if (audioState() === "running") {
      SOUNDS[ringing]();
      rings += 1;
    } else {
      missed += 1;
    }
    bar.dataset.rings = String(rings);
    bar.dataset.missed = String(missed);
    showAudio();
  }

  function soundFor(top) {
    if (!top) return "";
    if (top.priority === 0 || top.kind === "sos") return "sos";
    if (top.kind === "alert") return "bar";
    return "alarm";
  }

  function setSound(name) {
    bar.dataset.sound = name;
    if (name === ringing) return;
    ringing = name;
    clearInterval(ringTimer);
    if (name) {
      ring();
      ringTimer = setInterval(ring, EVERY[name]);
    }
  }

  /* ---- the tab's title and icon flash while an alarm waits. */
  const title = document.title;
  const icon = document.querySelector("link[rel=icon]");
  const plainIcon = icon.href;
  const redIcon = "data:image/svg+xml," + encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#c62828"/></svg>');
  let flashTimer = null, flashOn = false, flashText = "";

  function flash(text) {
    flashText = text;
    bar.dataset.flashing = text ? "true" : "false";
    if (text && !flashTimer) {
      flashTimer = setInterval(() => {
        flashOn = !flashOn;
        document.title = flashOn ? `(!) ${flashText}` : title;
        icon.href = flashOn ? redIcon : plainIcon;
      }, 1000);
    } else if (!text && flashTimer) {
      clearInterval(flashTimer);
      flashTimer = null;
      document.title = title;
      icon.href = plainIcon;
    }
  }

  /* An alarm to take, once: its opening, each return of a taken one (`raised_again_at`), each
     hand-over to this operator. */
  const once = (alarm) => {
    if (alarm.handed_to_you) return `${alarm.id}>${alarm.handed_to_you.at}`;
    return alarm.raised_again_at ? `${alarm.id}@${alarm.raised_again_at}` : String(alarm.id);
  };
  /* Flagged to the supervisor for this wait: left open, or come back and not taken again. */
  const flagged = (alarm) => (alarm.raised_again_at ? alarm.raised_again_escalated : alarm.escalated);

  /* ---- browser notifications: each alarm once per browser (the tabs share the list). */
  function notify(alarm, label) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const seen = new Set(JSON.parse(localStorage.getItem("vigie.notified") || "[]"));
    if (seen.has(once(alarm))) return;
    seen.add(once(alarm));
    localStorage.setItem("vigie.notified", JSON.stringify([...seen].slice(-500)));
    const back = aside(alarm) ? ` (${aside(alarm)})` : "";
    const note = new Notification(`Vigie : ${label} n° ${alarm.id}${back}`, {
      body: alarm.centre ? where(alarm) : `${t("queue.case")} ${alarm.case}`, tag: `vigie-alarm-${alarm.id}`, requireInteraction: alarm.priority <= 1,
    });
    note.onclick = () => { window.focus(); location.assign(`/alarms/${alarm.id}`); };
    notified += 1;
    bar.dataset.notified = String(notified);
  }

  /* A taken alarm to take again: its situation came back, or its holder has gone. */
  const backWord = (alarm) => t(alarm.raised_again_why ? "bar.left" : "bar.back");
  /* What the bar says beside an alarm: handed to this operator, back, left, or nothing. */
  const aside = (alarm) => {
    if (alarm.handed_to_you) return t("bar.handed");
    return alarm.raised_again_at ? backWord(alarm) : "";
  };

  function label(alarm) {
    if (alarm.priority === 0 || alarm.kind === "sos") return t("bar.sos");
    if (alarm.kind === "alert") return t("queue.baralert");
    return t(`kind.${alarm.kind}`);
  }

  /* Whose alarm: the case, or for the centre's own (a partition unwatched) the partition. */
  function where(alarm) {
    return alarm.centre ? `${t("detail.partition")} ${alarm.detail.partition}` : alarm.case;
  }

  const heard = new Set();
  function render() {
    const top = open[0] || null;  // the API sorts by priority, then age
    const escalated = open.filter(flagged).length;
    bar.dataset.open = String(open.length);
    bar.dataset.escalated = String(escalated);
    bar.dataset.back = String(open.filter((a) => a.raised_again_at).length);
    bar.dataset.handed = String(open.filter((a) => a.handed_to_you).length);
    bar.dataset.topId = top ? String(top.id) : "";
    bar.dataset.topKind = top ? top.kind : "";
    bar.dataset.topPriority = top ? String(top.priority) : "";
    counts.textContent = t("bar.counts").replace("{open}", open.length).replace("{escalated}", escalated);
    counts.classList.toggle("escalated", escalated > 0);
    if (top) {
      // The banner names every open alarm of the top class (all the SOS, or all the BAR alerts).
      const same = open.filter((a) => label(a) === label(top));
      banner.href = `/alarms/${top.id}`;
      const back = (a) => (aside(a) ? ` ${aside(a)}` : "");
      banner.textContent = `${label(top)} : ${same.map((a) => `n° ${a.id} (${where(a)})${back(a)}`).join(", ")}`;
      banner.title = banner.textContent;  // one line on screen: the whole list on hover
      banner.className = `bar-banner p${Math.min(top.priority, 2)}`;
      banner.dataset.kind = top.kind;
      banner.hidden = false;
      flash(`${label(top)} n° ${top.id}`);
    } else {
      banner.hidden = true;
      flash("");
    }
    const fresh = open.filter((a) => !heard.has(once(a)));
    for (const alarm of fresh) {
      heard.add(once(alarm));
      notify(alarm, label(alarm));
    }
    if (fresh.length) announce.textContent = `${label(fresh[0])} n° ${fresh[0].id}`;
    // An alarm raised within a known absence (alarms.suspensions) is shown, never sounded.
    setSound(soundFor(open.find((a) => !a.known_absence)));
  }

  const TO_TAKE = "/api/alarms?to_take=true&limit=1000";
  const readOpen = Vigie.latest(() => Vigie.api(TO_TAKE));
  async function refresh() {
    try {
      const fresh = await readOpen();  // null: a read asked later answered first, and is shown
      if (fresh) {
        open = fresh;
        render();
      }
    } catch (err) {
      console.warn("alarm layer:", err.message);  // the connection banner says it to the operator
    }
    for (const fn of subscribers) fn();
  }

  button.addEventListener("click", async () => {
    localStorage.setItem("vigie.sound", "on");
    await unlock();
    if ("Notification" in window && Notification.permission === "default") {
      try { await Notification.requestPermission(); } catch (err) { /* refused: the bar stays */ }
    }
    if (audioState() === "running") tone(0, 880, 0.12);  // the operator hears that it works
  });
  // Any click or key on the page lets the browser play sound again (after a reload, say).
  for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, unlock, { capture: true });
  if (audio) audio.addEventListener("statechange", showAudio);
  showAudio();

  live(refresh);

  layer.state = () => ({
    top: open[0] || null, open: open.length, escalated: open.filter(flagged).length,
    sound: ringing, rings, missed, audio: audioState(),
  });
  /* The next alarm to take, most urgent first, other than `except`. */
  layer.next = async (except) => {
    const fresh = await Vigie.api(TO_TAKE);
    return fresh.find((a) => String(a.id) !== String(except)) || null;
  };
  return layer;
})();
