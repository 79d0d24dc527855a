"""Container image references checked against the OCI distribution reference grammar.

The grammar is the one containerd and the kubelet apply: `ParseNormalizedNamed`
of github.com/distribution/reference (regexp.go, normalize.go), transcribed
here rule by rule — lowercase repository path components joined by `.`, `_`,
`__` or dashes; an optional registry host (DNS name or bracketed IPv6) and
port; a tag of at most 128 word characters; a digest whose hex length fits its
algorithm; at most 255 characters of name; never a bare 64-hex identifier. An
image the API server accepts but no runtime can pull (`Ubuntu`, `repo:tag:tag`,
a space) is caught here instead of as a pod stuck in InvalidImageName.

Written with the standard `re` module rather than the `docker-image-py` port:
that package compiles its patterns with the third-party `regex` module at import,
0.3 s added to every `mlcp validate` and plan.
"""

from __future__ import annotations

import re

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|\[[a-fA-F0-9:]+\])"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$", re.ASCII)
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")
NAME_TOTAL_LENGTH_MAX = 255
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
"""The algorithms go-digest registers, with their hex lengths (lowercase hex only)."""


def _remote_name(name: str) -> str:
    """The repository path without its registry, as distribution's splitDockerDomain finds it."""
    first, slash, rest = name.partition("/")
    if not slash or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        return name
    return rest


def problem(image: str) -> str | None:
    """Why `image` is not a valid reference, or None.

    A template such as `{{workflow.parameters.image}}` is not one: the caller that knows Argo substitutes it (a
    pipeline's container) leaves it to be checked when it is resolved; a Notebook's or a TrainingJob's image is
    sent as written.
    """
    if "{{" in image:
        return "`{{...}}` is substituted only in a pipeline's container steps: write the reference out"
    if _IDENTIFIER.fullmatch(image):
        return "a 64-character hexadecimal string is an image ID, not a repository name"
    match = REFERENCE.fullmatch(image)
    if match is None:
        if REFERENCE.fullmatch(image.lower()):
            return "the repository name must be lowercase"
        return "invalid reference format: [registry[:port]/]path[:tag][@digest]"
    name, _tag, digest = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        return f"the repository name must not be longer than {NAME_TOTAL_LENGTH_MAX} characters"
    if _remote_name(name).lower() != _remote_name(name):
        return "the repository name must be lowercase"
    if digest is not None:
        algorithm, _, hex_part = digest.partition(":")
        if DIGEST_HEX_LENGTHS.get(algorithm) != len(hex_part) or hex_part.lower() != hex_part:
            return f"digest {digest!r} is not a lowercase sha256, sha384 or sha512 hex digest"
    return None
