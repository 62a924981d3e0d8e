"""Staff accounts of the demo, each in a group whose permissions fit their job."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission, User

PASSWORD = "demo"
_ALL = ("add", "change", "delete", "view")


@dataclass(frozen=True)
class Role:
    group: str
    # "model": actions, e.g. {"order": ("view",)}
    permissions: dict[str, tuple[str, ...]]


ROLES = {
    "alice": Role(
        "Store managers",
        dict.fromkeys(("customer", "category", "product", "order", "orderline"), _ALL),
    ),
    "bob": Role(
        "Catalog editors",
        {"category": _ALL, "product": ("add", "change", "view")},
    ),
    "carol": Role("Accountants", {"order": ("view",)}),
    "dave": Role(
        "Customer support",
        {
            "customer": ("add", "change", "view"),
            "order": ("change", "view"),
            "orderline": _ALL,
            "product": ("view",),
        },
    ),
    "erin": Role(
        "Warehouse",
        {"product": ("change", "view"), "order": ("change", "view"), "orderline": ("view",)},
    ),
}


def ensure_staff() -> dict[str, User]:
    """Create or update the staff users and their groups; returns them by username."""
    # One hash for all: hashing is deliberately slow, and the password is the same.
    password = make_password(PASSWORD)
    users = {}
    for username, role in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role.group)
        group.permissions.set(_permissions(role))
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={
                "is_staff": True,
                "email": f"{username}@shop.example.com",
                "first_name": username.capitalize(),
                "password": password,
            },
        )
        user.groups.set([group])
        users[username] = user
    return users


def _permissions(role: Role) -> list[Permission]:
    codenames = [
        f"{action}_{model}" for model, actions in role.permissions.items() for action in actions
    ]
    return list(Permission.objects.filter(content_type__app_label="shop", codename__in=codenames))


def describe() -> str:
    return ", ".join(f"{username} ({role.group})" for username, role in ROLES.items())
