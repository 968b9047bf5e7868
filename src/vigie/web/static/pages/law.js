"use strict";
(() => {
  if (!Vigie.requireLogin()) return;
  const examples = JSON.parse(document.getElementById("law-examples").textContent);
  const measure = document.getElementById("law-measure");
  const caseBox = document.getElementById("law-case");
  const fill = () => { caseBox.value = JSON.stringify(examples[measure.value], null, 2); };
  measure.addEventListener("change", fill);
  fill();
})();
