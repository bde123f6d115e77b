"""Alert delivery through Apprise: sending an ``AlertMessage`` to its URLs.

``deliver`` sends one ``AlertMessage`` (``scheduler.alert_message``) to each URL (e-mail, Teams
workflows, Slack, webhooks: any Apprise URL) and says whether every one accepted it; it never
raises, and its one-line error holds no secret. A webhook whose plugin takes custom headers
(``json``, ``form``, ``xml`` and their ``s`` forms) also gets the message's id as the header
``X-Reload-Chain-Alert-Id``, added to that send's URL as ``?+X-Reload-Chain-Alert-Id=<id>``
(the URL's own headers kept); other schemes have it in the body's last line only.

Apprise logs to the stdlib logger ``apprise`` and, at its TRACE level, prints each URL it parses
whole, password and tokens included; urllib3 prints request paths and queries (webhook tokens)
at DEBUG. While a URL is parsed or sent, a filter on those two loggers replaces its secrets by
``[redacted]`` (``Scrubber``): the password, the fields the Apprise plugin declares private
(tokens, keys, signatures) and custom header and query values (``?+X-Key=..``, ``?-token=..``),
but the alert id, which is no secret; records below WARNING are dropped while the URL is
parsed. ``redacted(url)`` is Apprise's privacy form (``mailto://user:****@host/to``,
``slack://T...D/B...D/a...x``) without its query string, which Apprise leaves in clear.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import apprise

from scheduler.alert_message import KIND_LABELS, AlertMessage, hub_link, one_line
from scheduler.scrub import Scrubber

__all__ = [
    "ALERT_ID_HEADER",
    "GUARDED_LOGGERS",
    "KIND_LABELS",
    "AlertMessage",
    "DeliveryResult",
    "check_urls",
    "deliver",
    "hub_link",
    "keyed_url",
    "redacted",
]

# Apprise's own logger, and urllib3's, which prints request paths (webhook tokens) at DEBUG.
GUARDED_LOGGERS = ("apprise", "urllib3.connectionpool")
ALERT_ID_HEADER = "X-Reload-Chain-Alert-Id"
# The plugins (custom_json, custom_form, custom_xml) that send each ``?+Name=value`` as a request
# header; Apprise reads the scheme as everything before ``:`` and one or more slashes.
_HEADER_SCHEMES = re.compile(r"\s*(?:json|form|xml)s?:[/\\]", re.I)


@dataclass(frozen=True)
class DeliveryResult:
    """``ok`` when every URL accepted the alert; else the failed URLs (redacted) and why."""

    ok: bool
    failed: tuple[str, ...] = ()
    error: str | None = None


def deliver(urls: Sequence[str], message: AlertMessage, *, timeout_s: float = 10) -> DeliveryResult:
    """Send ``message`` to each URL in turn, in this thread; never raises.

    ``timeout_s`` is each connect's and each read's timeout (Apprise's ``cto``/``rto``); Apprise's
    own deadline is off (it would abandon a worker thread that then logs unfiltered). Apprise
    retries nothing unless a URL asks (``?retry=N``). No URL at all is a failure.
    """
    if not urls:
        return DeliveryResult(ok=False, error="no alert URL to send to")
    failures = [problem for url in urls if (problem := _send(url, message, timeout_s))]
    if not failures:
        return DeliveryResult(ok=True)
    error = "; ".join(f"{shown}: {why}" for shown, why in failures)
    summary = f"{len(failures)} of {len(urls)} alert URLs failed: {error}"
    return DeliveryResult(ok=False, failed=tuple(s for s, _ in failures), error=summary)


def check_urls(urls: Sequence[str]) -> list[str]:
    """The URLs Apprise cannot use (unknown scheme, missing parts), redacted, in order."""
    bad = []
    for url in urls:
        with _SecretFilter(url) as guard:
            plugin, shown = _load(url, guard, _asset())
        if plugin is None:
            bad.append(shown)
    return bad


def redacted(url: str) -> str:
    """``url`` fit for a log line: Apprise's privacy form, without password, tokens or query."""
    with _SecretFilter(url) as guard:
        return _load(url, guard, _asset())[1]


def keyed_url(url: str, alert_id: str) -> str:
    """``url`` sending ``alert_id`` as the header ``X-Reload-Chain-Alert-Id`` when its plugin
    takes custom headers and there is an id; else ``url`` as it is."""
    if not alert_id or _HEADER_SCHEMES.match(url) is None:
        return url
    base = url.strip()
    joint = "" if base.endswith(("?", "&")) else "&" if "?" in base else "?"
    # Apprise keeps the last of two values of one header: the id wins over a stale one.
    return f"{base}{joint}+{ALERT_ID_HEADER}={quote(alert_id, safe='')}"


def _send(url: str, message: AlertMessage, timeout_s: float) -> tuple[str, str] | None:
    """None when ``url`` accepted ``message``; else (the URL redacted, why it failed)."""
    keyed = keyed_url(url, message.alert_id)
    with _SecretFilter(keyed, public=message.alert_id) as guard:
        shown = guard.scrub(_rough(url))
        try:
            asset = _asset()
            plugin, sent_as = _load(keyed, guard, asset)
            if plugin is None:
                return shown, "not a valid Apprise URL"
            shown = sent_as  # Apprise's privacy form, without the query: the id is not shown
            plugin.socket_connect_timeout = timeout_s
            plugin.socket_read_timeout = timeout_s
            sender = apprise.Apprise(asset=asset)
            sender.add(plugin)
            result = sender.notify(
                title=message.title, body=message.body, body_format=apprise.NotifyFormat.TEXT
            )
            if result:
                return None
            complaints = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR")]
            why = complaints[-1] if complaints else f"not delivered ({result.status.name})"
        except Exception as error:  # sending must never break a sweep
            why = f"unexpected error: {type(error).__name__}: {error}"
        return shown, guard.scrub(one_line(why))


def _asset() -> apprise.AppriseAsset:
    """No store on disk; URLs logged in privacy form; sent in this thread, without deadline."""
    return apprise.AppriseAsset(
        storage_mode="memory", secure_logging=True, service_timeout=0, async_mode=False
    )


def _load(
    url: str, guard: _SecretFilter, asset: apprise.AppriseAsset
) -> tuple[apprise.NotifyBase | None, str]:
    """Apprise's plugin for ``url`` (None if it cannot use it), and ``url`` as shown."""
    plugin = apprise.Apprise.instantiate(url.strip(), asset=asset) if url.strip() else None
    if plugin is None:
        return None, guard.scrub(_rough(url))
    guard.learn(plugin)
    privacy_form: str = plugin.url(privacy=True)  # type: ignore[no-untyped-call]
    return plugin, guard.scrub(privacy_form.split("?", 1)[0])


def _rough(url: str) -> str:
    """A URL Apprise could not parse, shown as ``scheme://****@host:port/...``."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return "(unreadable URL)"
    with suppress(ValueError):  # a port that is not a number is left out
        host += f":{parts.port}" if parts.port else ""
    if not parts.scheme:
        return "(not a URL: no scheme://)"
    userinfo = "****@" if "@" in parts.netloc else ""
    rest = "/..." if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{userinfo}{host}{rest}"


class _SecretFilter(logging.Filter):
    """Scrubs one URL's secrets from the guarded loggers' records while installed."""

    def __init__(self, url: str, public: str = "") -> None:
        super().__init__()
        self._public = public  # a header value that is no secret (the alert id)
        self._base: list[str] = []
        with suppress(ValueError):  # no password to know in a URL Python cannot split
            self._base += filter(None, [urlsplit(url.strip()).password])
        self._texts = Scrubber(self._base)
        # While parsing, Apprise may print the URL whole ("Unsupported URL: ...").
        self._logs = Scrubber([url, url.strip(), *self._base])
        self._parsing = True

    def learn(self, plugin: apprise.NotifyBase) -> None:
        """Add the plugin's secrets, and let its records below WARNING through again."""
        learnt = [text for text in _plugin_secrets(plugin) if text != self._public]
        self._texts = self._logs = Scrubber([*self._base, *learnt])
        self._parsing = False

    def scrub(self, text: str) -> str:
        """``text`` (a URL shown, an error) without the secrets known so far."""
        return self._texts.scrub(text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._parsing and record.levelno < logging.WARNING:
            return False
        text = record.getMessage()
        clean = self._logs.scrub(text)
        if clean != text:
            record.msg, record.args = clean, ()
        return True

    def __enter__(self) -> _SecretFilter:
        for name in GUARDED_LOGGERS:
            logging.getLogger(name).addFilter(self)
        return self

    def __exit__(self, *_: object) -> None:
        for name in GUARDED_LOGGERS:
            logging.getLogger(name).removeFilter(self)


def _plugin_secrets(plugin: apprise.NotifyBase) -> Iterator[str]:
    """The private fields an Apprise plugin declares, its password, headers and parameters."""
    yield from _strings(getattr(plugin, "password", None))
    for fields in (plugin.template_tokens, plugin.template_args):
        for key, spec in fields.items():
            if isinstance(spec, dict) and spec.get("private"):
                yield from _strings(getattr(plugin, str(spec.get("map_to", key)), None))
    for extra in (getattr(plugin, name, None) for name in ("headers", "params")):
        yield from _strings(list(extra.values()) if isinstance(extra, dict) else None)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str) and value:
        yield value
    elif isinstance(value, list | tuple | set):
        yield from (text for item in value for text in _strings(item))
