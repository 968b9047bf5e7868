"use strict";
/* The legal calculator as a form: fields generated from the `vigie law assess` contract for the
   chosen measure, kept in one case object that is also shown (and editable) as JSON. Only
   `measure` and `case` are posted, so the endpoint, its checks and its audit stay the same. */
(() => {
  if (!Vigie.requireLogin()) return;
  const t = Vigie.t;
  const examples = JSON.parse(document.getElementById("law-examples").textContent);
  const measure = document.getElementById("law-measure");
  const caseBox = document.getElementById("law-case");
  const fields = document.getElementById("law-fields");

  const DAYS = ["pretrial_days", "arse_days", "reductions_days"];
  const OFFENCES = ["terrorism", "minor_under_15", "public_authority", "partner_aggravation",
    "partner_violence_131_36_12_1", "list_706_53_13", "terrorism_421_2_5", "public_authority_721_1_2"];
  const RELATIONSHIPS = ["spouse", "cohabitee", "pacs_partner", "former_spouse",
    "former_cohabitee", "former_pacs_partner", "other"];
  /* Per measure (CONTRACT.md): the dates and credited days it reads, whether it takes
     sentences, and its facts as [name, kind, choices]. */
  const MEASURES = {
    lsc: { dates: ["committal_date", "ecrou_date"], days: true, sentences: true, facts: [
      ["refused_lsc", "bool"], ["adjustment_request_pending", "bool"],
      ["disciplinary_violence", "bool"], ["has_accommodation", "bool"],
      ["amenagement_sous_ecrou", "bool"], ["pe_supervised", "bool"], ["notified_on", "date"]] },
    ddse: { dates: ["committal_date", "ecrou_date"], days: true, sentences: true, facts: [
      ["as_adjustment", "bool"], ["incurred_years", "number"]] },
    arse: { dates: [], days: false, sentences: false, facts: [
      ["mis_en_examen", "bool"], ["consent_with_lawyer", "bool"], ["spip_check_done", "bool"],
      ["incurred_years", "number"], ["order_date", "date"], ["renewals_so_far", "int"],
      ["mobile", "bool"], ["ssj_incurred", "bool"], ["partner_violence_5y", "bool"],
      ["final_decision_date", "date"]] },
    psem: { dates: ["committal_date"], days: true, sentences: true, facts: [
      ["route", "select", ["131-36-10", "R61-33"]], ["detained", "bool"],
      ["dangerousness_established", "bool"], ["commission_opinion", "bool"], ["ssj", "bool"]] },
    bar: { dates: [], days: false, sentences: false, facts: [
      ["under_judicial_supervision", "bool"], ["victim_consent", "bool"],
      ["incurred_years", "number"], ["relationship", "select", RELATIONSHIPS],
      ["alert_distance_km", "number"]] },
    sentence: { dates: ["committal_date", "ecrou_date"], days: true, sentences: true, facts: [] },
  };

  let current = {};

  /* Set (or, for an empty value, remove) the case's value at a dotted path. */
  function put(path, value) {
    const keys = path.split(".");
    let node = current;
    for (const key of keys.slice(0, -1)) node = node[key] = node[key] ?? {};
    const last = keys[keys.length - 1];
    if (value === undefined) delete node[last];
    else node[last] = value;
    sync();
  }
  function sync() { caseBox.value = JSON.stringify(current, null, 2); }
  const get = (path) => path.split(".").reduce((node, key) => (node == null ? undefined : node[key]), current);

  function input(path, kind, choices) {
    const id = "law-" + path.replaceAll(".", "-");
    const value = get(path);
    let node;
    if (kind === "bool") {
      node = Vigie.el("input", { type: "checkbox", id });
      node.checked = value === true;
      node.addEventListener("change", () => put(path, node.checked));
    } else if (kind === "select") {
      node = Vigie.el("select", { id });
      node.append(Vigie.el("option", { value: "" }, "—"));
      for (const choice of choices) {
        node.append(Vigie.el("option", { value: choice }, t("law.v." + choice.replaceAll("-", "_"))));
      }
      node.value = value ?? "";
      node.addEventListener("change", () => put(path, node.value || undefined));
    } else {
      const number = kind === "number" || kind === "int";
      node = Vigie.el("input", { id, type: number ? "number" : kind === "date" ? "date" : "text" });
      if (number) { node.min = "0"; node.step = kind === "int" ? "1" : "any"; }
      node.value = value ?? "";
      node.addEventListener("input", () => {
        if (node.value === "") put(path, undefined);
        else put(path, number ? Number(node.value) : node.value);
      });
    }
    node.dataset.path = path;
    return node;
  }

  function labelled(key, control, hint) {
    const label = Vigie.el("label", { class: control.type === "checkbox" ? "check" : null });
    if (control.type === "checkbox") label.append(control, " ", t(key));
    else label.append(t(key), " ", control);
    if (hint) label.append(" ", Vigie.el("small", { class: "muted" }, hint));
    return label;
  }

  function sentence(index) {
    const base = `sentences.${index}`;
    const box = Vigie.el("fieldset", { class: "law-sentence" });
    box.append(Vigie.el("legend", {}, `${t("law.sentence")} ${index + 1}`));
    box.append(labelled("law.f.quantum", input(base + ".quantum", "text"), t("law.quantum_hint")));
    box.append(labelled("law.f.category", input(base + ".category", "select", ["delit", "crime"])));
    box.append(labelled("law.f.recidivism", input(base + ".recidivism", "bool")));
    const tags = Vigie.el("fieldset", { class: "law-offences" });
    tags.append(Vigie.el("legend", {}, t("law.f.offences")));
    const offences = get(base + ".offences") || [];
    for (const tag of OFFENCES) {
      const tick = Vigie.el("input", { type: "checkbox", id: `law-${base.replace(".", "-")}-${tag}` });
      tick.checked = offences.includes(tag);
      tick.dataset.path = base + ".offences";
      tick.addEventListener("change", () => {
        const now = new Set(get(base + ".offences") || []);
        if (tick.checked) now.add(tag); else now.delete(tag);
        put(base + ".offences", OFFENCES.filter((o) => now.has(o)));
      });
      tags.append(labelled("law.o." + tag, tick));
    }
    box.append(tags);
    const remove = Vigie.el("button", { type: "button", class: "law-remove" }, t("law.remove_sentence"));
    remove.addEventListener("click", () => {
      current.sentences.splice(index, 1);
      render(); sync();
      document.getElementById("law-add-sentence").focus(); // the keyboard stays in the list
    });
    box.append(remove);
    return box;
  }

  /* The fiche pénale (issue 19): lists of sentences, credits and grants, each item a fieldset
     of fields; withdrawals and measure events are edited in the JSON box. */
  const FICHE = [
    ["sentences", "law.sentence", "law.add_sentence", [["id", "text"], ["start", "date"],
      ["quantum", "text"], ["category", "select", ["delit", "crime"]], ["confused_with", "text"],
      ["surete", "text"], ["final_on", "date"]], () => ({ id: "", start: "", quantum: "", category: "delit" })],
    ["credits", "law.credit", "law.add_credit", [["sentence", "text"],
      ["kind", "select", ["dp", "mandat", "eaw", "extradition", "arse"]], ["from", "date"],
      ["to", "date"]], () => ({ sentence: "", kind: "dp", from: "", to: "" })],
    ["grants", "law.grant", "law.add_grant", [["date", "date"], ["days", "int"],
      ["sentence", "text"]], () => ({ date: "", days: 1 })],
  ];
  const FICHE_FACTS = [["psem", "bool"], ["psem_expiry", "date"], ["notified_parquet_on", "date"],
    ["parent_of_child_under_10", "bool"]];

  function renderFiche() {
    const general = Vigie.el("fieldset", {});
    general.append(Vigie.el("legend", {}, t("law.person")));
    for (const name of ["as_of", "ecrou_date"]) general.append(labelled("law.f." + name, input(name, "date")));
    general.append(labelled("law.f.departement", input("departement", "text")));
    fields.append(general);
    for (const [key, legend, addKey, spec, blank] of FICHE) {
      const list = Vigie.el("div", { id: "law-" + key });
      (current[key] || []).forEach((_, i) => {
        const box = Vigie.el("fieldset", { class: "law-item" });
        box.append(Vigie.el("legend", {}, `${t(legend)} ${i + 1}`));
        for (const [name, kind, choices] of spec) {
          box.append(labelled("law.f." + name, input(`${key}.${i}.${name}`, kind, choices),
            name === "quantum" || name === "surete" ? t("law.quantum_hint") : null));
        }
        const remove = Vigie.el("button", { type: "button", class: "law-remove" }, t("law.remove"));
        remove.addEventListener("click", () => {
          current[key].splice(i, 1);
          render(); sync();
          document.getElementById(`law-add-${key}`).focus();
        });
        box.append(remove);
        list.append(box);
      });
      const add = Vigie.el("button", { type: "button", id: `law-add-${key}` }, t(addKey));
      add.addEventListener("click", () => {
        current[key] = current[key] || [];
        current[key].push(blank());
        render(); sync();
        fields.querySelector(`[data-path="${key}.${current[key].length - 1}.${spec[0][0]}"]`).focus();
      });
      fields.append(list, add);
    }
    const facts = Vigie.el("fieldset", {});
    facts.append(Vigie.el("legend", {}, t("law.facts")));
    for (const [name, kind] of FICHE_FACTS) facts.append(labelled("law.f." + name, input("facts." + name, kind)));
    fields.append(facts);
  }

  /* The timeline as an SVG drawn from the result's tables (text as DOM text, no inline script):
     one bar per sentence from its execution to its end, a dashed line at each threshold date. */
  function drawTimeline() {
    const box = document.getElementById("law-chart");
    if (!box) return;
    const rows = [...document.querySelectorAll("#law-timeline tbody tr")];
    const marks = [...document.querySelectorAll("#law-thresholds tbody tr")].filter((r) => r.dataset.date);
    const day = (iso) => Date.parse(iso + "T00:00:00Z") / 86400000;
    const all = [box.dataset.start, ...rows.flatMap((r) => [r.dataset.begin, r.dataset.end]),
      ...marks.map((m) => m.dataset.date)].map(day);
    const lo = Math.min(...all), hi = Math.max(...all);
    const width = 900, left = 70, right = 110, bar = 22, gap = 10;
    const x = (iso) => left + ((day(iso) - lo) / Math.max(1, hi - lo)) * (width - left - right);
    const height = 20 + rows.length * (bar + gap) + marks.length * 16 + 10;
    const NS = "http://www.w3.org/2000/svg";
    const node = (name, attrs, text) => {
      const n = document.createElementNS(NS, name);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
      if (text !== undefined) n.textContent = text;
      return n;
    };
    const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("law.chart"), class: "law-chart" });
    rows.forEach((r, i) => {
      const y = 20 + i * (bar + gap);
      svg.append(node("text", { x: 4, y: y + bar * 0.7, class: "law-chart-label" }, r.dataset.id));
      if (Number(r.dataset.credited) > 0) {
        const from = day(r.dataset.begin) - Number(r.dataset.credited);
        const cx = left + ((from - lo) / Math.max(1, hi - lo)) * (width - left - right);
        svg.append(node("rect", { x: cx, y, width: Math.max(1, x(r.dataset.begin) - cx), height: bar, class: "law-chart-credit" }));
      }
      svg.append(node("rect", { x: x(r.dataset.begin), y, width: Math.max(2, x(r.dataset.end) - x(r.dataset.begin)), height: bar, class: "law-chart-bar", "data-sentence": r.dataset.id }));
      svg.append(node("text", { x: x(r.dataset.end) + 4, y: y + bar * 0.7, class: "law-chart-date" }, r.dataset.end));
    });
    const bottom = 20 + rows.length * (bar + gap);
    marks.forEach((m, i) => {
      const mx = x(m.dataset.date), my = bottom + i * 16 + 12;
      svg.append(node("line", { x1: mx, x2: mx, y1: 12, y2: my - 10, class: "law-chart-mark", "data-threshold": m.dataset.threshold }));
      svg.append(node("text", { x: mx + 3, y: my, class: "law-chart-date" }, `${m.dataset.threshold} ${m.dataset.date}`));
    });
    box.replaceChildren(svg);
    const print = document.getElementById("law-print");
    if (print) print.addEventListener("click", () => window.print());
    const pdf = document.getElementById("law-pdf");
    if (pdf) pdf.addEventListener("click", downloadSheet);
  }

  /* The working sheet as a PDF (WeasyPrint, server-side): fetched with the token, saved as a file. */
  async function downloadSheet() {
    let response;
    try {
      response = await Vigie.send("/console/law/sheet.pdf", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ measure: "fiche", case: caseBox.value }),
      });
    } catch (err) {
      Vigie.flash(err.message);
      return;
    }
    if (!response.ok) { Vigie.flash(await response.text()); return; }
    await Vigie.saveFile(response, "fiche-penale.pdf");
  }

  function render() {
    fields.replaceChildren();
    if (measure.value === "fiche") { renderFiche(); return; }
    const spec = MEASURES[measure.value];
    const general = Vigie.el("fieldset", {});
    general.append(Vigie.el("legend", {}, t("law.person")));
    for (const name of ["as_of", "birth_date", ...spec.dates]) {
      general.append(labelled("law.f." + name, input(name, "date")));
    }
    if (spec.days) for (const name of DAYS) general.append(labelled("law.f." + name, input(name, "int")));
    fields.append(general);
    if (spec.sentences) {
      const list = Vigie.el("div", { id: "law-sentences" });
      (current.sentences || []).forEach((_, i) => list.append(sentence(i)));
      const add = Vigie.el("button", { type: "button", id: "law-add-sentence" }, t("law.add_sentence"));
      add.addEventListener("click", () => {
        current.sentences = current.sentences || [];
        current.sentences.push({ quantum: "", category: "delit", recidivism: false, offences: [] });
        render(); sync();
        fields.querySelector(`[data-path="sentences.${current.sentences.length - 1}.quantum"]`).focus();
      });
      fields.append(list, add);
    }
    if (!spec.facts.length) return;
    const facts = Vigie.el("fieldset", {});
    facts.append(Vigie.el("legend", {}, t("law.facts")));
    for (const [name, kind, choices] of spec.facts) {
      facts.append(labelled("law.f." + name, input("facts." + name, kind, choices)));
    }
    fields.append(facts);
  }

  const fill = () => { current = structuredClone(examples[measure.value]); render(); sync(); };
  measure.addEventListener("change", fill);
  // The JSON box, when it parses, is the case: the form follows it.
  caseBox.addEventListener("input", () => {
    try {
      const parsed = JSON.parse(caseBox.value);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) { current = parsed; render(); }
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err; // half-typed JSON: posted as is, the server names the fault
    }
  });
  /* The assumptions the engine made (CONTRACT `assumptions`, one `assumption.*` trace step each)
     are shown next to the outcome, so that nobody reads a conditional answer as a plain one. */
  function showAssumptions() {
    const outcome = document.getElementById("law-outcome");
    if (!outcome) return;
    const items = [];
    for (const code of document.querySelectorAll("#law-result table.trace code")) {
      if (!code.textContent.startsWith("assumption.")) continue;
      const note = code.closest("tr").lastElementChild.textContent;
      items.push(Vigie.el("li", {}, note));
    }
    if (!items.length) return;
    const box = Vigie.el("div", { id: "law-assumptions", class: "card muted", role: "note" });
    box.append(Vigie.el("strong", {}, t("law.assumptions")), Vigie.el("ul", {}, ...items));
    outcome.closest("h2").after(box);
  }
  // The field the engine refused is marked in the form and gets the focus.
  document.body.addEventListener("htmx:afterSwap", () => {
    showAssumptions();
    drawTimeline();
    for (const node of document.querySelectorAll("#law-form [aria-invalid]")) node.removeAttribute("aria-invalid");
    const error = document.getElementById("law-error");
    const field = error && error.dataset.field && error.dataset.field.replace(/\[(\d+)\]/g, ".$1");
    if (!error) return;
    // The field at fault, else the nearest field above it (a sentence's list), else the JSON box.
    let node = null;
    for (let path = field; path && !node; path = path.includes(".") ? path.replace(/\.[^.]*$/, "") : "") {
      node = fields.querySelector(`[data-path="${CSS.escape(path)}"]`);
    }
    if (!node) {
      document.getElementById("law-advanced").open = true;
      node = caseBox;
    }
    node.setAttribute("aria-invalid", "true");
    node.setAttribute("aria-describedby", "law-error");
    node.scrollIntoView({ block: "center" });
    node.focus();
  });
  fill();
})();
