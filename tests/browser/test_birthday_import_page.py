"""The birthday CSV page as a merchant uses it in Chromium: choose a file, import, read which
rows were skipped and why; in the shop's language."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from shoper_retention.links import Links
from shoper_retention.models import Contact
from tests.browser.conftest import LiveServer
from tests.support import make_shop

CSV = (
    "email,phone,birthday\n"
    "ola@example.com,,1991-04-12\n"
    "jan@example.com,,31.02.1990\n"
    "ola@example.com,,12.04\n"
)


def test_a_merchant_imports_a_csv_and_sees_the_rejected_rows(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    token = Links(settings.secret_key, settings.public_url).settings_form_token(shop.id, clock.now)
    response = page.goto(live_server.at(f"/shoper/app/birthdays?t={token}"))
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", name="Import dat urodzin")).to_be_visible()

    page.get_by_label("Plik CSV").set_input_files(
        {"name": "urodziny.csv", "mimeType": "text/csv", "buffer": CSV.encode()}
    )
    page.get_by_role("button", name="Importuj").click()

    expect(page.locator("#imported")).to_have_text("Zapisane daty urodzin: 1.")
    rows = page.locator("#rejected tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_text(
        "3nieczytelna data urodzin (np. 1990-02-28, 28.02.1990 lub 28.02)"
    )
    expect(rows.nth(1)).to_have_text("4ten sam e-mail lub telefon jest już w wierszu 2")
    with factory() as session:
        stored = session.scalars(select(Contact).where(Contact.shop_id == shop.id)).all()
    assert [(c.email, c.birthday_md) for c in stored] == [("ola@example.com", 412)]

    # The page stays usable for the next file, and leads back to the settings.
    expect(page.get_by_label("Plik CSV")).to_be_visible()
    expect(page.get_by_role("link", name="Wróć do ustawień")).to_be_visible()


def test_an_english_shop_gets_the_page_in_english(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now, language="en")
    token = Links(settings.secret_key, settings.public_url).settings_form_token(shop.id, clock.now)
    page.goto(live_server.at(f"/shoper/app/birthdays?t={token}"))
    page.get_by_label("CSV file").set_input_files(
        {"name": "b.csv", "mimeType": "text/csv", "buffer": b"name\nx\n"}
    )
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The first row must name the columns: birthday, and email or phone."
    )
