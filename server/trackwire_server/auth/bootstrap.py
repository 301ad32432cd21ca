"""The first admin, and users made by the operator from the command line (`trackwire
users create`), straight in the database: how a server with authentication gets its
first token."""

from __future__ import annotations

from trackwire_server.auth import credentials
from trackwire_server.errors import AlreadyExists
from trackwire_server.store import Store

FIRST_ADMIN = "admin"


def create_user_with_token(
    store: Store,
    name: str,
    *,
    admin: bool,
    service_account: bool,
    password: str | None = None,
    description: str = "created by `trackwire users create`",
) -> str:
    """Creates a user and an API token for them; returns the token's secret (shown
    once: only its hash is kept)."""
    password_hash = credentials.hash_password(password) if password else None
    store.identities.create_user(name, password_hash, admin, service_account)
    secret, digest = credentials.new_token()
    store.identities.create_token(
        name, digest, credentials.display_prefix(secret), description, None
    )
    return secret


def create_first_admin(store: Store) -> str | None:
    """On a database without users: an admin named `admin` and a token for them, whose
    secret is returned (the server prints it once). None when there are users already
    (or another server made the first admin at the same moment)."""
    if store.identities.count_users():
        return None
    try:
        return create_user_with_token(
            store,
            FIRST_ADMIN,
            admin=True,
            service_account=False,
            description="first admin token, printed at the server's first start",
        )
    except AlreadyExists:
        return None
