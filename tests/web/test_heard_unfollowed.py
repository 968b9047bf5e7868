"""The supervision page in Chromium names a device heard that no case follows, with its kind in
words and when it was last heard; the devices page still names kinds in words."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in
from vigie import clock


def test_a_bracelet_heard_without_a_case_is_on_the_supervision_page(page: Page, site: Site) -> None:
    stock = site.world.new_device()
    posted = site.http.post(
        "/api/observations",
        json={
            "observations": [
                {
                    "device": stock,
                    "seq": 1,
                    "t": (clock.now() - timedelta(minutes=2)).isoformat(),
                    "type": "battery",
                    "level": 0.7,
                }
            ]
        },
        headers=site.token_headers("integration"),
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["unfollowed"] == [stock]
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/supervision")
    item = page.locator(f"#sup-unfollowed li[data-device='{stock}']")
    expect(item).to_contain_text("(bracelet)")
    expect(item).to_contain_text("dernière émission")
    expect(page.locator("#sup-unfollowed li[data-device='B1']")).to_have_count(0)
    page.goto(f"{site.url}/devices")
    expect(page.locator(f"#devices tr[data-device='{stock}']")).to_contain_text("bracelet")
    expect(page.locator("#devices tr[data-device='H1']")).to_contain_text("boîtier")
