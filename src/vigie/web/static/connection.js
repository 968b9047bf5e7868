"use strict";
/* Whether this page still reaches the centre: a large banner "Connexion perdue depuis mm:ss"
   as soon as the event stream or a call fails, cleared at the first answer. Without it the
   clocks keep ticking on a dead page and the operator believes the queue is live. */
const VigieConnection = (() => {
  const words = JSON.parse(document.getElementById("vigie-words").textContent);
  let lostAt = null;  // performance.now() of the first failure, null while connected
  let timer = null;

  function banner() { return document.getElementById("conn-lost"); }

  function paint() {
    const box = banner();
    if (!box) return;
    if (lostAt === null) { box.hidden = true; return; }
    const s = Math.floor((performance.now() - lostAt) / 1000);
    const mmss = `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
    box.textContent = (words["connection.lost"] || "Connexion perdue depuis {since}").replace("{since}", mmss);
    box.dataset.since = mmss;
    box.hidden = false;
  }

  return {
    get lost() { return lostAt !== null; },
    failed() {
      if (lostAt === null) {
        lostAt = performance.now();
        document.body.dataset.connection = "lost";
        timer = setInterval(paint, 1000);
      }
      paint();
    },
    ok() {
      if (lostAt === null) return;
      lostAt = null;
      clearInterval(timer);
      document.body.dataset.connection = "up";
      paint();
    },
  };
})();
