"use strict";
/* What went wrong, in the page's language: after too many failures the centre answers 429
   with the wait (seconds) in `retry_after_s`. */
function message(err) {
  if (err.status === 401) return Vigie.t("login.wrong");
  if (err.status === 429) {
    const seconds = Number((err.body && err.body.retry_after_s) || 60);
    const wait = seconds >= 60 ? `${Math.ceil(seconds / 60)} min` : `${seconds} s`;
    return Vigie.t("login.throttled").replace("{wait}", wait);
  }
  return err.message;
}
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const error = document.getElementById("login-error");
  error.hidden = true;
  try {
    const answer = await Vigie.api("/api/auth/token", {
      method: "POST",
      body: { username: form.get("username"), password: form.get("password") },
    });
    Vigie.session.save(answer.access_token, answer.role, form.get("username"));
    location.assign("/");
  } catch (err) {
    error.textContent = message(err);
    error.hidden = false;
  }
});
