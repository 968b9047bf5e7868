"use strict";
/* The centre's devices: each one on its case, in stock, or withdrawn from service (broken, lost,
   stolen, returned, in repair). A supervisor or an admin registers a new one (in stock, to be
   given to a case on its page), withdraws one that no case holds, or puts a withdrawn one back
   in service. Ids, models and notes are people's text: text only. */
(() => {
  if (!Vigie.requireLogin()) return;
  const { t, api, el, when } = Vigie;
  const table = document.getElementById("devices");
  const body = table.querySelector("tbody");
  const filters = document.getElementById("filters");
  const failure = document.getElementById("devices-error");
  const holder = document.getElementById("device-forms");
  const forms = { withdraw: document.getElementById("withdraw-form"), reinstate: document.getElementById("reinstate-form") };
  const canManage = ["supervisor", "admin"].includes(Vigie.session.role);
  const columns = canManage ? 5 : 4;
  let devices = [];
  let open = null;  // the form shown: { kind, id, row }

  const state = (d) => (d.withdrawn ? "withdrawn" : d.assigned ? "assigned" : "stock");

  function status(d) {
    const w = d.withdrawn;
    if (w) {
      return el("td", {},
        `${t("devices.withdrawn")} ${when(w.at)} (${t(`devices.reason.${w.reason}`)}) · ${t("devices.by")} ${w.by || "—"}`,
        ...(w.note ? [el("br"), el("span", { class: "device-note" }, w.note)] : []));
    }
    if (d.assigned) {
      const a = d.assigned;
      return el("td", {}, `${t("devices.oncase")} `, el("a", { href: `/cases/${a.placement}` }, a.case),
        ` (${t(`device.${a.role}`)})`);
    }
    return el("td", {}, t("devices.instock"),
      d.has_secret ? "" : el("span", { class: "muted" }, ` · ${t("devices.nosecret")}`));
  }

  function actions(d) {
    const named = (key) => ({ "aria-label": `${t(key)} ${d.id}` });
    if (d.withdrawn) {
      return el("td", {}, el("button", { type: "button", class: "reinstate", ...named("devices.reinstate"),
        onclick: (e) => show("reinstate", d, e.target.closest("tr")) }, t("devices.reinstate")));
    }
    if (d.assigned) return el("td", { class: "muted" }, t("devices.inuse"));
    return el("td", {}, el("button", { type: "button", class: "withdraw danger", ...named("devices.withdraw"),
      onclick: (e) => show("withdraw", d, e.target.closest("tr")) }, t("devices.withdraw")));
  }

  function row(d) {
    return el("tr", { class: d.withdrawn ? "muted" : "", "data-device": d.id, "data-status": state(d) },
      el("td", {}, d.id), el("td", {}, Vigie.deviceKind(d.kind)), el("td", {}, d.model || "—"), status(d),
      ...(canManage ? [actions(d)] : []));
  }

  const rowOf = (id) => [...body.rows].find((r) => r.dataset.device === id);

  function applyFilter() {
    const wanted = new FormData(filters).get("status");
    for (const r of body.querySelectorAll("tr[data-device]")) {
      r.hidden = wanted === "in_service" ? r.dataset.status === "withdrawn"
        : wanted === "withdrawn" ? r.dataset.status !== "withdrawn" : false;
    }
  }

  function render() {
    body.replaceChildren(...devices.map(row));
    if (!devices.length) body.append(el("tr", {}, el("td", { colspan: String(columns), class: "muted" }, t("devices.none"))));
    if (open) {  // the form being filled stays under its device
      const under = rowOf(open.id);
      if (under) under.after(open.row);
      else close();
    }
    applyFilter();
  }

  async function refresh() {
    try {
      devices = await api("/api/devices");
      failure.hidden = true;
      render();
    } catch (err) {
      failure.textContent = Vigie.say(err);
      failure.hidden = false;
    }
  }

  /* A refusal in the page's language, and the API's own words (which name the case) after it. */
  function told(form, err) {
    const said = Vigie.say(err);
    const own = err instanceof Vigie.ApiError && err.status && err.message !== said ? err.message : "";
    const box = form.querySelector(".error");
    box.replaceChildren(said, ...(own ? [" ", el("span", { class: "muted", lang: "en" }, `(${own})`)] : []));
    box.hidden = false;
  }

  function close() {
    if (!open) return;
    const { row: formRow } = open;
    open = null;
    for (const form of Object.values(forms)) {
      form.hidden = true;
      holder.append(form);
    }
    formRow.remove();
  }

  /* The small form of an action, opened under its device's row. */
  function show(kind, d, under) {
    close();
    const form = forms[kind];
    form.reset();
    form.querySelector(".device-id").textContent = d.id;
    form.querySelector(".error").hidden = true;
    if (kind === "withdraw") form.elements.note.required = false;
    const formRow = el("tr", { class: "device-form-row" }, el("td", { colspan: String(columns) }, form));
    under.after(formRow);
    open = { kind, id: d.id, row: formRow };
    form.hidden = false;
    form.elements[kind === "withdraw" ? "reason" : "note"].focus();
  }

  async function post(form, path, payload, done) {
    const id = open.id;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    form.querySelector(".error").hidden = true;
    try {
      const device = await api(`/api/devices/${encodeURIComponent(id)}/${path}`, { method: "POST", body: payload });
      devices = devices.map((d) => (d.id === id ? { ...device, assigned: null } : d));
      close();
      render();
      Vigie.flash(`${t(done)} ${device.id}`, "ok");
    } catch (err) {
      told(form, err);
      // Taken by a case, or withdrawn, meanwhile: the list is read again, the form stays.
      if (err instanceof Vigie.ApiError && err.status === 409) await refresh();
    } finally {
      button.disabled = false;
    }
  }

  if (canManage) {
    const withdraw = forms.withdraw;
    // "Other" says what in the note; the other reasons may have one.
    withdraw.elements.reason.addEventListener("change", () => {
      withdraw.elements.note.required = withdraw.elements.reason.value === "other";
    });
    withdraw.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!open) return;
      const data = new FormData(withdraw);
      if (!confirm(`${t("devices.withdraw.confirm")} ${open.id}`)) return;
      const payload = { reason: data.get("reason") };
      const note = String(data.get("note") || "").trim();
      if (note) payload.note = note;
      post(withdraw, "withdraw", payload, "devices.withdraw.done");
    });
    const reinstate = forms.reinstate;
    reinstate.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!open) return;
      post(reinstate, "reinstate", { note: String(new FormData(reinstate).get("note") || "").trim() }, "devices.reinstate.done");
    });
    for (const form of Object.values(forms)) form.querySelector(".cancel").addEventListener("click", close);

    /* A new device, from the supplier: in stock once registered, the list read again. */
    const register = document.getElementById("register-form");
    register.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(register);
      const payload = { id: String(data.get("id") || "").trim(), kind: data.get("kind") };
      const model = String(data.get("model") || "").trim();
      if (model) payload.model = model;
      const button = register.querySelector("button[type=submit]");
      button.disabled = true;
      register.querySelector(".error").hidden = true;
      try {
        const device = await api("/api/devices", { method: "POST", body: payload });
        register.reset();
        Vigie.flash(`${t("devices.register.done")} ${device.id}`, "ok");
        await refresh();
      } catch (err) {
        told(register, err);
      } finally {
        button.disabled = false;
      }
    });
    document.getElementById("device-register").hidden = false;  // shown once its form works
  }
  filters.addEventListener("change", () => { close(); applyFilter(); });
  filters.addEventListener("submit", (e) => e.preventDefault());
  refresh();
})();
