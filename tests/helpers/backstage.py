"""Backstage's entity rules (@backstage/catalog-model: KubernetesValidatorFunctions, the
Component kind's schema, parseEntityRef), to hold catalog-info.yaml to what its catalog imports."""

from __future__ import annotations

import re
from typing import Any

_DNS_LABEL = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


_OBJECT_NAME = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def _backstage_name(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 63 and bool(_OBJECT_NAME.fullmatch(value))


def _dns_label(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 63 and bool(_DNS_LABEL.fullmatch(value))


def _prefixed(value: object, is_suffix: Any) -> bool:
    """Backstage's <suffix> or <dns-subdomain>/<suffix> (apiVersion, annotation keys)."""
    if not isinstance(value, str):
        return False
    parts = value.split("/")
    if len(parts) == 1:
        return bool(is_suffix(parts[0]))
    subdomain_ok = len(parts[0]) <= 253 and all(_dns_label(label) for label in parts[0].split("."))
    return len(parts) == 2 and subdomain_ok and bool(is_suffix(parts[1]))


def _owner_reference(value: object) -> bool:
    """[kind:][namespace/]name, split as Backstage's parseEntityRef splits it."""
    if not isinstance(value, str):
        return False
    colon, slash = value.find(":"), value.find("/")
    if slash != -1 and slash < colon:
        colon = -1
    kind = value[:colon] if colon != -1 else None
    namespace = value[colon + 1 : slash] if slash != -1 else None
    name = value[max(colon + 1, slash + 1) :]
    return (
        (kind is None or kind.lower() in {"group", "user"})
        and (namespace is None or _dns_label(namespace))
        and _backstage_name(name)
    )


def backstage_problems(entity: Any) -> list[str]:
    """Why Backstage's catalog would refuse `entity` as a Component, or nothing."""
    if not isinstance(entity, dict):
        return ["not a mapping"]
    meta, spec = entity.get("metadata"), entity.get("spec")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return ["metadata and spec must be mappings"]
    problems = []
    if not _prefixed(entity.get("apiVersion"), lambda s: re.fullmatch(r"[a-zA-Z0-9]{1,63}", s)):
        problems.append(f"apiVersion {entity.get('apiVersion')!r}")
    if entity.get("apiVersion") not in {"backstage.io/v1alpha1", "backstage.io/v1beta1"}:
        problems.append("a Component is backstage.io/v1alpha1 or v1beta1")
    if entity.get("kind") != "Component":
        problems.append(f"kind {entity.get('kind')!r}")
    return problems + _metadata_problems(meta) + _spec_problems(spec)


def _metadata_problems(meta: dict[str, Any]) -> list[str]:
    problems = [] if _backstage_name(meta.get("name")) else [f"metadata.name {meta.get('name')!r}"]
    if "description" in meta and not isinstance(meta["description"], str):
        problems.append("metadata.description must be a string")
    problems += [f"tag {tag!r}" for tag in meta.get("tags", []) if not _dns_label(tag)]
    for key, value in meta.get("annotations", {}).items():
        if not _prefixed(key, _backstage_name) or not isinstance(value, str):
            problems.append(f"annotation {key!r}: {value!r}")
    return problems


def _spec_problems(spec: dict[str, Any]) -> list[str]:
    """A Component's schema requires type, lifecycle and owner, non-empty strings."""
    problems = []
    for field_name in ("type", "lifecycle", "owner"):
        value = spec.get(field_name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"spec.{field_name} is required, a non-empty string")
    if not _owner_reference(spec.get("owner")):
        problems.append(f"spec.owner {spec.get('owner')!r} is not a reference to a group or user")
    return problems
