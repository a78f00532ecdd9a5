"""CSS inlining for e-mail HTML: offline, cached, media queries kept."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from shoper_retention.messaging.email_html import inline_css


def page(body: str, style: str = "", head_extra: str = "") -> str:
    # A unique comment keeps each test's input out of other tests' cache entries.
    return (
        f"<html><head><style>{style}</style>{head_extra}</head>"
        f"<body><!-- {uuid.uuid4()} -->{body}</body></html>"
    )


def test_style_rule_becomes_a_style_attribute() -> None:
    html = inline_css(page('<p class="x">Hi</p>', style=".x{color:red}"))

    assert '<p class="x" style="color:red">Hi</p>' in html


def test_media_queries_stay_in_style_with_important() -> None:
    style = ".x{color:red} @media (max-width: 600px) { .x { color: blue !important } }"
    html = inline_css(page('<p class="x">Hi</p>', style=style))

    assert 'style="color:red"' in html
    assert "@media (max-width: 600px)" in html
    assert "color: blue !important" in html


def test_vendor_properties_do_not_log(caplog: pytest.LogCaptureFixture) -> None:
    style = ".x{-webkit-text-size-adjust:none;mso-line-height-rule:exactly;color:red}"
    html = inline_css(page('<p class="x">Hi</p>', style=style))

    assert "mso-line-height-rule:exactly" in html
    assert [r for r in caplog.records if r.name.upper().startswith("CSSUTILS")] == []


def test_linked_stylesheet_is_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def no_network(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    link = '<link rel="stylesheet" href="http://203.0.113.1/x.css">'
    started = time.monotonic()
    html = inline_css(page('<p class="x">Hi</p>', style=".x{color:red}", head_extra=link))

    assert time.monotonic() - started < 2
    assert attempts == []
    assert 'style="color:red"' in html


def test_same_input_returns_the_cached_object() -> None:
    source = page('<p class="x">Hi</p>', style=".x{color:red}")

    assert inline_css(source) is inline_css(source)


def test_empty_html_is_returned_as_is() -> None:
    assert inline_css("") == ""
    assert inline_css("  \n") == "  \n"
