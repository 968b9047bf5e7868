"use strict";
/* The console's session: one token for every tab of this browser, renewed quietly before it
   expires, and, if it did expire (a PC asleep past the expiry), a re-login in the page that keeps
   the page, its typed text and the alarm bar, instead of a trip to /login.

   The token lives in localStorage (shared by the tabs of this origin, so a Ctrl+click or a second
   window needs no login); a renewal or a logout in one tab reaches the others by the `storage`
   event and a BroadcastChannel. What that means for security is in the README ("Session"). */
const VigieSession = (() => {
  const KEYS = { token: "vigie.token", role: "vigie.role", user: "vigie.user" };
  const channel = "BroadcastChannel" in window ? new BroadcastChannel("vigie.session") : null;
  const listeners = { renewed: [], ended: [] };
  const store = window.localStorage;
  let renewals = 0;
  let renewTimer = null;
  let relogin = null;  // the pending re-login, shared by every call that met a 401

  function claims(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part));
    } catch (err) {
      return {};
    }
  }

  const session = {
    get token() { return store.getItem(KEYS.token); },
    get role() { return store.getItem(KEYS.role); },
    get user() { return store.getItem(KEYS.user); },
    /* When the token expires, in ms of the centre's clock (null without a token). */
    get expiresAt() {
      const exp = this.token && claims(this.token).exp;
      return exp ? exp * 1000 : null;
    },
    get renewals() { return renewals; },
    save(token, role, user) {
      store.setItem(KEYS.token, token);
      if (role) store.setItem(KEYS.role, role);
      if (user) store.setItem(KEYS.user, user);
      if (channel) channel.postMessage({ type: "renewed" });
      schedule();
    },
    clear() {
      for (const key of Object.values(KEYS)) store.removeItem(key);
      if (channel) channel.postMessage({ type: "ended" });
    },
    on(event, handler) { listeners[event].push(handler); },
  };

  function emit(event) { for (const handler of listeners[event]) handler(); }

  /* Another tab renewed, logged in again or logged out. */
  function heard(type) {
    if (type === "renewed") { schedule(); emit("renewed"); }
    else if (type === "ended") emit("ended");
  }
  if (channel) channel.onmessage = (e) => heard(e.data.type);
  window.addEventListener("storage", (e) => {
    if (e.key === KEYS.token) heard(e.newValue ? "renewed" : "ended");
  });

  /* Renew when a quarter of the token's life is left (at most 5 min before it ends). Only one
     tab renews (a Web Lock); the others find the new token already stored. */
  function schedule() {
    clearTimeout(renewTimer);
    const token = session.token;
    if (!token) return;
    const c = claims(token);
    if (!c.exp || !c.iat) return;
    const life = (c.exp - c.iat) * 1000;
    const at = c.exp * 1000 - Math.min(life / 4, 5 * 60 * 1000);
    // The centre's clock, not this PC's: the page carries the server's time when served.
    const wait = Math.max(0, at - Vigie.now());
    renewTimer = setTimeout(renew, Math.min(wait, 2 ** 31 - 1));
  }

  async function renew() {
    const before = session.token;
    const work = async () => {
      if (session.token !== before) return;  // another tab renewed meanwhile
      try {
        const response = await fetch("/api/auth/refresh", {
          method: "POST", headers: { Authorization: `Bearer ${before}`, Accept: "application/json" },
        });
        if (response.ok) {
          const answer = await response.json();
          renewals += 1;
          document.body.dataset.renewals = String(renewals);
          session.save(answer.access_token, answer.role, null);
          return;
        }
        if (response.status === 401) return;  // expired or revoked: the next call asks for a login
      } catch (err) {
        VigieConnection.failed();
      }
      renewTimer = setTimeout(renew, 10_000);  // the centre did not answer: try again soon
    };
    if (navigator.locks) await navigator.locks.request("vigie.renew", work);
    else await work();
  }

  /* The re-login dialog: shown over the page (not modal: the alarm bar stays usable), resolved
     with the new token. Every call that met a 401 waits on the same one. */
  function askLogin() {
    if (relogin) return relogin;
    const dialog = document.getElementById("relogin");
    if (!dialog) { location.assign("/login"); return new Promise(() => {}); }
    const form = dialog.querySelector("form");
    const error = dialog.querySelector(".error");
    form.elements.username.value = session.user || "";
    error.hidden = true;
    dialog.show();
    form.elements[session.user ? "password" : "username"].focus();
    const refused = session.token;  // the token the centre turned down
    relogin = new Promise((resolve) => {
      const done = () => {
        dialog.close();
        form.removeEventListener("submit", submit);
        relogin = null;
        resolve(session.token);
      };
      async function submit(e) {
        e.preventDefault();
        error.hidden = true;
        try {
          const response = await fetch("/api/auth/token", {
            method: "POST",
            headers: { "Content-Type": "application/json", Accept: "application/json" },
            body: JSON.stringify({ username: form.elements.username.value, password: form.elements.password.value }),
          });
          const answer = await response.json();
          if (!response.ok) {
            error.textContent = response.status === 401 ? Vigie.t("login.wrong") : Vigie.t("error.request");
            error.hidden = false;
            return;
          }
          const user = form.elements.username.value || session.user;
          form.reset();
          session.save(answer.access_token, answer.role, user);
          done();
        } catch (err) {
          VigieConnection.failed();
          error.textContent = Vigie.t("connection.lost.short");
          error.hidden = false;
        }
      }
      form.addEventListener("submit", submit);
      // Another tab logged in again: this one goes on with its token.
      const wait = setInterval(() => {
        if (!relogin) { clearInterval(wait); return; }
        if (session.token && session.token !== refused) { clearInterval(wait); done(); }
      }, 500);
    });
    return relogin;
  }

  session.askLogin = askLogin;
  session.schedule = schedule;
  return session;
})();
