"""Container image references checked against the OCI distribution reference grammar.

The grammar is the one containerd and the kubelet apply (github.com/distribution/reference,
`ParseNormalizedNamed`): lowercase repository path components, an optional registry
host and port, a tag of at most 128 word characters, a digest. The `docker-image-py`
package ports that grammar; an image the API server would accept but no runtime
can pull (`Ubuntu`, `repo:tag:tag`, a space) is caught here instead of as a pod
stuck in InvalidImageName.
"""

from __future__ import annotations

from docker_image import reference


def problem(image: str) -> str | None:
    """Why `image` is not a valid reference, or None."""
    if "{{" in image:
        return None  # an Argo template such as {{workflow.parameters.image}}: checked when it is resolved
    try:
        reference.Reference.parse_normalized_named(image)
    except reference.InvalidReference as exc:
        return str(exc) or type(exc).__name__
    return None
