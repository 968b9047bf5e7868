"""The supervision page in Chromium names the devices the gateway refused: a wrong key given for
a case's device (someone posing as it), in words, with its case, how often and when."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in
from vigie.gateway.registry import Registry, WrongSecret


def test_an_operator_sees_a_device_refused_for_a_wrong_key(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/supervision")
    expect(page.locator("#sup-refused")).to_contain_text("Aucun")

    with pytest.raises(WrongSecret):
        Registry(site.db).authenticate("B1", "guessed", "osmand", ("198.51.100.4", 5055))
    page.reload()
    refused = page.locator("#sup-refused li[data-device='B1']")
    expect(refused).to_contain_text("mauvaise clé")
    expect(refused).to_contain_text("C1")
    expect(refused).to_contain_text("osmand")
    expect(refused).to_contain_text("×1")
    expect(page.locator("#sup-refused")).not_to_contain_text("198.51.100.4")
