"""The birthday CSV import's server side: the form token (missing, forged, another shop's),
file-level refusals that store nothing, row-level rejections with their line and reason, and
what a good row stores."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from shoper_retention.contacts.birthday_csv import MAX_ROWS
from shoper_retention.links import Links
from shoper_retention.models import Contact, Shop
from tests.support import make_shop


def token_for(settings, shop_id: int, clock) -> str:  # type: ignore[no-untyped-def]
    return Links(settings.secret_key, settings.public_url).settings_form_token(shop_id, clock.now)


def upload(client, token: str, data: bytes):  # type: ignore[no-untyped-def]
    return client.post(
        f"/shoper/app/birthdays?t={token}",
        data={"file": (io.BytesIO(data), "b.csv")},
        content_type="multipart/form-data",
    )


def contacts(factory) -> list[tuple[str | None, str | None, int | None, str]]:  # type: ignore[no-untyped-def]
    with factory() as session:
        return [
            (c.email, c.phone, c.birthday_md, c.birthday_source)
            for c in session.scalars(select(Contact).order_by(Contact.id))
        ]


def test_no_token_a_forged_one_or_an_uninstalled_shop_is_refused(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    assert client.get("/shoper/app/birthdays").status_code == 403
    assert (
        upload(client, "forged", b"email,birthday\na@example.com,1990-01-01\n").status_code == 403
    )
    with factory() as session, session.begin():
        row = session.get(Shop, shop.id)
        assert row is not None
        row.status = "uninstalled"
    reply = upload(client, token_for(settings, shop.id, clock), b"email,birthday\na@b.pl,01.01\n")
    assert reply.status_code == 404
    assert contacts(factory) == []


def test_good_rows_are_stored_and_bad_ones_reported_with_line_and_reason(
    client, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now, language="en")
    data = (
        "\ufeffBirthday,Email,Phone,Note\n"  # Excel's BOM, any column order, extra columns
        "1990-02-28,anna@example.com,600 100 200,vip\n"
        "\n"
        '"28.02",Ewa Nowak <ewa@example.com>,,\n'
        ",jan@example.com,,\n"
        "02-03,piotr@example.com,,\n"
        "01.01.1990,,12,\n"
        "01.01.1990,ANNA@example.com,,\n"
    ).encode()
    reply = upload(client, token_for(settings, shop.id, clock), data)
    assert reply.status_code == 200
    html = reply.get_data(as_text=True)
    assert "Birthdays saved: 1." in html
    assert "Rows skipped: 5." in html
    for line, reason in (
        (4, "not a valid e-mail address"),
        (5, "no birth date"),
        (6, "birth date not recognised"),
        (7, "not a valid phone number"),
        (8, "the same e-mail or phone is already on line 2"),
    ):
        assert f"<tr><td>{line}</td><td>{reason}" in html
    assert contacts(factory) == [("anna@example.com", "+48600100200", 228, "import")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        ("email,birthday\nź@example.com,01.01\n".encode("cp1250"), "not UTF-8"),
        (b"mail,date\na@example.com,01.01\n", "The first row must name the columns"),
        (
            b"email,birthday\n"
            + b"".join(b"c%d@example.com,01.01\n" % n for n in range(MAX_ROWS + 1)),
            "Too many rows",
        ),
        (b"email,birthday\n" + b"x" * (201 * 1024), "The file is too large"),
    ],
)
def test_a_file_refused_as_a_whole_stores_nothing(client, factory, settings, clock, data, message):
    shop = make_shop(factory, settings, now=clock.now, language="en")
    reply = upload(client, token_for(settings, shop.id, clock), data)
    assert reply.status_code == 400
    assert message in reply.get_data(as_text=True)
    with factory() as session:
        assert session.scalar(select(func.count(Contact.id))) == 0


def test_a_body_past_the_limit_gets_the_page_not_a_bare_error(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    reply = upload(client, token_for(settings, shop.id, clock), b"a" * (240 * 1024))
    assert reply.status_code == 400
    assert "Plik jest za duży" in reply.get_data(as_text=True)


def test_the_files_rows_link_a_known_contact_and_outrank_the_storefront(
    client, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        session.add(
            Contact(
                shop_id=shop.id,
                email="anna@example.com",
                birthday_md=101,
                birthday_source="storefront",
                created_at=clock.now,
                updated_at=clock.now,
            )
        )
    reply = upload(
        client,
        token_for(settings, shop.id, clock),
        b"email;phone;birthday\nanna@example.com;+48600100200;--07-04\n",
    )
    assert reply.status_code == 200
    assert contacts(factory) == [("anna@example.com", "+48600100200", 704, "import")]
