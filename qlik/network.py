"""Network failures that a setting causes, told apart from those that pass.

A host name that does not resolve and a TLS certificate this machine refuses are, on a setup
that never worked, a typo in ``tenant_url`` or a missing certificate authority: retrying every
sweep forever would hide them. Both say which host, and what to change.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator


def unreachable_reason(error: BaseException, host: str) -> str | None:
    """What to fix when ``error`` (an httpx connect error) means the tenant cannot be reached
    as configured; None for a failure that may pass (refused, reset, timeout)."""
    for cause in _chain(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"cannot reach {host}: its TLS certificate was refused "
                f"({cause.verify_message or cause}); check tenant_url, and if a proxy inspects "
                "TLS, put its certificate authority in this machine's certificate store "
                "(reload-chain trusts the operating system's store)"
            )
        if isinstance(cause, socket.gaierror):
            return (
                f"cannot reach {host}: the name does not resolve ({cause.strerror or cause}); "
                "check tenant_url for a typo (the tenant's address, as the browser shows it, "
                "without a path) and this machine's DNS and proxy settings (HTTPS_PROXY)"
            )
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
