"""Turn `<style>` rules of a rendered e-mail into `style=""` attributes.

Many mail clients (Gmail's apps, Outlook) drop `<style>` blocks, so the rules must live on the
elements themselves. premailer does that; this module holds the one configuration we use.
"""

from __future__ import annotations

import logging
from functools import cache, lru_cache

import cssutils
from premailer import Premailer

# A few hundred distinct rendered mails (template version x language x shop) fit easily; a
# cache miss only costs a re-inline, never a wrong result, because the key is the whole html.
CACHE_SIZE = 512


@cache
def _inliner() -> Premailer:
    """Build the one shared Premailer on first use, not at import time.

    A Premailer built without `html` is reusable: `transform(html)` keeps all its state in
    locals, so one instance serves every mail (one per mail is slow and, with a logging handler
    argument, stacks cssutils handlers).
    """
    # cssutils warns about every vendor property (-webkit-..., mso-...) that mail CSS is full
    # of; those warnings are noise, not problems.
    cssutils.log.setLevel(logging.CRITICAL)
    return Premailer(
        # Never download <link rel=stylesheet> or external styles while sending mail: a slow
        # or hostile URL in a merchant's template must not stall the worker.
        allow_network=False,
        allow_loading_external_files=False,
        # Classes stay so the media queries left in <style> still have something to match.
        remove_classes=False,
        # premailer strips !important from the rules it leaves in <style> by default; media
        # queries in mail need !important to beat the inlined styles, so keep it.
        strip_important=False,
        disable_validation=True,
        cache_css_parsing=True,
    )


@lru_cache(maxsize=CACHE_SIZE)
def inline_css(html: str) -> str:
    """Return `html` with its CSS inlined; `@media` rules and pseudo-classes stay in `<style>`.

    Cached by the html string itself, so a template rendered the same way for many shoppers is
    inlined once; the same input returns the very same string object.
    """
    if not html.strip():
        # lxml refuses an empty document; an empty body has nothing to inline.
        return html
    inlined: str = _inliner().transform(html, pretty_print=False)
    return inlined
