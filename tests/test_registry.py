"""The model registry through the real server, on every configured database: registered
models, versions, stages, tags, aliases, search, and every bad input with its status."""

from __future__ import annotations

import pathlib

import pytest

import trackwire
from trackwire.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError


@pytest.fixture
def run(client):
    """A finished run holding a model folder ("model/") and a file."""
    experiment_id = client.create_experiment("registry")
    run = client.create_run(experiment_id)
    client.log_bytes(run.info.run_id, b"weights", "model/model.pkl")
    client.log_bytes(run.info.run_id, b"name: m", "model/MLmodel")
    client.log_bytes(run.info.run_id, b"other", "notes.txt")
    return run


def register(client, name: str, run, path: str = "model", **kwargs):
    return client.create_model_version(name, f"runs:/{run.info.run_id}/{path}", **kwargs)


# -- registered models ------------------------------------------------------------------


def test_create_get_update_and_tags(client):
    created = client.create_registered_model("Churn", tags={"team": "growth"}, description="d")
    assert created.name == "Churn" and created.description == "d"
    assert created.tags == {"team": "growth"}
    assert created.latest_versions == [] and created.aliases == {}
    assert created.creation_timestamp == created.last_updated_timestamp > 0
    assert client.get_registered_model("Churn") == created

    updated = client.update_registered_model("Churn", description="new")
    assert updated.description == "new"
    client.set_registered_model_tag("Churn", "team", "ops")
    client.set_registered_model_tag("Churn", "tier", 1)
    assert client.get_registered_model("Churn").tags == {"team": "ops", "tier": "1"}
    client.delete_registered_model_tag("Churn", "tier")
    assert client.get_registered_model("Churn").tags == {"team": "ops"}
    with pytest.raises(NotFoundError, match="tier"):
        client.delete_registered_model_tag("Churn", "tier")


def test_create_existing_name_is_already_exists(client):
    client.create_registered_model("Churn")
    with pytest.raises(AlreadyExistsError, match="'Churn' already exists"):
        client.create_registered_model("Churn")


@pytest.mark.parametrize("name", ["", "a/b", "a:b", "   "])
def test_bad_model_names(client, name):
    with pytest.raises(InvalidArgumentError, match="name"):
        client.create_registered_model(name)
    assert list(client.search_registered_models()) == []


def test_unknown_model_is_not_found(client):
    for call in (
        lambda: client.get_registered_model("nope"),
        lambda: client.update_registered_model("nope", "d"),
        lambda: client.rename_registered_model("nope", "other"),
        lambda: client.delete_registered_model("nope"),
        lambda: client.set_registered_model_tag("nope", "k", "v"),
        lambda: client.get_latest_versions("nope"),
        lambda: client.get_model_version("nope", 1),
    ):
        with pytest.raises(NotFoundError, match="'nope' does not exist"):
            call()


def test_rename_carries_versions_aliases_and_tags(client, run):
    client.create_registered_model("Old", tags={"k": "v"})
    register(client, "Old", run)
    register(client, "Old", run)
    client.set_registered_model_alias("Old", "champion", 2)
    renamed = client.rename_registered_model("Old", "New")
    assert renamed.name == "New" and renamed.tags == {"k": "v"}
    assert renamed.aliases == {"champion": "2"}
    assert [v.name for v in renamed.latest_versions] == ["New"]
    assert client.get_model_version("New", 1).name == "New"
    assert client.get_model_version_by_alias("New", "champion").version == "2"
    with pytest.raises(NotFoundError):
        client.get_registered_model("Old")
    client.create_registered_model("Taken")
    with pytest.raises(AlreadyExistsError, match="Taken"):
        client.rename_registered_model("New", "Taken")
    with pytest.raises(InvalidArgumentError, match="new_name"):
        client.rename_registered_model("New", "a/b")
    assert client.get_registered_model("New").name == "New"
    # the old name is free again, and starts at version 1
    client.create_registered_model("Old")
    assert register(client, "Old", run).version == "1"


def test_delete_model_deletes_versions_and_aliases(client, run):
    client.create_registered_model("Gone")
    register(client, "Gone", run, tags={"a": "b"})
    client.set_registered_model_alias("Gone", "champion", 1)
    client.delete_registered_model("Gone")
    with pytest.raises(NotFoundError):
        client.get_registered_model("Gone")
    assert list(client.search_model_versions("name = 'Gone'")) == []
    # the run's files stay
    assert {f.path for f in client.list_artifacts(run.info.run_id, "model")} == {
        "model/model.pkl",
        "model/MLmodel",
    }
    client.create_registered_model("Gone")
    assert client.get_registered_model("Gone").aliases == {}
    assert register(client, "Gone", run).tags == {}


