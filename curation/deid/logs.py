"""Logging that cannot carry identifiers: every record passes a redacting filter.

pydicom's warnings quote raw element values (names, IDs); third-party messages are therefore
scrubbed of anything that looks like an identifier before they reach a handler.
"""

from __future__ import annotations

import logging
import re
import warnings

# 18-digit resident ID (last may be X), mainland mobile numbers, long digit runs (MRNs, phones),
# DICOM person names (A^B), quoted values in pydicom messages.
_PATTERNS = [
    re.compile(r"\b\d{17}[\dXx]\b"),
    re.compile(r"\b1[3-9]\d{9}\b"),
    re.compile(r"\b\d{6,}\b"),
    re.compile(r"[^\s'\"^]+\^[^\s'\"]*"),
    re.compile(r"'[^']{1,64}'"),
    re.compile(r"[\u4e00-\u9fff]{2,4}"),
]


def redact(text: str) -> str:
    for pat in _PATTERNS:
        text = pat.sub("[REDACTED]", text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


def install_redacting_handler(*, level: int = logging.INFO) -> logging.Handler:
    """Route logging and Python warnings through one redacting stderr handler."""
    root = logging.getLogger()
    for h in root.handlers:
        if any(isinstance(f, RedactingFilter) for f in h.filters):
            return h
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    return handler
