"""Every string of the merchant's settings page, in Polish and English, in one place.

The page speaks the shop's language (messaging.locales.language_of); a scenario's own section
texts come from its settings schema. Errors are raised in English all over the code
(BadInput); the validation messages the settings form can raise are given in Polish here, and
any other message is shown as it is."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from shoper_retention.scenarios.settings_schema import Text, say

TEXTS: dict[str, Text] = {
    "title": {"pl": "Ustawienia Retention", "en": "Retention settings"},
    "heading": {"pl": "Ustawienia Retention: {shop}", "en": "Retention settings: {shop}"},
    "saved": {"pl": "Zapisano ustawienia.", "en": "Settings saved."},
    "error": {"pl": "Nie zapisano:", "en": "Not saved:"},
    "error_nothing_changed": {"pl": "Niczego nie zmieniono.", "en": "Nothing was changed."},
    "paused_sms": {"pl": "Wysyłka SMS-ów wstrzymana", "en": "SMS sending is paused"},
    "paused_email": {"pl": "Wysyłka e-maili wstrzymana", "en": "E-mail sending is paused"},
    "paused_since": {"pl": "od {since}: {reason}.", "en": "since {since}: {reason}."},
    "paused_what_now": {
        "pl": "Wiadomości poczekają, aż to naprawisz. Po zapisaniu ustawień wysyłka ruszy "
        "ponownie.",
        "en": "Messages will wait until you fix this. Saving the settings tries again.",
    },
    "setup_error": {
        "pl": "Konfiguracja w sklepie nie jest dokończona: {error}",
        "en": "The setup in your shop is not complete: {error}",
    },
    "platform_cart_reminders": {
        "pl": "Twój sklep sam wysyła e-mail o porzuconym koszyku (ustawienie w panelu Ecwid), "
        "więc klienci dostaną dwa przypomnienia. Wyłącz jedno z nich: przypomnienie w panelu "
        "Ecwid albo odzyskiwanie koszyków tutaj.",
        "en": "Your shop sends its own abandoned-cart e-mail (a setting in the Ecwid admin), so "
        "shoppers would get two reminders: switch one of them off, that one in your shop's "
        "admin or cart recovery here.",
    },
    "worker_missing": {
        "pl": "Proces wysyłający wiadomości jeszcze nie działa: dopóki nie ruszy, żadna "
        "wiadomość nie wyjdzie.",
        "en": "The background worker has not run yet: no message will go out until it does.",
    },
    "dev_outbox_all": {
        "pl": "Nie skonfigurowano tokenu SMSAPI ani serwera SMTP: wiadomości trafiają do "
        "skrzynki testowej (dev outbox) i nie są doręczane.",
        "en": "No SMSAPI token and no SMTP server are configured: messages go to the dev outbox "
        "and are not delivered.",
    },
    "dev_outbox_sms": {
        "pl": "Nie skonfigurowano tokenu SMSAPI: SMS-y trafiają do skrzynki testowej (dev outbox) "
        "i nie są doręczane.",
        "en": "No SMSAPI token is configured: SMS messages go to the dev outbox and are not "
        "delivered.",
    },
    "dev_outbox_email": {
        "pl": "Nie skonfigurowano serwera SMTP: e-maile trafiają do skrzynki testowej "
        "(dev outbox) i nie są doręczane.",
        "en": "No SMTP server is configured: e-mails go to the dev outbox and are not delivered.",
    },
    # SMS
    "sms_heading": {"pl": "SMS (SMSAPI)", "en": "SMS (SMSAPI)"},
    "smsapi_token": {"pl": "Token SMSAPI", "en": "SMSAPI token"},
    "smsapi_token_stored": {
        "pl": "zapisany; zostaw pole puste, aby go zachować",
        "en": "stored; leave blank to keep it",
    },
    "smsapi_token_where": {"pl": "z Twojego konta SMSAPI", "en": "from your SMSAPI account"},
    "smsapi_token_clear": {"pl": "Usuń zapisany token", "en": "Remove the stored token"},
    "sms_sender_hint": {
        "pl": "do 11 znaków, zarejestrowana w SMSAPI",
        "en": "up to 11 characters, registered at SMSAPI",
    },
    "sms_transliterate": {
        "pl": "Zamieniaj polskie litery na łacińskie (ą→a): SMS mieści wtedy 160 znaków zamiast 70",
        "en": "Replace Polish letters (ą→a): an SMS then holds 160 characters instead of 70",
    },
    "sms_countries_hint": {
        "pl": "dwuliterowe kody krajów oddzielone przecinkami; puste pole: tylko {country}",
        "en": "two-letter country codes, comma-separated; blank: {country} only",
    },
    "sms_countries_note": {
        "pl": "SMS-y trafiają tylko na numery komórkowe z tych krajów i dopiero wtedy, gdy "
        "właściciel numeru potwierdzi zgodę linkiem z jednorazowego SMS-a z prośbą "
        "o potwierdzenie.",
        "en": "SMS messages go only to mobile numbers in these countries, and only once the "
        "number's owner has confirmed by tapping the link in a one-off confirmation SMS.",
    },
    # Consent
    "consent_heading": {"pl": "Zgody", "en": "Consent"},
    "email_opt_in_confirmed": {
        "pl": "Potwierdzana: najpierw wysyłamy e-mail z linkiem potwierdzającym (zalecane)",
        "en": "Confirmed: we e-mail a confirmation link first (recommended)",
    },
    "email_opt_in_single": {
        "pl": "Pojedyncza: samo zaznaczenie wystarcza do przypomnień o tym koszyku",
        "en": "Single: the tick alone is enough for that cart's reminders",
    },
    "consent_note": {
        "pl": "W formularzu sklepu każdy może wpisać dowolny adres. Przy zgodzie potwierdzanej "
        "cudzy adres, wpisany przez kogoś innego, dostanie najwyżej jeden krótki e-mail z "
        "prośbą o potwierdzenie. Klientów zapisanych do newslettera sklepu nie pytamy ponownie.",
        "en": "Anyone can type any address into a shop's form. With confirmed consent, a "
        "stranger's address typed by someone else gets one short confirmation e-mail and "
        "nothing more. Customers who signed up for your newsletter in the shop are not asked "
        "again.",
    },
    # E-mail and quiet hours
    "email_heading": {"pl": "E-mail i godziny wysyłki", "en": "E-mail and quiet hours"},
    "quiet_hours_note": {
        "pl": "Godziny w strefie czasowej sklepu ({zone}). Wiadomość przypadająca poza nimi "
        "czeka do najbliższej dozwolonej minuty.",
        "en": "Times are in your shop's time zone ({zone}). A message due outside these hours "
        "waits for the next allowed minute.",
    },
    # The storefront widget
    "widget_heading": {"pl": "Widżet w sklepie", "en": "Storefront widget"},
    "widget_about": {
        "pl": "Skrypt na stronach sklepu śledzi koszyk, zapamiętuje adres e-mail i telefon "
        "podane w koszyku oraz zgodę zaznaczoną przez klienta, a także wyświetla formularze, "
        "które włączysz poniżej.",
        "en": "A script on your shop's pages follows the cart, keeps the e-mail and phone given "
        "at checkout and the consent the shopper ticks, and shows the forms you switch on "
        "below.",
    },
    "widget_seen": {
        "pl": "Pierwsze zdarzenie ze stron sklepu dotarło {since}, a ostatnie {last}.",
        "en": "The first event from your shop's pages arrived on {since}, the latest on {last}.",
    },
    "widget_quiet": {
        "pl": "Od ponad {days} dni ze stron sklepu nie dotarło nic nowego – sprawdź, czy kod "
        "wciąż jest w szablonie.",
        "en": "Nothing new has arrived from your shop's pages for over {days} days – check that "
        "the code is still in your template.",
    },
    "widget_not_seen": {
        "pl": "Nie dotarło jeszcze żadne zdarzenie ze stron sklepu – sprawdź, czy kod jest "
        "wklejony.",
        "en": "No event from your shop's pages has arrived yet – check that the code is pasted in.",
    },
    "widget_restock": {
        "pl": "Formularz „Powiadom mnie o dostępności” na stronach niedostępnych produktów",
        "en": "A “Notify me when it's back in stock” form on out-of-stock product pages",
    },
    "widget_restock_hint": {
        "pl": "Powiadomienia wychodzą, gdy włączone są „Powiadomienia o dostępności”; do tego "
        "czasu zapisy czekają.",
        "en": "Notices go out while “Back in stock” is on; until then, sign-ups wait.",
    },
    "widget_birthday": {
        "pl": "Formularz „Prezent na urodziny”",
        "en": "A “Birthday gift” sign-up form",
    },
    "widget_birthday_hint": {
        "pl": 'Pojawi się w elemencie z atrybutem data-shoper-retention="birthday", jeśli '
        "dodasz taki do szablonu sklepu; w przeciwnym razie jako niewielki blok nad stopką "
        "strony.",
        "en": 'It appears inside an element with data-shoper-retention="birthday" if you add '
        "one to your shop's template; otherwise as a small block above the page footer.",
    },
    "widget_consent_hint": {
        "pl": "Pole wyboru z tą treścią pojawia się przy polu e-mail w koszyku; klient "
        "zaznacza je sam. Każda zmiana treści zapisuje jej nową wersję (teraz: {version}), "
        "przechowywaną przy każdej zgodzie jako dowód, razem z językiem wyświetlonej treści. "
        "Puste pole przywraca treść domyślną.",
        "en": "A checkbox with this text appears beside the e-mail field at checkout; the "
        "shopper ticks it themselves. Every change of the text saves a new version (now: "
        "{version}), kept with each consent as proof, together with the language of the text "
        "shown. A blank field restores the default text.",
    },
    "widget_origins_hint": {
        "pl": "Jeśli sklep otwiera się także pod innym adresem (z www albo w drugiej domenie), "
        "wpisz go tutaj, po jednym w wierszu, np. https://www.sklep.pl. Widżet działa tylko "
        "na stronach pod adresem sklepu i pod adresami z tej listy.",
        "en": "If your shop also opens at another address (with www, or on a second domain), "
        "enter it here, one per line, e.g. https://www.myshop.com. The widget works only on "
        "pages at your shop's address and at the addresses listed here.",
    },
    "widget_snippet": {"pl": "Kod do wklejenia", "en": "Code to paste"},
    "widget_snippet_hint": {
        "pl": "Wklej ten kod do szablonu sklepu tak, aby wczytywał się na każdej stronie, także "
        "w koszyku: bez niego widżet nie działa.",
        "en": "Paste this code into your shop's template so that it loads on every page, the "
        "basket included: the widget does not work without it.",
    },
    "widget_ecwid": {
        "pl": "W sklepie Ecwid widżet wczytuje się sam.",
        "en": "On Ecwid the widget loads by itself.",
    },
    "save": {"pl": "Zapisz ustawienia", "en": "Save settings"},
    # The data area (imports and the like)
    "data_heading": {"pl": "Dane", "en": "Data"},
    "birthdays_tool": {
        "pl": "Import dat urodzin z pliku CSV",
        "en": "Import birthdays from a CSV file",
    },
    "birthdays_tool_hint": {
        "pl": "dla klientów, których daty urodzin masz zapisane poza sklepem",
        "en": "for customers whose birthdays you keep outside your shop",
    },
    "history_heading": {"pl": "Historia klientów i zamówień", "en": "Customer and order history"},
    "history_hint": {
        "pl": "Urodziny i rocznice wymagają historii klientów i zamówień. Importujemy ją ze "
        "sklepu w tle, w tempie, które go nie obciąża (zamówienia z ostatnich dwóch lat).",
        "en": "Birthdays and anniversaries need this history. We import it from your shop in "
        "the background, at a pace your shop can handle (orders from the last two years).",
    },
    "history_never": {
        "pl": "Historia nie była jeszcze odczytana.",
        "en": "The history has not been read yet.",
    },
    "history_button": {"pl": "Odczytaj historię ponownie", "en": "Read the history again"},
    "history_button_first": {"pl": "Odczytaj historię", "en": "Read the history"},
    "history_running": {"pl": "Odczyt trwa…", "en": "Reading…"},
    "open": {"pl": "Otwórz", "en": "Open"},
    # Last messages
    "messages_heading": {"pl": "Ostatnie wiadomości", "en": "Recent messages"},
    "column_when": {"pl": "Kiedy", "en": "When"},
    "column_scenario": {"pl": "Scenariusz", "en": "Scenario"},
    "column_step": {"pl": "Krok", "en": "Step"},
    "column_channel": {"pl": "Kanał", "en": "Channel"},
    "column_to": {"pl": "Odbiorca", "en": "To"},
    "column_status": {"pl": "Status", "en": "Status"},
    "column_note": {"pl": "Uwagi", "en": "Note"},
    "no_messages": {"pl": "Nie ma jeszcze żadnych wiadomości.", "en": "No messages yet."},
    "channel_sms": {"pl": "SMS", "en": "SMS"},
    "channel_email": {"pl": "e-mail", "en": "e-mail"},
    "dev_outbox_tag": {"pl": "skrzynka testowa", "en": "dev outbox"},
}

# A message's status as the merchant reads it (models/outbox.py); an unknown one is shown as is.
STATUSES: dict[str, Text] = {
    "scheduled": {"pl": "zaplanowana", "en": "scheduled"},
    "claimed": {"pl": "w trakcie wysyłki", "en": "sending"},
    "sent": {"pl": "wysłana", "en": "sent"},
    "delivered": {"pl": "doręczona", "en": "delivered"},
    "undelivered": {"pl": "niedoręczona", "en": "not delivered"},
    "failed": {"pl": "nieudana", "en": "failed"},
    "cancelled": {"pl": "anulowana", "en": "cancelled"},
    "skipped": {"pl": "pominięta", "en": "skipped"},
}

# What the shop-wide fields are called, on the page and in an error naming one; a scenario's
# fields are named by its settings schema.
FIELD_LABELS: dict[str, Text] = {
    "sms_sender": {"pl": "Nazwa nadawcy SMS", "en": "SMS sender name"},
    "mail_from": {"pl": "Adres nadawcy e-maili", "en": "E-mail sender address"},
    "sms_from": {"pl": "SMS-y wolno wysyłać od", "en": "SMS allowed from"},
    "sms_until": {"pl": "SMS-y wolno wysyłać do", "en": "SMS allowed until"},
    "email_from": {"pl": "E-maile wolno wysyłać od", "en": "E-mail allowed from"},
    "email_until": {"pl": "E-maile wolno wysyłać do", "en": "E-mail allowed until"},
    "sms_countries": {
        "pl": "Kraje, do których wolno wysyłać SMS-y",
        "en": "Countries SMS messages may go to",
    },
    "email_opt_in": {
        "pl": "Zgoda na e-maile zaznaczona w sklepie",
        "en": "E-mail consent ticked in your shop",
    },
    "widget_consent_pl": {"pl": "Treść zgody po polsku", "en": "Consent text in Polish"},
    "widget_consent_en": {"pl": "Treść zgody po angielsku", "en": "Consent text in English"},
    "widget_origins": {"pl": "Inne adresy sklepu", "en": "Other addresses of your shop"},
}


def _polish_count(n: str, one: str, few: str, many: str) -> str:
    """`1 znak`, `2 znaki`, `5 znaków`, `22 znaki`: Polish picks the noun's form by the number."""
    value = int(n)
    if value == 1:
        return f"{n} {one}"
    if value % 10 in (2, 3, 4) and value % 100 not in (12, 13, 14):
        return f"{n} {few}"
    return f"{n} {many}"