def test_search_registered_models(client):
    for name, team in [("churn-a", "x"), ("Churn-B", "y"), ("fraud", "x")]:
        client.create_registered_model(name, tags={"team": team})
    names = lambda models: [m.name for m in models]  # noqa: E731
    assert names(client.search_registered_models()) == ["Churn-B", "churn-a", "fraud"]
    assert names(client.search_registered_models("name = 'fraud'")) == ["fraud"]
    assert names(client.search_registered_models("name LIKE 'churn%'")) == ["churn-a"]
    assert names(client.search_registered_models("name ILIKE 'churn%'")) == ["Churn-B", "churn-a"]
    assert names(client.search_registered_models("tags.team = 'x'")) == ["churn-a", "fraud"]
    assert names(client.search_registered_models("name IN ('fraud', 'churn-a')")) == [
        "churn-a",
        "fraud",
    ]
    assert names(client.search_registered_models(order_by=["name DESC"])) == [
        "fraud",
        "churn-a",
        "Churn-B",
    ]
    by_time = client.search_registered_models(order_by=["creation_timestamp ASC"])
    assert [m.creation_timestamp for m in by_time] == sorted(m.creation_timestamp for m in by_time)
    first = client.search_registered_models(max_results=2)
    assert names(first) == ["Churn-B", "churn-a"] and first.token
    second = client.search_registered_models(max_results=2, page_token=first.token)
    assert names(second) == ["fraud"] and not second.token
    with pytest.raises(InvalidArgumentError, match="filter"):
        client.search_registered_models("nme = 'x'")
    with pytest.raises(InvalidArgumentError, match="page_token"):
        client.search_registered_models("name = 'x'", page_token=first.token)


# -- versions ---------------------------------------------------------------------------


