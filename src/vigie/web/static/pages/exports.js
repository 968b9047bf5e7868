"use strict";
/* A case's archive from POST /api/exports: the streamed body is read chunk by chunk to show
   its progress (bytes, and a percentage from Content-Length), then offered as a download. */
(() => {
  if (!Vigie.requireLogin()) return;
  const { t, api, el, session } = Vigie;
  const form = document.getElementById("export-form");
  const input = document.getElementById("export-case");
  const state = document.getElementById("export-state");
  const bar = document.getElementById("export-progress");
  const bytes = document.getElementById("export-bytes");
  const error = document.getElementById("export-error");
  const done = document.getElementById("export-done");
  const link = document.getElementById("export-download");
  const wanted = new URLSearchParams(location.search).get("case");
  if (wanted) input.value = wanted;
  if (session.role === "judge") {  // a judge's own cases, as the API lists them
    api("/api/placements").then((cases) => document.getElementById("export-cases")
      .replaceChildren(...cases.map((p) => el("option", { value: p.case_ref })))).catch(() => {});
  }
  const size = (n) => n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`;
  const fileName = (disposition, ref) => (/filename="([^"]+)"/.exec(disposition || "") || [])[1] || `${ref}.zip`;

  function fail(status, body) {
    const known = [403, 404, 422, 503].includes(status) ? `export.error.${status}` : "error.request";
    error.replaceChildren(t(known), el("span", { class: "muted" }, body && body.message ? ` (${body.message})` : ""));
    error.hidden = false;
    state.hidden = true;
    bytes.dataset.state = "failed";
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ref = input.value.trim();
    error.hidden = true;
    done.hidden = true;
    if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    state.hidden = false;
    bar.removeAttribute("value");  // indeterminate while the centre builds the archive
    bytes.textContent = t("export.preparing");
    bytes.dataset.state = "preparing";
    form.querySelector("button").disabled = true;
    try {
      const response = await Vigie.send("/api/exports", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/zip, application/json" },
        body: JSON.stringify({ case_ref: ref }),
      });
      if (!response.ok) {
        const type = response.headers.get("Content-Type") || "";
        fail(response.status, type.includes("json") ? await response.json() : null);
        return;
      }
      const total = Number(response.headers.get("Content-Length")) || 0;
      const observations = response.headers.get("X-Vigie-Observations");
      const reader = response.body.getReader();
      const chunks = [];
      let received = 0;
      bytes.dataset.state = "receiving";
      for (;;) {
        const { value, done: finished } = await reader.read();
        if (finished) break;
        chunks.push(value);
        received += value.length;
        if (total) bar.value = Math.round((100 * received) / total);
        bytes.textContent = `${t("export.received")} ${size(received)}`
          + (total ? ` / ${size(total)} (${Math.round((100 * received) / total)} %)` : "")
          + (observations !== null ? ` · ${observations} ${t("export.observations")}` : "");
      }
      bar.value = 100;
      bytes.dataset.state = "done";
      bytes.dataset.received = String(received);
      const name = fileName(response.headers.get("Content-Disposition"), ref);
      link.href = URL.createObjectURL(new Blob(chunks, { type: "application/zip" }));
      link.download = name;
      link.textContent = `${t("export.download")} ${name}`;
      done.hidden = false;
    } catch (err) {
      // A cut mid-download is the network's: said in the page's language, never "network error".
      fail(0, { message: err instanceof Vigie.ApiError ? err.message : t("connection.lost.short") });
    } finally {
      form.querySelector("button").disabled = false;
    }
  });
})();
