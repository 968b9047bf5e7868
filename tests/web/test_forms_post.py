"""A console form that the browser sends by itself (its script not loaded yet, or refused) posts:
sent as a GET, the login form put the password in the URL, the server's access log and the
browser's history, and the other forms their notes (a hospital's name, a case's facts)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Request

from tests.web.conftest import Site

TEMPLATES = Path(__file__).parents[2] / "src" / "vigie" / "web" / "templates"
# Read-only forms, whose fields are only what is sought: the header's search and the filters.
SOUGHT = {"search", "filters", "map-filters"}


def test_every_form_that_carries_data_posts() -> None:
    forms = []
    for template in sorted(TEMPLATES.glob("*.html")):
        for tag in re.findall(r"<form\b[^>]*>", template.read_text()):
            found = re.search(r'\bid="([^"]+)"', tag)
            if 'method="dialog"' in tag or (found and found.group(1) in SOUGHT):
                continue
            forms.append((template.name, found.group(1) if found else tag))
            assert 'method="post"' in tag, (template.name, tag)
    assert ("login.html", "login-form") in forms and len(forms) >= 10, forms


def test_the_login_form_sent_without_its_script_never_puts_the_password_in_a_url(
    browser: Browser, site: Site
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{site.url}/login")
        sent: list[Request] = []
        page.on("request", lambda r: sent.append(r) if r.resource_type == "document" else None)
        page.fill("input[name=username]", "operator1")
        page.fill("input[name=password]", "a secret of hers")
        with page.expect_navigation() as answered:
            page.click("button[type=submit]")
        (request,) = sent
        assert request.method == "POST"
        assert answered.value is not None and answered.value.status == 405
        assert "secret" not in request.url and "password" not in request.url
    finally:
        context.close()