def test_versions_number_from_one_and_record_their_origin(client, run):
    client.create_registered_model("Churn")
    first = register(client, "Churn", run, tags={"k": "v"}, description="first")
    second = client.create_model_version(
        "Churn", f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    assert (first.version, second.version) == ("1", "2")
    assert first.name == "Churn" and first.current_stage == "None" and first.status == "READY"
    assert first.source == f"runs:/{run.info.run_id}/model" and first.run_id == run.info.run_id
    assert first.tags == {"k": "v"} and first.description == "first"
    assert first.user_id and first.creation_timestamp == first.last_updated_timestamp > 0
    assert second.source == f"{run.info.artifact_uri}/model" and second.run_id == run.info.run_id
    assert client.get_model_version("Churn", 2) == second
    assert client.get_model_version("Churn", "1") == first

    model = client.get_registered_model("Churn")
    assert [(v.version, v.current_stage) for v in model.latest_versions] == [("2", "None")]
    assert model.last_updated_timestamp >= second.creation_timestamp
    for uri in (
        client.get_model_version_download_uri("Churn", 1),
        client.get_model_version_download_uri("Churn", 2),
    ):
        assert uri == f"{run.info.artifact_uri}/model"


def test_update_delete_and_version_tags(client, run):
    client.create_registered_model("Churn")
    for _ in range(3):
        register(client, "Churn", run)
    assert client.update_model_version("Churn", 2, description="d").description == "d"
    client.set_model_version_tag("Churn", 2, "validated", True)
    assert client.get_model_version("Churn", 2).tags == {"validated": "True"}
    client.delete_model_version_tag("Churn", 2, "validated")
    assert client.get_model_version("Churn", 2).tags == {}
    with pytest.raises(NotFoundError, match="validated"):
        client.delete_model_version_tag("Churn", 2, "validated")

    client.set_registered_model_alias("Churn", "champion", 3)
    client.delete_model_version("Churn", 3)
    with pytest.raises(NotFoundError, match="no version 3"):
        client.get_model_version("Churn", 3)
    assert client.get_registered_model("Churn").aliases == {}
    # a deleted number is never given again
    assert register(client, "Churn", run).version == "4"
    versions = client.search_model_versions("name = 'Churn'")
    assert [v.version for v in versions] == ["4", "2", "1"]


@pytest.mark.parametrize("version", ["abc", "0", "-1", "1.5", ""])
def test_bad_version_numbers(client, run, version):
    client.create_registered_model("Churn")
    register(client, "Churn", run)
    with pytest.raises(InvalidArgumentError, match="version"):
        client.get_model_version("Churn", version)
    with pytest.raises(InvalidArgumentError, match="version"):
        client.transition_model_version_stage("Churn", version, "Staging")


def test_unknown_version_is_not_found(client, run):
    client.create_registered_model("Churn")
    register(client, "Churn", run)
    for call in (
        lambda: client.get_model_version("Churn", 2),
        lambda: client.update_model_version("Churn", 2, "d"),
        lambda: client.delete_model_version("Churn", 2),
        lambda: client.transition_model_version_stage("Churn", 2, "Staging"),
        lambda: client.set_model_version_tag("Churn", 2, "k", "v"),
        lambda: client.set_registered_model_alias("Churn", "champion", 2),
        lambda: client.get_model_version_download_uri("Churn", 2),
    ):
        with pytest.raises(NotFoundError, match="no version 2"):
            call()


def test_create_version_of_unknown_model_is_not_found(client, run):
    with pytest.raises(NotFoundError, match="'Nope' does not exist"):
        register(client, "Nope", run)


def test_source_of_unknown_run_is_not_found(client):
    client.create_registered_model("Churn")
    with pytest.raises(NotFoundError, match="source.*does not exist"):
        client.create_model_version("Churn", "runs:/0123456789abcdef0123456789abcdef/model")
    # A malformed run id is INVALID_ARGUMENT, not NOT_FOUND (issue #12).
    with pytest.raises(InvalidArgumentError, match="source's run id 'abc123...'"):
        client.create_model_version("Churn", "runs:/abc123.../model")
    with pytest.raises(NotFoundError, match="run_id"):
        client.create_model_version(
            "Churn", "s3://bucket/x/model", run_id="0123456789abcdef0123456789abcdef"
        )
    assert client.get_registered_model("Churn").latest_versions == []


@pytest.mark.parametrize(
    "source",
    [
        "/etc/passwd",
        "model",
        "file:///etc/passwd",
        "file:///",
        "s3://other-bucket/model",
        "{root}/../../../../etc",
        "{root}/model/../../other",
        "{root}x/model",
        "{parent}/other-run/artifacts",
        "runs:/{run_id}/../../../etc/passwd",
        "runs:/{run_id}//etc/passwd",
        "runs://model",
    ],
)
def test_sources_outside_the_run_are_invalid(client, run, source):
    """MLflow's CVE-2023-1177: a source must not let anyone read any server file."""
    root = run.info.artifact_uri
    source = source.format(root=root, parent=root.rsplit("/", 2)[0], run_id=run.info.run_id)
    client.create_registered_model("Churn")
    with pytest.raises(InvalidArgumentError, match="source"):
        client.create_model_version("Churn", source, run_id=run.info.run_id)
    assert client.get_registered_model("Churn").latest_versions == []
    # and the next valid registration is still version 1
    assert register(client, "Churn", run).version == "1"


def test_source_without_run_is_invalid(client, run):
    client.create_registered_model("Churn")
    with pytest.raises(InvalidArgumentError, match="source"):
        client.create_model_version("Churn", f"{run.info.artifact_uri}/model")
    with pytest.raises(InvalidArgumentError, match="source must not be empty"):
        client.create_model_version("Churn", "", run_id=run.info.run_id)
    other = client.create_run(run.info.experiment_id)
    with pytest.raises(InvalidArgumentError, match="run_id"):
        client.create_model_version(
            "Churn", f"runs:/{run.info.run_id}/model", run_id=other.info.run_id
        )


def test_search_model_versions(client, run):
    other = client.create_run(run.info.experiment_id)
    client.log_bytes(other.info.run_id, b"x", "model/model.pkl")
    for name in ("Churn", "Fraud"):
        client.create_registered_model(name)
    register(client, "Churn", run)  # 1
    register(client, "Churn", other, tags={"kind": "rf"})  # 2
    register(client, "Churn", run, path="notes.txt")  # 3
    register(client, "Fraud", other)  # 1

    def found(filter_string, **kwargs):
        return [(v.name, v.version) for v in client.search_model_versions(filter_string, **kwargs)]

    assert found("name='Churn'") == [("Churn", "3"), ("Churn", "2"), ("Churn", "1")]
    assert found("") == [("Churn", "3"), ("Churn", "2"), ("Churn", "1"), ("Fraud", "1")]
    assert found("name IN ('Fraud')") == [("Fraud", "1")]
    assert found(f"run_id = '{other.info.run_id}'") == [("Churn", "2"), ("Fraud", "1")]
    assert found(f"run_id IN ('{run.info.run_id}', 'x')") == [("Churn", "3"), ("Churn", "1")]
    assert found("name = 'Churn' AND version_number >= 2") == [("Churn", "3"), ("Churn", "2")]
    assert found("source LIKE '%notes.txt'") == [("Churn", "3")]
    assert found("tags.kind = 'rf'") == [("Churn", "2")]
    assert found("name ILIKE 'churn' AND version_number = 1") == [("Churn", "1")]
    assert found("name='Churn'", order_by=["version_number ASC"]) == [
        ("Churn", "1"),
        ("Churn", "2"),
        ("Churn", "3"),
    ]
    page = client.search_model_versions("name='Churn'", max_results=2)
    assert [v.version for v in page] == ["3", "2"] and page.token
    rest = client.search_model_versions("name='Churn'", max_results=2, page_token=page.token)
    assert [v.version for v in rest] == ["1"] and not rest.token
    with pytest.raises(InvalidArgumentError, match="version_number"):
        client.search_model_versions("version_number = 'abc'")
    with pytest.raises(InvalidArgumentError, match="IN is not allowed for 'source'"):
        client.search_model_versions("source IN ('x')")
    with pytest.raises(InvalidArgumentError, match="unknown attribute"):
        client.search_model_versions("attributes.stage = 'x'")


# -- stages --------------------------------------------------------------------------------


def test_transitions_and_latest_versions(client, run):
    client.create_registered_model("Churn")
    for _ in range(4):
        register(client, "Churn", run)
    staged = client.transition_model_version_stage("Churn", 1, "staging")
    assert staged.current_stage == "Staging"
    client.transition_model_version_stage("Churn", 2, "Staging")
    client.transition_model_version_stage("Churn", 3, "Production")
    latest = client.get_latest_versions("Churn")
    assert [(v.current_stage, v.version) for v in latest] == [
        ("None", "4"),
        ("Staging", "2"),
        ("Production", "3"),
    ]
    assert [v.version for v in client.get_latest_versions("Churn", ["Production"])] == ["3"]
    assert client.get_latest_versions("Churn", ["Archived"]) == []
    assert [v.version for v in client.get_registered_model("Churn").latest_versions] == [
        "4",
        "2",
        "3",
    ]

    promoted = client.transition_model_version_stage(
        "Churn", 2, "Production", archive_existing_versions=True
    )
    assert promoted.current_stage == "Production"
    stages = {v.version: v.current_stage for v in client.search_model_versions("name='Churn'")}
    assert stages == {"1": "Staging", "2": "Production", "3": "Archived", "4": "None"}
    # without archiving, several versions may share a stage
    client.transition_model_version_stage("Churn", 4, "Production")
    assert len(client.search_model_versions("current_stage = 'Production'")) == 2


def test_bad_stages(client, run):
    client.create_registered_model("Churn")
    register(client, "Churn", run)
    with pytest.raises(
        InvalidArgumentError, match="stage 'Prod' is not one of None, Staging, Production, Archived"
    ):
        client.transition_model_version_stage("Churn", 1, "Prod")
    with pytest.raises(InvalidArgumentError, match=r"stages\[1\]"):
        client.get_latest_versions("Churn", ["Production", "Prod"])
    with pytest.raises(InvalidArgumentError, match="archive_existing_versions"):
        client.transition_model_version_stage("Churn", 1, "Archived", True)
    assert client.get_model_version("Churn", 1).current_stage == "None"


# -- aliases --------------------------------------------------------------------------------


def test_aliases(client, run):
    client.create_registered_model("Churn")
    register(client, "Churn", run)
    register(client, "Churn", run)
    client.set_registered_model_alias("Churn", "champion", 1)
    client.set_registered_model_alias("Churn", "challenger-2_b", 2)
    assert client.get_model_version_by_alias("Churn", "champion").version == "1"
    assert client.get_model_version("Churn", 1).aliases == ["champion"]
    # moving an alias
    client.set_registered_model_alias("Churn", "champion", "2")
    assert client.get_model_version("Churn", 1).aliases == []
    assert client.get_model_version("Churn", 2).aliases == ["challenger-2_b", "champion"]
    assert client.get_registered_model("Churn").aliases == {
        "challenger-2_b": "2",
        "champion": "2",
    }
    client.delete_registered_model_alias("Churn", "champion")
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        client.get_model_version_by_alias("Churn", "champion")
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        client.delete_registered_model_alias("Churn", "champion")


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("latest", "reserved"),
        ("LATEST", "reserved"),
        ("v1", "reserved"),
        ("V42", "reserved"),
        ("", "alias must not be empty"),
        ("has space", "letters, digits"),
        ("a/b", "letters, digits"),
        ("é", "letters, digits"),
        ("x" * 256, "letters, digits"),
    ],
)
def test_bad_aliases(client, run, alias, message):
    client.create_registered_model("Churn")
    register(client, "Churn", run)
    with pytest.raises(InvalidArgumentError, match=f"alias.*{message}|{message}"):
        client.set_registered_model_alias("Churn", alias, 1)
    assert client.get_registered_model("Churn").aliases == {}


