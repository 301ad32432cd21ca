"""What each RPC needs: one table, keyed by the full method name.

Each entry says which resource the request names (an experiment, a run, a registered
model, by which field) and the level it needs there, or that the method needs no token
(`OPEN`), any signed-in user (`SIGNED_IN`), an admin (`ADMIN`), or lists only what the
caller may read (`FILTERED`, applied by the servicer in its SQL). A method missing from
`RULES` is refused (`AuthInterceptor`), whether or not authentication is on, and a test
checks that every method of every service has an entry.

A resource the caller may not read is NOT_FOUND with the message a missing one gets, so
a guessed id or name is never confirmed; one they may read but not change is
PERMISSION_DENIED.
"""

from __future__ import annotations

from dataclasses import dataclass

from trackwire_server.auth.access import Access, Caller
from trackwire_server.errors import InvalidArgument, NotFound, PermissionDenied
from trackwire_server.store.grants import (
    EDIT,
    EXPERIMENT_RESOURCE,
    MANAGE,
    MODEL_RESOURCE,
    READ,
    USE,
)
from trackwire_server.store.validation import check_run_id, parse_experiment_id

LEVEL_NAMES = {0: "no access", 1: "NONE", READ: "READ", USE: "USE", EDIT: "EDIT", MANAGE: "MANAGE"}
RUNS_SCHEME = "runs:/"


@dataclass
class Check:
    """One call being checked: who, what, and the request (or one streamed message)."""

    access: Access
    caller: Caller
    method: str
    request: object


def field_values(message, path: str) -> list:
    """The values at a dotted path; `[]` after a name walks every element of a repeated
    field (`requests[].experiment_id`)."""
    values = [message]
    for part in path.split("."):
        repeated = part.endswith("[]")
        name = part[:-2] if repeated else part
        nxt = []
        for value in values:
            if (
                not repeated
                and hasattr(value, "HasField")
                and _is_message_field(value, name)
                and not value.HasField(name)
            ):
                continue
            got = getattr(value, name)
            nxt.extend(got if repeated else [got])
        values = nxt
    return values


def _is_message_field(message, name: str) -> bool:
    descriptor = getattr(message, "DESCRIPTOR", None)
    if descriptor is None:
        # trackwire_protocol.wire.UploadChunk (UploadArtifact's requests, decoded without
        # protobuf): its one message field is `header`.
        return name == "header"
    field = descriptor.fields_by_name.get(name)
    return field is not None and field.message_type is not None and not _is_repeated(field)


def _is_repeated(field) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf 6
        return field.is_repeated
    return field.label == field.LABEL_REPEATED


def _need(check: Check, kind: int, resource_id, level: int, missing: str, what: str):
    """`level` on the resource, or NOT_FOUND (`missing`) when the caller may not read it or
    it does not exist (resource_id None): the same answer after the same lookups, so that
    neither its message nor its timing tells the two apart."""
    have = check.access.level(check.caller, kind, -1 if resource_id is None else resource_id)
    if resource_id is None:
        raise NotFound(missing)
    if have < READ:
        raise NotFound(missing)
    if have < level:
        raise PermissionDenied(
            f"{check.caller.name} has {LEVEL_NAMES[have]} on {what}; "
            f"{check.method.rsplit('/', 1)[-1]} needs {LEVEL_NAMES[level]}"
        )


class Rule:
    """Checks one call; may stamp the request (the caller's name as its user_id)."""

    # Whether a streamed request is checked message by message (else once per call).
    per_message = False
    # Whether the call needs no token at all.
    open = False

    def check(self, check: Check) -> None:
        raise NotImplementedError


class Open(Rule):
    """No token needed (health checks, reflection, signing in)."""

    open = True

    def check(self, check: Check) -> None:
        pass


class SignedIn(Rule):
    """Any valid token."""

    def check(self, check: Check) -> None:
        pass


class Filtered(SignedIn):
    """Any valid token; the servicer lists only what the caller may read."""


class Admin(Rule):
    def check(self, check: Check) -> None:
        if not check.caller.admin:
            raise PermissionDenied(f"{check.method.rsplit('/', 1)[-1]} needs an admin")


@dataclass
class SelfOrAdmin(Rule):
    """The user named in `field` is the caller (an empty field means the caller), or the
    caller is an admin; `admin_fields`, when set in the request, need an admin."""

    field: str
    admin_fields: tuple[str, ...] = ()

    def check(self, check: Check) -> None:
        if check.caller.admin:
            return
        (name,) = field_values(check.request, self.field)
        if name and name != check.caller.name:
            raise PermissionDenied(f"{self.field}: only an admin may act for another user")
        for f in self.admin_fields:
            if check.request.HasField(f):
                raise PermissionDenied(f"{f}: only an admin may change it")


@dataclass
class TokenOwnerOrAdmin(Rule):
    field: str

    def check(self, check: Check) -> None:
        if check.caller.admin:
            return
        (token_id,) = field_values(check.request, self.field)
        if check.access.store.identities.token_owner(token_id) != check.caller.name:
            raise NotFound(f"{self.field}: token {token_id} does not exist")


