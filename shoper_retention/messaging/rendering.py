"""Message texts: Jinja templates rendered in the sandbox (merchants will edit them), in the
shop's language, with money and dates formatted for that language.

Files live in templates/messages/<scenario>/step<N>.<channel>.<lang>.<ext>. An e-mail template
defines the blocks `subject`, `html` and `text`; it is wrapped in the shared e-mail layout,
which carries the unsubscribe footer. An SMS template is plain text; an SMS that must offer an
opt-out (marketing, or a notice the shopper asked for) gets the opt-out line appended here, so
no edit can remove it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from shoper_retention.messaging import locales
from shoper_retention.messaging.email_html import inline_css

TEMPLATES = Path(__file__).parent.parent / "templates" / "messages"
SMS_OPT_OUT = {"pl": "Rezygnacja: {url}", "en": "Opt out: {url}"}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str = ""


class Renderer:
    def __init__(self, templates: Path = TEMPLATES) -> None:
        self.templates = templates
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(templates)),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    @staticmethod
    def _formatters(language: str, timezone: str) -> dict[str, Any]:
        """Passed in the context (not set as env filters) so concurrent renders in different
        languages cannot see each other's."""

        def money(amount: Decimal | str | int, currency: str) -> str:
            return locales.money(Decimal(str(amount)), currency, language)

        def local_date(value: datetime) -> str:
            return locales.local_datetime(value, timezone, language)

        return {"money": money, "local_date": local_date}

    def template_name(self, scenario: str, step: int, channel: str, language: str) -> str:
        ext = "html" if channel == "email" else "txt"
        return self._in_language(f"{scenario}/step{step}.{channel}.{{}}.{ext}", language)

    def _in_language(self, pattern: str, language: str) -> str:
        """The template for `language`, else the English one: a text missing in one language
        must not stop the message (nor its layout, which carries the unsubscribe footer)."""
        name = pattern.format(language)
        return name if (self.templates / name).exists() else pattern.format("en")

    def render(
        self,
        *,
        scenario: str,
        step: int,
        channel: str,
        language: str,
        timezone: str,
        context: dict[str, Any],
        unsubscribe_url: str,
        opt_out: bool = True,
    ) -> Rendered:
        template = self.env.get_template(self.template_name(scenario, step, channel, language))
        ctx = dict(
            context,
            **self._formatters(language, timezone),
            lang=language,
            unsubscribe_url=unsubscribe_url,
        )
        if channel == "sms":
            body = " ".join(template.render(ctx).split())
            if not opt_out:
                return Rendered(subject="", text=body)
            line = SMS_OPT_OUT.get(language, SMS_OPT_OUT["en"]).format(url=unsubscribe_url)
            return Rendered(subject="", text=f"{body} {line}")
        block_ctx = template.new_context(ctx)
        subject = " ".join("".join(template.blocks["subject"](block_ctx)).split())
        body_html = Markup("".join(template.blocks["html"](template.new_context(ctx))))
        body_text = "".join(template.blocks["text"](template.new_context(ctx))).strip()
        layout = self.env.get_template(self._in_language("_layout.email.{}.html", language))
        html = layout.render(dict(ctx, body=body_html, subject=subject))
        footer_template = self.env.get_template(self._in_language("_layout.email.{}.txt", language))
        footer = footer_template.render(ctx).strip()
        return Rendered(subject=subject, text=f"{body_text}\n\n{footer}\n", html=inline_css(html))