# The messages web/settings_form.py and scenarios/settings_schema.py raise, in Polish.
POLISH_ERRORS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = tuple(
    (re.compile(pattern), say_it)
    for pattern, say_it in (
        (r"unknown choice", lambda m: "wybierz jedną z podanych możliwości"),
        (r"unknown channel", lambda m: "wybierz jeden z podanych kanałów"),
        (r"unknown coupon mode", lambda m: "wybierz jeden z podanych rodzajów kuponu"),
        (
            r"each step must come after the one before",
            lambda m: "każda wiadomość musi wyjść później niż poprzednia",
        ),
        (r"must be a whole number", lambda m: "podaj liczbę całkowitą"),
        (
            r"must be between (-?\d+) and (-?\d+)",
            lambda m: f"podaj liczbę od {m[1]} do {m[2]}",
        ),
        (r"must be a number of hours", lambda m: "podaj liczbę godzin, np. 24 lub 1,5"),
        (
            r"must be between 0\.5 and (\d+) hours",
            lambda m: f"podaj od 0,5 do {m[1]} godzin",
        ),
        (
            r"at most (\d+) characters",
            lambda m: "najwyżej " + _polish_count(m[1], "znak", "znaki", "znaków"),
        ),
        (
            r"one line of at most (\d+) characters",
            lambda m: "jeden wiersz, najwyżej " + _polish_count(m[1], "znak", "znaki", "znaków"),
        ),
        (
            r"at most (\d+) letters, digits, spaces, dots or dashes",
            lambda m: (
                "najwyżej "
                + _polish_count(m[1], "znak", "znaki", "znaków")
                + ": litery bez polskich znaków, cyfry, spacje, kropki lub myślniki"
            ),
        ),
        (
            r"must be one plain e-mail address: .*",
            lambda m: "podaj jeden adres e-mail, np. sklep@example.pl",
        ),
        (
            r"the window must start before it ends",
            lambda m: "początek musi być wcześniej niż koniec",
        ),
        (r"unknown country code (.+)", lambda m: f"nieznany kod kraju {m[1]}"),
        (
            r"at most (\d+) countries",
            lambda m: "najwyżej " + _polish_count(m[1], "kraj", "kraje", "krajów"),
        ),
        (r"must be a time like 09:00", lambda m: "podaj godzinę w postaci 09:00"),
        (
            r"not an https address of a site: (.+)",
            lambda m: f"to nie jest adres strony zaczynający się od https:// – {m[1]}",
        ),
        (
            r"at most (\d+) addresses",
            lambda m: "najwyżej " + _polish_count(m[1], "adres", "adresy", "adresów"),
        ),
    )
)


def error_message(message: str, language: str) -> str:
    if language == "pl":
        for pattern, say_it in POLISH_ERRORS:
            match = pattern.fullmatch(message)
            if match:
                return say_it(match)
    return message


def translator(language: str) -> Callable[..., str]:
    """`t("saved")`, `t("heading", shop=...)` or `t({"pl": ..., "en": ...})` for the template;
    an unknown key fails the render, so a missing text cannot reach a merchant unnoticed."""

    def t(text: str | Mapping[str, str], **values: Any) -> str:
        phrase = say(TEXTS[text] if isinstance(text, str) else text, language)
        return phrase.format(**values) if values else phrase

    return t


def status_word(status: str, language: str) -> str:
    return say(STATUSES[status], language) if status in STATUSES else status
