/* The theme before the page paints (no light flash on a dark console at night): the choice
   kept in this browser, else the system's (prefers-color-scheme). The toggle is in console.js. */
"use strict";
(() => {
  const chosen = localStorage.getItem("vigie.theme");
  if (chosen === "dark" || chosen === "light") document.documentElement.dataset.theme = chosen;
})();
