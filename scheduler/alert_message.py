"""The text of an alert: its title, its plain-text body, and the link to the app in the hub.

``AlertMessage`` is what an outbox row holds (``jobs.alerts.message``) plus the row's
``alert_id``: a hash of the sweep, the destination, the kind and the app (never a secret), the
same on every retry of that row. The body ends with ``Alert id: <id>``, so a receiver that must
act once per alert can drop a repeat (delivery is at least once: ``scheduler.alerting``).

``hub_link``: an app's page in the hub, ``<tenant_url>/sense/app/<appId>``. A script (24-hex id)
gets no link: Qlik documents no stable address for a script's page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KIND_LABELS = {
    "reload_failed": "Reload failed",
    "start_failed": "Reload could not be started",
    "not_found": "App not found",
    "sweep_failing": "Sweeps are failing",
    "late": "Deadline missed",
    "native_task_disabled": "Native task stopped",
}
_APP_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def hub_link(tenant_url: str, app_id: str) -> str | None:
    """The app's page in the hub, ``<tenant_url>/sense/app/<appId>``; None for a script's id."""
    if _APP_GUID.fullmatch(app_id) is None:
        return None
    return f"{tenant_url.rstrip('/')}/sense/app/{app_id.lower()}"


@dataclass(frozen=True)
class AlertMessage:
    """One alert, as sent: ``title`` is the subject line, ``body`` plain text.

    ``alert_id`` is its outbox row's id ("" for a message that has none, such as a test's).
    """

    kind: str
    app_id: str
    app_name: str | None
    root_app_id: str | None
    root_app_name: str | None
    reason: str
    app_link: str | None
    alert_id: str = ""

    @property
    def title(self) -> str:
        """``reload-chain: Reload failed: Accounts Payable`` (the id when the name is unknown)."""
        subject = self.app_name or self.app_id
        label = KIND_LABELS.get(self.kind, self.kind)
        return one_line(f"reload-chain: {label}: {subject}".removesuffix(": "))

    @property
    def body(self) -> str:
        """The kind, the app (name and id), the chain's root, the reason, the app's link and
        the alert's id."""
        lines = [f"{KIND_LABELS.get(self.kind, self.kind)}."]
        if self.app_id:
            lines.append(f"App: {_named(self.app_name, self.app_id)}")
        if self.root_app_id:
            lines.append(f"Chain root: {_named(self.root_app_name, self.root_app_id)}")
        lines.append(f"Reason: {one_line(self.reason)}")
        if self.app_link:
            lines.append(f"Open the app: {self.app_link}")
        if self.alert_id:
            lines.append(f"Alert id: {one_line(self.alert_id)}")
        return "\n".join(lines)


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(text.split())


def _named(name: str | None, app_id: str) -> str:
    return f"{one_line(name)} ({app_id})" if name else f"{app_id} (name unknown)"
