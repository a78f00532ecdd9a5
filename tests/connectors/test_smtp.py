"""SmtpConnector through the real smtplib client against an aiosmtpd server on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shoper_retention.connectors.base import Failed, OutgoingMessage, Paused, Retry, Sent
from shoper_retention.connectors.smtp import SmtpConnector, message_id_for
from shoper_retention.contacts.emails import masked as masked_address
from tests.fakes.smtp_server import FakeSmtpServer, free_port

FROM = "Sklep Ania <sklep@ania.example>"
NOW = datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
UNSUBSCRIBE = {
    "List-Unsubscribe": "<https://retention.example/u/tok-123>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}
HTML = (
    "<html><head><style>.x{color:red}</style></head>"
    '<body><p class="x">Twój koszyk czeka</p>'
    '<a href="https://retention.example/u/tok-123">Wypisz się</a></body></html>'
)


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


def connector_for(url: str) -> SmtpConnector:
    return SmtpConnector.from_url(url, default_from=FROM, clock=lambda: NOW)


def email_message(
    key: str = "outbox-1", to: str = "jan@example.com", **kw: object
) -> OutgoingMessage:
    fields: dict[str, object] = {
        "channel": "email",
        "to": to,
        "text": "Twój koszyk czeka: https://retention.example/c/abc",
        "idempotency_key": key,
        "subject": "Zapomniałeś o koszyku?",
        "html": HTML,
        "headers": dict(UNSUBSCRIBE),
    }
    fields.update(kw)
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


def test_message_arrives_as_text_and_inlined_html_alternatives(smtp_server: FakeSmtpServer) -> None:
    with connector_for(smtp_server.url()) as connector:
        outcome = connector.send(email_message())

    assert isinstance(outcome, Sent)
    [envelope] = smtp_server.envelopes
    assert envelope.mail_from == "sklep@ania.example"
    assert envelope.rcpt_tos == ("jan@example.com",)
    mail = envelope.message
    assert mail.get_content_type() == "multipart/alternative"
    text_part, html_part = mail.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert text_part.get_content().strip() == "Twój koszyk czeka: https://retention.example/c/abc"
    assert html_part.get_content_type() == "text/html"
    html = html_part.get_content()
    assert '<p class="x" style="color:red">Twój koszyk czeka</p>' in html
    assert "<style>" not in html  # nothing was left over to keep


def test_headers_are_exact(smtp_server: FakeSmtpServer) -> None:
    with connector_for(smtp_server.url()) as connector:
        outcome = connector.send(email_message(key="outbox-42"))

    [mail] = smtp_server.messages
    assert mail["From"] == FROM
    assert mail["To"] == "jan@example.com"
    assert mail["Subject"] == "Zapomniałeś o koszyku?"
    assert mail["Date"] == "Sun, 30 Mar 2025 01:30:00 +0000"
    assert mail["Message-ID"] == "<outbox-42@ania.example>"
    assert outcome == Sent(provider_id="<outbox-42@ania.example>")
    assert mail["List-Unsubscribe"] == "<https://retention.example/u/tok-123>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert len(mail.get_all("Message-ID") or []) == 1


def test_same_idempotency_key_gives_the_same_message_id(smtp_server: FakeSmtpServer) -> None:
    with connector_for(smtp_server.url()) as connector:
        first = connector.send(email_message(key="outbox-7"))
        again = connector.send(email_message(key="outbox-7"))
        other = connector.send(email_message(key="outbox-8"))

    assert first == again != other
    ids = [mail["Message-ID"] for mail in smtp_server.messages]
    assert ids == ["<outbox-7@ania.example>", "<outbox-7@ania.example>", "<outbox-8@ania.example>"]


def test_message_id_keeps_distinct_keys_distinct_and_valid() -> None:
    weird = [message_id_for(key, FROM) for key in ("a:b", "a;b", "a=3Ab", "..x..", "zażółć")]
    assert len(set(weird)) == len(weird)
    for message_id in weird:
        local, _, domain = message_id.strip("<>").partition("@")
        assert domain == "ania.example"
        assert local.isascii() and " " not in local
        assert not local.startswith(".") and not local.endswith(".") and ".." not in local


def test_sender_of_the_message_overrides_the_default(smtp_server: FakeSmtpServer) -> None:
    with connector_for(smtp_server.url()) as connector:
        outcome = connector.send(email_message(key="k1", sender="Inny <inny@sklep.example>"))

    assert outcome == Sent(provider_id="<k1@sklep.example>")
    [envelope] = smtp_server.envelopes
    assert envelope.mail_from == "inny@sklep.example"
    assert envelope.message["From"] == "Inny <inny@sklep.example>"


def test_text_only_message_is_not_multipart(smtp_server: FakeSmtpServer) -> None:
    connector_for(smtp_server.url()).send(email_message(html=""))

    [mail] = smtp_server.messages
    assert mail.get_content_type() == "text/plain"


def test_a_batch_reuses_one_connection(smtp_server: FakeSmtpServer) -> None:
    with connector_for(smtp_server.url()) as connector:
        outcomes = [connector.send(email_message(key=f"outbox-{n}")) for n in range(3)]

    assert all(isinstance(outcome, Sent) for outcome in outcomes)
    assert len(smtp_server.messages) == 3
    assert smtp_server.connections == 1


def test_send_outside_a_batch_opens_and_closes_its_own_connection(
    smtp_server: FakeSmtpServer,
) -> None:
    connector = connector_for(smtp_server.url())
    assert isinstance(connector.send(email_message(key="a")), Sent)
    assert isinstance(connector.send(email_message(key="b")), Sent)

    assert smtp_server.connections == 2
    assert connector._conn is None


def test_nested_with_blocks_share_the_outer_connection(smtp_server: FakeSmtpServer) -> None:
    connector = connector_for(smtp_server.url())
    with connector:
        with connector:
            connector.send(email_message(key="a"))
        connector.send(email_message(key="b"))  # the inner exit must not have closed it

    assert smtp_server.connections == 1
    assert connector._conn is None


def test_permanently_refused_recipient_fails_and_suppresses(smtp_server: FakeSmtpServer) -> None:
    smtp_server.reject("gone@example.com", 550)
    with connector_for(smtp_server.url()) as connector:
        refused = connector.send(email_message(to="gone@example.com"))
        after = connector.send(email_message(key="next"))

    assert isinstance(refused, Failed)
    assert refused.permanent and refused.suppress
    assert "550" in refused.reason
    assert isinstance(after, Sent)  # the connection is still usable after the refusal
    assert smtp_server.connections == 1


def test_temporarily_refused_recipient_is_retried(smtp_server: FakeSmtpServer) -> None:
    smtp_server.reject("busy@example.com", 451)
    outcome = connector_for(smtp_server.url()).send(email_message(to="busy@example.com"))

    assert isinstance(outcome, Retry)
    assert "451" in outcome.reason
    assert smtp_server.messages == []


def test_server_closing_the_connection_is_retried_then_reconnected(
    smtp_server: FakeSmtpServer,
) -> None:
    smtp_server.reject("shutdown@example.com", 421)  # smtplib closes the socket on a 421
    with connector_for(smtp_server.url()) as connector:
        dropped = connector.send(email_message(to="shutdown@example.com"))
        after = connector.send(email_message(key="next"))

    assert isinstance(dropped, Retry)
    assert isinstance(after, Sent)
    assert smtp_server.connections == 2


def test_login_with_the_right_credentials_sends() -> None:
    with FakeSmtpServer(credentials=("sklep@ania.example", "p@ss:w/rd")) as server:
        url = server.url("sklep@ania.example", "p@ss:w/rd")
        with connector_for(url) as connector:
            outcome = connector.send(email_message())

        assert isinstance(outcome, Sent)
        [envelope] = server.envelopes
        assert envelope.login == "sklep@ania.example"


def test_bad_login_pauses_the_channel() -> None:
    with FakeSmtpServer(credentials=("sklep", "right")) as server:
        with connector_for(server.url("sklep", "wrong")) as connector:
            outcome = connector.send(email_message())

        assert isinstance(outcome, Paused)
        assert "SMTP login refused" in outcome.reason
        assert server.messages == []
        assert server.failed_logins >= 1


def test_server_down_is_retried() -> None:
    url = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    with connector_for(url) as connector:
        outcome = connector.send(email_message())

    assert isinstance(outcome, Retry)


def test_from_url_parses_schemes_ports_and_encoded_credentials() -> None:
    plain = SmtpConnector.from_url("smtp://mail.example", default_from=FROM)
    assert (plain.host, plain.port, plain.implicit_tls, plain.starttls) == (
        "mail.example",
        25,
        False,
        False,
    )
    submission = SmtpConnector.from_url(
        "smtp://us%40er:p%40ss%3Aword@mail.example:587?starttls=true", default_from=FROM
    )
    assert (submission.port, submission.starttls) == (587, True)
    assert submission.username == "us@er"
    implicit = SmtpConnector.from_url("smtps://u:p@mail.example", default_from=FROM)
    assert (implicit.port, implicit.implicit_tls) == (465, True)


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example",
        "smtp://",
        "smtp://mail.example?tls=1",
        "smtp://mail.example?starttls=maybe",
        "smtps://mail.example?starttls=true",
    ],
)
def test_from_url_rejects_unusable_urls(url: str) -> None:
    with pytest.raises(ValueError):
        SmtpConnector.from_url(url, default_from=FROM)


def test_repr_hides_the_password() -> None:
    connector = SmtpConnector.from_url(
        "smtp://user:Sup3r%2FSecret@mail.example:587?starttls=true", default_from=FROM
    )
    shown = repr(connector)
    assert "Sup3r" not in shown and "Secret" not in shown
    assert "user:***@mail.example:587" in shown


def test_logs_never_show_full_addresses_at_info(
    smtp_server: FakeSmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.reject("gone@example.com", 550)
    with caplog.at_level(logging.INFO, logger="shoper_retention.connectors.smtp"):
        with connector_for(smtp_server.url()) as connector:
            connector.send(email_message(to="jan@example.com"))
            connector.send(email_message(to="gone@example.com"))

    assert caplog.records
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "jan@example.com" not in logged and "gone@example.com" not in logged
    assert masked_address("jan@example.com") in logged


def test_header_with_a_newline_fails_the_message_without_sending(
    smtp_server: FakeSmtpServer,
) -> None:
    outcome = connector_for(smtp_server.url()).send(
        email_message(headers={"List-Unsubscribe": "<https://x>\r\nBcc: victim@example.com"})
    )

    assert isinstance(outcome, Failed) and outcome.permanent and not outcome.suppress
    assert smtp_server.connections == 0


def test_sending_without_login_to_a_server_that_requires_it_is_not_sent() -> None:
    with FakeSmtpServer(credentials=("sklep", "right")) as server:
        outcome = connector_for(server.url()).send(email_message())

        assert isinstance(outcome, Paused)  # 530 to MAIL FROM: the shop's setup lacks a login
        assert server.messages == []


def test_server_going_away_mid_batch_is_retried() -> None:
    server = FakeSmtpServer().start()
    try:
        with connector_for(server.url()) as connector:
            first = connector.send(email_message(key="a"))
            server.stop()
            second = connector.send(email_message(key="b"))
            third = connector.send(email_message(key="c"))  # reconnecting finds nobody either
    finally:
        server.stop()

    assert isinstance(first, Sent)
    assert isinstance(second, Retry) and isinstance(third, Retry)
    assert connector._conn is None


def test_a_lost_answer_after_the_data_is_not_retried(smtp_server: FakeSmtpServer) -> None:
    """The server accepted the whole message but its 250 came too late: it may be delivered,
    and SMTP has no idempotency key, so retrying would risk a second copy."""
    smtp_server.data_reply_delay = 1.0
    connector = SmtpConnector("127.0.0.1", smtp_server.port, default_from=FROM, timeout=0.3)
    outcome = connector.send(email_message())
    assert isinstance(outcome, Failed) and outcome.reason.startswith("outcome unknown")
    assert not outcome.suppress
    assert len(smtp_server.envelopes) == 1


def test_a_deferral_before_the_data_is_retried(smtp_server: FakeSmtpServer) -> None:
    """Nothing was handed over yet (the recipient was refused for now): safe to retry."""
    smtp_server.reject("jan@example.com", 451)
    connector = SmtpConnector("127.0.0.1", smtp_server.port, default_from=FROM, timeout=0.3)
    assert isinstance(connector.send(email_message()), Retry)
    assert smtp_server.envelopes == []


# --- the recipient: exactly one canonical address ------------------------------------------


@pytest.mark.parametrize(
    "to",
    [
        "v <victim@example.com>",
        "v<victim@example.com>@example.org",
        "a@example.com,b@example.org",
        "a@example.com, b@example.org",
        "Anna@Example.com",  # an address, but not as stored: something skipped the edge
        " anna@example.com",
        "anna@example.com\r\nBcc: victim@example.com",
        "",
    ],
)
def test_a_recipient_that_is_not_one_canonical_address_fails_for_good_unsent(
    smtp_server: FakeSmtpServer, to: str
) -> None:
    with connector_for(smtp_server.url()) as connector:
        outcome = connector.send(email_message(to=to))

    assert isinstance(outcome, Failed)
    assert outcome.permanent and not outcome.suppress
    assert smtp_server.envelopes == []


def test_the_envelope_and_to_header_are_the_canonical_address_alone(
    smtp_server: FakeSmtpServer,
) -> None:
    with connector_for(smtp_server.url()) as connector:
        outcome = connector.send(email_message(to="anna@example.com"))

    assert isinstance(outcome, Sent)
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ("anna@example.com",)
    assert envelope.message["To"] == "anna@example.com"
    assert envelope.message.get_all("To") == ["anna@example.com"]
    assert b"\r\nTo: anna@example.com\r\n" in envelope.raw
