"""Scrubbing: the configured secrets and any bearer token taken out of text before it is shown.

Every sink of the program's text goes through one ``Scrubber``: the log sinks (stderr, the log
file, JSON lines) and ``sys.stdout``/``sys.stderr`` while ``main()`` runs. It works on the final
text, so whatever produced it (our messages, httpx's errors quoting a header, a tenant's error
body echoing the ``Authorization`` header, a traceback) is covered.

What is replaced by ``[redacted]``:

- each configured secret (API key, OAuth client secret, the passwords and tokens of the alert
  URLs) of at least ``MIN_SECRET_LENGTH`` characters, also in the spellings it takes inside
  JSON, ``repr()``, bytes reprs and URLs;
- the token after ``Bearer`` (any case), in prose, headers (``Authorization: Bearer x``), quoted
  header dumps (``b'Bearer x\\r\\n'``) and JSON (``"Authorization": "Bearer x"``);
- the value of an ``access_token``, ``refresh_token`` or ``id_token`` field (an OAuth token
  answer carries the bearer token without the word ``Bearer``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from scheduler.settings import Settings

REDACTED = "[redacted]"
# A shorter "secret" would blank out ordinary words all over the output.
MIN_SECRET_LENGTH = 4
# "Bearer" and its separator are kept, so a reader still sees what was there.
_BEARER = r"\b(?i:bearer)(?:[ \t]|%20|\\t|\+)+"
_TOKEN_FIELD = r"""(?i:["']?\b(?:access|refresh|id)_token["']?\s*[:=]\s*["']?)"""
# A token ends at whitespace, a quote, an escape (b'Bearer x\r\n'), a separator or a colour code.
_TOKEN = r"""(?!\[redacted\])[^\s'"`\\,;&(){}<>\x00-\x1f\x7f]+"""


class Scrubber:
    """Replaces secrets and bearer tokens in text by ``[redacted]``; see the module docstring."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        spellings = {form for secret in secrets if secret for form in _spellings(secret)}
        usable = sorted(
            (form for form in spellings if len(form) >= MIN_SECRET_LENGTH), key=len, reverse=True
        )
        # The longest first: a secret holding another one is replaced whole.
        secret_part = "|".join(re.escape(form) for form in usable)
        token_part = rf"(?P<lead>{_BEARER}|{_TOKEN_FIELD}){_TOKEN}"
        pattern = f"{secret_part}|{token_part}" if secret_part else token_part
        self._pattern = re.compile(pattern)
        self._secrets = tuple(usable)

    @classmethod
    def for_settings(cls, settings: Settings, more: Iterable[str] = ()) -> Scrubber:
        """A scrubber for the API key and the OAuth client secret of ``settings``, when set,
        and ``more`` secrets (the alert URLs': ``scheduler.alert_config.alert_secrets``)."""
        secrets = [
            secret.get_secret_value()
            for secret in (settings.api_key, settings.client_secret)
            if secret is not None
        ]
        return cls([*secrets, *more])

    def scrub(self, text: str) -> str:
        """``text`` with every secret and bearer token replaced by ``[redacted]``."""
        if not self._may_hold_one(text):
            return text
        # An unmatched "lead" group (a secret matched) is replaced by nothing.
        return self._pattern.sub(r"\g<lead>" + REDACTED, text)

    def _may_hold_one(self, text: str) -> bool:
        # Plain substring searches take a tenth of the regex's time on a line that holds
        # nothing to scrub, which is nearly every line.
        lower = text.lower()
        return "bearer" in lower or "_token" in lower or any(s in text for s in self._secrets)


def _spellings(secret: str) -> set[str]:
    """The secret as it may appear once quoted, escaped or encoded by whatever printed it."""
    forms = {secret, secret.strip()}
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms.add(repr(secret)[1:-1])
    forms.add(repr(secret.encode("utf-8", "backslashreplace"))[2:-1])
    forms.add(quote(secret, safe=""))
    forms.add(quote_plus(secret, safe=""))
    return forms
