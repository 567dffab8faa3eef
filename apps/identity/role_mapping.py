"""IdP groups → portal roles, from ``PORTAL_ROLE_GROUPS`` (``group=role,group=role``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from apps.identity.roles import ALL_ROLES


def parse_role_groups(text: str) -> dict[str, str]:
    """Parse the mapping; an unknown role or a malformed pair is a configuration error.

    A group may appear once; several groups may map to the same role.
    """
    mapping: dict[str, str] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        group, sep, role = item.rpartition("=")
        group, role = group.strip(), role.strip()
        if not sep or not group or not role:
            raise ImproperlyConfigured(
                f"PORTAL_ROLE_GROUPS: {item!r} is not of the form group=role."
            )
        if role not in ALL_ROLES:
            raise ImproperlyConfigured(
                f"PORTAL_ROLE_GROUPS: {item!r} names unknown role {role!r}; "
                f"roles are {', '.join(sorted(ALL_ROLES))}."
            )
        if group in mapping and mapping[group] != role:
            raise ImproperlyConfigured(f"PORTAL_ROLE_GROUPS: group {group!r} is mapped twice.")
        mapping[group] = role
    return mapping


def roles_for_groups(groups: Iterable[str], mapping: dict[str, str]) -> list[str]:
    """The sorted, de-duplicated roles the given groups grant."""
    return sorted({mapping[group] for group in groups if group in mapping})


def groups_granting(mapping: dict[str, str]) -> dict[str, list[str]]:
    """role → the groups that grant it (for the no-access page)."""
    by_role: dict[str, list[str]] = {}
    for group, role in mapping.items():
        by_role.setdefault(role, []).append(group)
    return by_role


def groups_from_claims(claims: Iterable[dict[str, Any]]) -> list[str]:
    """The groups claim (``OIDC_GROUPS_CLAIM``) from the ID token and/or userinfo.

    IdPs send it as a list, or (some) as one comma- or space-separated string.
    """
    from django.conf import settings

    name = settings.OIDC_GROUPS_CLAIM
    groups: set[str] = set()
    for source in claims:
        value = (source or {}).get(name)
        if isinstance(value, str):
            groups.update(part for part in value.replace(",", " ").split() if part)
        elif isinstance(value, list | tuple):
            groups.update(str(item) for item in value if item)
    return sorted(groups)


def groups_claim_present(claims: Iterable[dict[str, Any] | None]) -> bool:
    """Whether any source carries the groups claim at all (an empty list counts as present).

    An IdP that releases groups only for a scope the portal did not ask for
    (Okta's org server and ``groups``) sends no claim: that is a configuration
    problem, not "this person has no groups".
    """
    from django.conf import settings

    return any(settings.OIDC_GROUPS_CLAIM in (source or {}) for source in claims)
