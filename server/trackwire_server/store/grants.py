"""Permission grants on experiments and registered models, and the lookups the access
checks need (a run's experiment, a name's id)."""

from __future__ import annotations

from dataclasses import dataclass

from trackwire_server.errors import NotFound
from trackwire_server.store.context import StoreContext
from trackwire_server.store.identities import TEAM_PRINCIPAL, USER_PRINCIPAL

EXPERIMENT_RESOURCE = 1
MODEL_RESOURCE = 2
# PermissionLevel's numbers (identity.proto).
NONE, READ, USE, EDIT, MANAGE = 1, 2, 3, 4, 5
PRINCIPAL_KINDS = {USER_PRINCIPAL: "user", TEAM_PRINCIPAL: "team"}


def insert_creator_grant(t, resource_type: int, resource_id: int, user_id: int, level: int):
    """Gives the creator of a new resource `level` on it, inside the creating unit of
    work (a new resource has no grants yet)."""
    t.PermissionGrant.insert(
        resource_type=resource_type,
        resource_id=resource_id,
        principal_type=USER_PRINCIPAL,
        principal_id=user_id,
        level=level,
    ).execute()


def delete_resource_grants(t, resource_type: int, resource_id: int) -> None:
    """Removes every grant on a resource, inside the unit of work that removes it for good
    (its id may be given to the next one, on SQLite)."""
    G = t.PermissionGrant
    G.delete().where((G.resource_type == resource_type) & (G.resource_id == resource_id)).execute()


def _upsert_grant(t, resource_type, resource_id, principal_type, principal_id, level) -> None:
    G = t.PermissionGrant
    key = (
        (G.resource_type == resource_type)
        & (G.resource_id == resource_id)
        & (G.principal_type == principal_type)
        & (G.principal_id == principal_id)
    )
    if G.update(level=level).where(key).execute() == 0 and not G.select().where(key).exists():
        G.insert(
            resource_type=resource_type,
            resource_id=resource_id,
            principal_type=principal_type,
            principal_id=principal_id,
            level=level,
        ).execute()


class Grants:
    """Who may do what with which experiment or registered model, in one database."""

    def __init__(self, ctx: StoreContext):
        self.ctx = ctx
        self.t = ctx.t

    # -- the resources a request names ---------------------------------------------

    def experiment_of_run(self, run_id: str) -> int | None:
        R = self.t.Run
        return self.ctx.read(lambda: R.select(R.experiment_id).where(R.run_id == run_id).scalar())

    def experiment_exists(self, experiment_id: int) -> bool:
        E = self.t.Experiment
        return self.ctx.read(lambda: E.select().where(E.experiment_id == experiment_id).exists())

    def experiment_id(self, name: str) -> int | None:
        E = self.t.Experiment
        return self.ctx.read(lambda: E.select(E.experiment_id).where(E.name == name).scalar())

    def model_id(self, name: str) -> int | None:
        M = self.t.RegisteredModel
        return self.ctx.read(lambda: M.select(M.model_id).where(M.name == name).scalar())

    # -- levels --------------------------------------------------------------------

    def explicit_levels(
        self, user_id: int, team_ids: tuple[int, ...], resource_type: int, resource_id=None
    ) -> dict[int, int]:
        """{resource id: the highest level granted to the user or one of their teams}
        for every resource of `resource_type` (or only `resource_id`) they have a grant on."""
        G = self.t.PermissionGrant
        who = (G.principal_type == USER_PRINCIPAL) & (G.principal_id == user_id)
        if team_ids:
            who = who | ((G.principal_type == TEAM_PRINCIPAL) & G.principal_id.in_(list(team_ids)))
        where = (G.resource_type == resource_type) & who
        if resource_id is not None:
            where = where & (G.resource_id == resource_id)

        def work():
            levels: dict[int, int] = {}
            for rid, level in G.select(G.resource_id, G.level).where(where).tuples():
                levels[rid] = max(level, levels.get(rid, 0))
            return levels

        return self.ctx.read(work)

    # -- managing grants -----------------------------------------------------------

    def _principal_id(self, principal_type: int, name: str) -> int:
        t = self.t
        if principal_type == USER_PRINCIPAL:
            row = t.User.get_or_none(t.User.name == name)
        else:
            row = t.Team.get_or_none(t.Team.name == name)
        if row is None:
            kind = PRINCIPAL_KINDS[principal_type]
            raise NotFound(f"principal.{kind}_name: {kind} '{name}' does not exist")
        return row.user_id if principal_type == USER_PRINCIPAL else row.team_id

    def set_grant(
        self, resource_type: int, resource_id: int, principal_type: int, name: str, level: int
    ) -> None:
        def work():
            principal_id = self._principal_id(principal_type, name)
            _upsert_grant(self.t, resource_type, resource_id, principal_type, principal_id, level)

        self.ctx.write(work)

    def delete_grant(self, resource_type: int, resource_id: int, principal_type: int, name: str):
        G = self.t.PermissionGrant

        def work():
            principal_id = self._principal_id(principal_type, name)
            deleted = (
                G.delete()
                .where(
                    (G.resource_type == resource_type)
                    & (G.resource_id == resource_id)
                    & (G.principal_type == principal_type)
                    & (G.principal_id == principal_id)
                )
                .execute()
            )
            if not deleted:
                kind = PRINCIPAL_KINDS[principal_type]
                raise NotFound(f"principal: {kind} '{name}' has no grant on this resource")

        self.ctx.write(work)

    def list_grants(self, resource_type: int, resource_id: int) -> list[tuple[int, str, int]]:
        """[(principal type, principal name, level)]: users first, then teams, by name."""
        t = self.t
        G = t.PermissionGrant

        def work():
            where = (G.resource_type == resource_type) & (G.resource_id == resource_id)
            users = (
                G.select(t.User.name, G.level)
                .join(t.User, on=(t.User.user_id == G.principal_id))
                .where(where & (G.principal_type == USER_PRINCIPAL))
                .order_by(t.User.name)
                .tuples()
            )
            teams = (
                G.select(t.Team.name, G.level)
                .join(t.Team, on=(t.Team.team_id == G.principal_id))
                .where(where & (G.principal_type == TEAM_PRINCIPAL))
                .order_by(t.Team.name)
                .tuples()
            )
            return [(USER_PRINCIPAL, n, lv) for n, lv in users] + [
                (TEAM_PRINCIPAL, n, lv) for n, lv in teams
            ]

        return self.ctx.read(work)


@dataclass(frozen=True)
class Visibility:
    """Which resources of one kind a caller may read: all but `hidden`, or, when `only`
    is set, only those. Searches and lists apply it in their SQL, so that pages, page
    tokens and counts hold only what the caller may read."""

    only: frozenset[int] | None = None
    hidden: frozenset[int] = frozenset()

    def allows(self, resource_id: int) -> bool:
        if self.only is not None:
            return resource_id in self.only
        return resource_id not in self.hidden

    def condition(self, column):
        """A WHERE condition on `column` (the resource id), or True."""
        if self.only is not None:
            return column.in_(sorted(self.only)) if self.only else (column != column)
        return column.not_in(sorted(self.hidden)) if self.hidden else True