# -- fluent and URIs ----------------------------------------------------------------------


def test_register_model_creates_the_model_if_missing(tracking, client):
    with trackwire.start_run() as active:
        client.log_bytes(active.info.run_id, b"w", "model/model.pkl")
    uri = f"runs:/{active.info.run_id}/model"
    first = trackwire.register_model(uri, "Churn", tags={"by": "fluent"})
    assert (first.name, first.version, first.tags) == ("Churn", "1", {"by": "fluent"})
    assert first.run_id == active.info.run_id and first.source == uri
    second = trackwire.register_model(uri, "Churn")
    assert second.version == "2"
    # from another version's URI: the same files
    third = trackwire.register_model("models:/Churn/1", "Copy")
    assert (third.source, third.run_id) == (uri, active.info.run_id)
    with pytest.raises(InvalidArgumentError, match="source"):
        trackwire.register_model("/etc/passwd", "Churn")
    with pytest.raises(NotFoundError):
        trackwire.register_model(f"runs:/{'0' * 32}/model", "Churn")
    with pytest.raises(InvalidArgumentError, match="not a run id"):  # malformed (issue #12)
        trackwire.register_model("runs:/abc123.../model", "Churn")
    assert [v.version for v in client.search_model_versions("name='Churn'")] == ["2", "1"]


