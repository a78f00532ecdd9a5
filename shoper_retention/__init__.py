"""shoper-retention: retention messages (cart recovery, back in stock, birthdays, ...) for
Shoper and Ecwid shops, sent by SMS through SMSAPI and by e-mail."""

__version__ = "0.1.0"
