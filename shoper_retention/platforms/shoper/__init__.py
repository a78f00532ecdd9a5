"""Shoper App Store adapter: callback, iframe and webhook signatures, and the REST/OAuth client."""
