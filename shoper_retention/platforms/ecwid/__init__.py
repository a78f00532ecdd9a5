"""Ecwid App Market adapter: webhook and iframe signatures, install, and the REST/OAuth client."""
