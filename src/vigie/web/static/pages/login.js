"use strict";
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
    error.textContent = err.status === 401 ? Vigie.t("login.wrong") : err.message;
    error.hidden = false;
  }
});
