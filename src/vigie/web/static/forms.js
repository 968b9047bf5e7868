/* Every form of the console is sent by its page's script. Sent before that script had bound it
   (a slow link, a loaded host), the browser posted it itself: the console answered 405 in the
   page's place and what was typed was lost. A submission no script took is stopped here, last
   of all its listeners; one made while the page still loads is sent again once its scripts have
   run (htmx binds its forms as the page ends loading: a task later, it has). */
"use strict";
(() => {
  let loading = true;
  let held = null;
  window.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || form.method === "dialog") return;
    event.preventDefault();
    if (loading) held = { form, submitter: event.submitter };
  });
  document.addEventListener("DOMContentLoaded", () => setTimeout(() => {
    loading = false;
    if (!held || !held.form.isConnected) return;
    const { form, submitter } = held;
    held = null;
    form.requestSubmit(submitter && submitter.form === form && !submitter.disabled ? submitter : undefined);
  }, 0));
})();
