"""Qlik Cloud timestamps: parse every precision the tenant sends, format what it accepts."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: str) -> datetime:
    """Parse ``...T11:31:39Z``, ``.123Z``, ``.123456Z`` (or longer) into an aware UTC datetime.

    Raises ``ValueError`` naming the value when it is not an ISO 8601 timestamp.
    """
    text = value.strip()
    # Python accepts at most 6 fractional digits; some services send nanoseconds.
    text = _FRACTION.sub(lambda match: "." + match.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """Format as the tenant writes times: UTC (naive means UTC), milliseconds, ``Z`` suffix."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
