"""Which registries a verification may pull from: an image answer names where the engine fetches
code whose RUN steps it then runs, so a verification builds only from images the operator trusts.

By default those are the registries of the template's and the preset's default images, each
limited to the namespace of that image (docker.io/library for golang:1.27); the operator adds
others with `--verify-registry REGISTRY[/PREFIX]` (a prefix also limits the repository, e.g.
registry.example.com/mirror). Names follow Docker's reference rules
(distribution/reference): a first component with a dot or a port, or `localhost`, is a registry;
anything else is on docker.io, where a one-component name is under library/.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from generator.errors import UsageError

# The questions whose answers are images a verification pulls.
IMAGE_QUESTIONS = ("builder_image", "runtime_image")
DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "docker.io"}


def locate(image: str) -> tuple[str, str]:
    """(registry, repository) of an image reference: `golang:1.27` is (docker.io, library/golang)."""
    name = image.split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry = first.lower()
        return (DOCKER_HUB if registry in _HUB_ALIASES else registry), rest
    return DOCKER_HUB, name if slash else f"library/{name}"


@dataclass(frozen=True)
class Registry:
    """A registry, and optionally the repository prefix under it, that verifications may pull from."""

    host: str
    prefix: str = ""

    @classmethod
    def parse(cls, value: str) -> Registry:
        """`--verify-registry`: REGISTRY or REGISTRY/PREFIX (no scheme, tag or digest)."""
        text = value.strip().rstrip("/")
        host, _, prefix = text.partition("/")
        if not host or "://" in value or "@" in text or (prefix and not all(prefix.split("/"))):
            raise UsageError(
                f"--verify-registry {value!r} must be a registry, optionally with a repository prefix: "
                "registry.example.com or registry.example.com/mirror"
            )
        host = host.lower()
        return cls(DOCKER_HUB if host in _HUB_ALIASES else host, prefix)

    def allows(self, image: str) -> bool:
        registry, repository = locate(image)
        if registry != self.host:
            return False
        return not self.prefix or repository == self.prefix or repository.startswith(self.prefix + "/")

    def __str__(self) -> str:
        return f"{self.host}/{self.prefix}" if self.prefix else self.host


def defaults(*answer_sets: Mapping[str, Any]) -> list[Registry]:
    """The registries of the image answers in `answer_sets` (the template's and the preset's
    defaults), each with the first component of the image's repository as its prefix: anyone may
    push to Docker Hub, so golang:1.27 trusts docker.io/library, not docker.io."""
    found = []
    for answers in answer_sets:
        for name in IMAGE_QUESTIONS:
            image = answers.get(name)
            if isinstance(image, str) and image and image != "scratch":
                registry, repository = locate(image)
                found.append(Registry(registry, repository.split("/")[0]))
    return found


def refused_image(answers: Mapping[str, Any], allowed: Iterable[Registry]) -> tuple[str, str] | None:
    """(question, message) for the first image answer from no allowed registry, else None."""
    allowed = list(allowed)
    for name in IMAGE_QUESTIONS:
        image = answers.get(name)
        if not isinstance(image, str) or not image or image == "scratch":
            continue
        if not any(registry.allows(image) for registry in allowed):
            listed = ", ".join(sorted({str(registry) for registry in allowed})) or "none"
            return name, (
                f"{image} is not from a registry this server verifies from ({listed}); "
                "its operator can add one with --verify-registry"
            )
    return None
