"""Credentials out of every log line and error message: one function, used by the logger and by every error.

Operators put tokens in repo and tracking URLs (`https://x-access-token:…@github.com/…`, `?private_token=…`),
and git repeats the URL it was given in its own error messages. Anything that may carry such a URL goes through
`redact` before it is written anywhere a person or a log pipeline reads it: the JSON log formatter applies it to
every line it writes, and errors that quote a URL or git's output apply it when they are built.
"""

from __future__ import annotations

import re

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]+@")
_QUERY = re.compile(
    r"(?P<key>[?&;](?:access_token|private_token|token|password|passwd|secret|key|sig)=)[^&\s'\"#]+", re.I
)
_HEADER = re.compile(
    r"(?P<key>\b(?:authorization|private-token|x-gitlab-token)\s*[:=]\s*(?:(?:basic|bearer|token)\s+)?)[^\s'\"]+", re.I
)


def redact(text: str) -> str:
    """`text` with the user-info of URLs, secret-looking query parameters and auth headers masked."""
    if "@" not in text and "=" not in text and ":" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m['key']}{MASK}", text)
    return _HEADER.sub(lambda m: f"{m['key']}{MASK}", text)
