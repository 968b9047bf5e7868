/* The user's role on the page before it paints, so that console.css hides at once what the role
   may not use. console.js hides it too, but only after the first paint: a judge's page shifted
   when the operators' alarm bar left it. The API refuses the rest anyway. */
"use strict";
(() => {
  const role = localStorage.getItem("vigie.role");  // session.js's key
  if (role) document.documentElement.dataset.role = role;
})();
