"""A console form that the browser sends by itself (its script not loaded yet, or refused) posts:
sent as a GET, the login form put the password in the URL, the server's access log and the
browser's history, and the other forms their notes (a hospital's name, a case's facts)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, Request, Route, expect

from tests.web.conftest import PASSWORD, Site

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


def test_the_login_form_sent_while_its_script_loads_is_sent_by_it_once_loaded(
    page: Page, site: Site
) -> None:
    """Sent before its page's script had bound it (a slow link, a loaded host), the browser
    posted the form itself: the console answered 405 and what was typed was lost."""
    held: list[Route] = []
    page.route("**/static/pages/login.js", lambda route: held.append(route))
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r))
    page.goto(f"{site.url}/login?lang=fr", wait_until="commit")
    expect(page.locator("#login-form button[type=submit]")).to_be_visible()
    assert held, "login.js was not held"
    page.fill("input[name=username]", "operator1")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.click("#login-form button[type=submit]")  # twice: one is sent
    held[0].continue_()
    page.wait_for_url(lambda url: "/login" not in url)
    pages = [r.method for r in sent if r.resource_type == "document" and "/login" in r.url]
    assert pages == ["GET"]
    assert [r.method for r in sent if r.url.endswith("/api/auth/token")] == ["POST"]


def test_a_form_no_script_takes_is_never_posted_by_the_browser(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/login?lang=fr")
    page.evaluate(
        """() => {
            const form = document.createElement("form");
            form.method = "post";
            form.id = "unbound";
            form.innerHTML = '<input name="note" value="a hospital"><button>Send</button>';
            document.body.append(form);
        }"""
    )
    documents: list[Request] = []
    page.on("request", lambda r: documents.append(r) if r.resource_type == "document" else None)
    page.click("#unbound button")
    page.goto(f"{site.url}/login?lang=en")  # a navigation after: the requests seen are in order
    assert [(r.method, r.url.rsplit("/", 1)[-1]) for r in documents] == [("GET", "login?lang=en")]