def test_models_uris_resolve_and_download(tracking, client, run, tmp_path):
    client.create_registered_model("Churn")
    register(client, "Churn", run)  # 1
    register(client, "Churn", run, path="notes.txt")  # 2
    client.create_model_version("Churn", f"{run.info.artifact_uri}/model", run.info.run_id)  # 3
    client.transition_model_version_stage("Churn", 1, "Production")
    client.transition_model_version_stage("Churn", 3, "Staging")
    client.set_registered_model_alias("Churn", "champion", 1)

    resolve = trackwire.artifacts.resolve
    rid = run.info.run_id
    assert resolve("models:/Churn/Production").model_version == "1"
    assert resolve("models:/Churn/production").path == "model"
    assert resolve("models:/Churn/Staging") == trackwire.artifacts.ResolvedArtifact(
        run_id=rid, path="model", model_name="Churn", model_version="3"
    )
    assert resolve("models:/Churn/2").path == "notes.txt"
    assert resolve("models:/Churn/latest").model_version == "3"
    assert resolve("models:/Churn@champion").model_version == "1"
    assert resolve(f"runs:/{rid}/model/MLmodel") == trackwire.artifacts.ResolvedArtifact(
        run_id=rid, path="model/MLmodel"
    )
    with pytest.raises(NotFoundError, match="stage 'Archived'"):
        resolve("models:/Churn/Archived")
    with pytest.raises(NotFoundError, match="no alias"):
        resolve("models:/Churn@nobody")
    with pytest.raises(NotFoundError, match="no version 9"):
        resolve("models:/Churn/9")
    with pytest.raises(InvalidArgumentError, match="Prod"):
        resolve("models:/Churn/Prod")

    local = trackwire.artifacts.download_artifacts(
        "models:/Churn@champion", dst_path=tmp_path / "a"
    )
    assert sorted(p.name for p in pathlib.Path(local).iterdir()) == [
        "MLmodel",
        "model.pkl",
    ]
    assert (pathlib.Path(local) / "model.pkl").read_bytes() == b"weights"
    notes = trackwire.artifacts.download_artifacts(
        "models:/Churn/2", dst_path=str(tmp_path / "b"), tracking_uri=client.tracking_uri
    )
    assert pathlib.Path(notes).read_bytes() == b"other"
    by_run = trackwire.artifacts.download_artifacts(
        run_id=rid, artifact_path="model/MLmodel", dst_path=str(tmp_path / "c")
    )
    assert pathlib.Path(by_run).read_bytes() == b"name: m"
    # local paths and file:// URIs are used where they are
    assert trackwire.artifacts.download_artifacts(f"file://{by_run}") == by_run
    assert trackwire.artifacts.download_artifacts(by_run) == by_run