@dataclass
class TeamMemberOrAdmin(Rule):
    field: str

    def check(self, check: Check) -> None:
        if check.caller.admin:
            return
        (name,) = field_values(check.request, self.field)
        if not check.access.store.identities.is_member(name, check.caller.user_id):
            raise NotFound(f"{self.field}: team '{name}' does not exist")


@dataclass
class OnExperiment(Rule):
    """The experiment whose id is in `field` (every one, for a repeated path);
    `optional`: an empty id names no experiment (BatchCreateRuns' requests, whose empty
    experiment_id means the batch's)."""

    field: str
    level: int
    optional: bool = False  # an empty id names no experiment

    def check(self, check: Check) -> None:
        for value in field_values(check.request, self.field):
            if not value and self.optional:
                continue
            eid = parse_experiment_id(self.field, value)
            missing = f"{self.field}: experiment {value} does not exist"
            found = eid if check.access.store.grants.experiment_exists(eid) else None
            _need(check, EXPERIMENT_RESOURCE, found, self.level, missing, f"experiment {eid}")


@dataclass
class OnExperimentNamed(Rule):
    field: str
    level: int

    def check(self, check: Check) -> None:
        (name,) = field_values(check.request, self.field)
        if not name:
            raise InvalidArgument(f"{self.field} must not be empty")
        missing = f"experiment named '{name}' does not exist"
        eid = check.access.store.grants.experiment_id(name)
        _need(check, EXPERIMENT_RESOURCE, eid, self.level, missing, f"experiment '{name}'")


@dataclass
class OnRun(Rule):
    """The experiment of the run whose id is in `field` (every one, for a repeated
    path such as `run_ids[]`, named `run_ids[i]` in errors); `optional`: an empty id
    names no run."""

    field: str
    level: int
    optional: bool = False
    per_message: bool = False

    def check(self, check: Check) -> None:
        values = field_values(check.request, self.field)
        for i, run_id in enumerate(values):
            name = f"{self.field[:-2]}[{i}]" if self.field.endswith("[]") else self.field
            if not run_id:
                if self.optional:
                    continue
                raise InvalidArgument(f"{name} must not be empty")
            need_run(check, name, run_id, self.level)


def need_run(check: Check, field: str, run_id: str, level: int) -> None:
    check_run_id(field, run_id)
    missing = f"{field}: run {run_id} does not exist"
    eid = check.access.run_experiment(run_id)
    _need(check, EXPERIMENT_RESOURCE, eid, level, missing, f"the experiment of run {run_id}")


class OnVersionSource(Rule):
    """A model version's run (its `run_id`, or the run of a `runs:/<id>/...` source):
    registering a version needs READ on it."""

    def check(self, check: Check) -> None:
        request = check.request
        if request.run_id:
            need_run(check, "run_id", request.run_id, READ)
        elif request.source.startswith(RUNS_SCHEME):
            run_id = request.source[len(RUNS_SCHEME) :].partition("/")[0]
            need_run(check, "source", run_id, READ)
        elif request.source:
            raise InvalidArgument(
                "source must be runs:/<run_id>/<path> or lie under the artifacts of run_id"
            )


@dataclass
class OnModel(Rule):
    field: str
    level: int

    def check(self, check: Check) -> None:
        (name,) = field_values(check.request, self.field)
        if not name:
            raise InvalidArgument(f"{self.field} must not be empty")
        need_model(check, self.field, name, self.level)


def need_model(check: Check, field: str, name: str, level: int) -> int:
    missing = f"{field}: registered model '{name}' does not exist"
    model_id = check.access.store.grants.model_id(name)
    _need(check, MODEL_RESOURCE, model_id, level, missing, f"registered model '{name}'")
    return model_id


@dataclass
class OnResource(Rule):
    """A `ResourceRef` (an experiment id or a registered model name) at `field`."""

    field: str
    level: int

    def check(self, check: Check) -> None:
        (ref,) = field_values(check.request, self.field) or [None]
        kind = ref.WhichOneof("resource") if ref is not None else None
        if kind == "experiment_id":
            OnExperiment(f"{self.field}.experiment_id", self.level).check(check)
        elif kind == "registered_model_name":
            OnModel(f"{self.field}.registered_model_name", self.level).check(check)
        else:
            raise InvalidArgument(
                f"{self.field} must name an experiment_id or a registered_model_name"
            )


@dataclass
class StampUser(Rule):
    """Sets the request's user fields to the caller's name: with authentication on, a
    run's and a model version's user is who made them, not what the client claims. An
    admin's stated user is kept (`trackwire import mlflow` keeps each run's author); an
    admin who states none is the user."""

    paths: tuple[str, ...]

    def check(self, check: Check) -> None:
        for path in self.paths:
            parent_path, _, name = path.rpartition(".")
            parents = field_values(check.request, parent_path) if parent_path else [check.request]
            for parent in parents:
                if not (check.caller.admin and getattr(parent, name)):
                    setattr(parent, name, check.caller.name)


@dataclass
class AllOf(Rule):
    rules: tuple[Rule, ...]

    def __post_init__(self):
        self.per_message = any(r.per_message for r in self.rules)

    def check(self, check: Check) -> None:
        for rule in self.rules:
            rule.check(check)


def all_of(*rules: Rule) -> AllOf:
    return AllOf(rules)
