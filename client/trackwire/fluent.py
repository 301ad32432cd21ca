"""The fluent API: module-level functions over an active run, as in MLflow.

The active-run stack lives in a ContextVar (each thread and asyncio task has its
own); the tracking URI and active experiment are process settings. Each tracking URI
has one default client, made on first use: the only client the process keeps.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from trackwire import connection, credentials, errors, search
from trackwire.client import TrackwireClient
from trackwire.entities import Experiment, Run, ViewType

EXPERIMENT_NAME_ENV = "TRACKWIRE_EXPERIMENT_NAME"
EXPERIMENT_ID_ENV = "TRACKWIRE_EXPERIMENT_ID"
NOTE_TAG = "trackwire.note.content"


class _Settings:
    """Process-wide settings: set_experiment writes here (set_tracking_uri: connection)."""

    def __init__(self):
        self.experiment_id: str | None = None
        self.clients: dict[tuple, TrackwireClient] = {}  # by (URI, token setting)
        self.last_run: Run | None = None
        self.lock = threading.Lock()


_settings = _Settings()
_run_stack: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar(
    "trackwire_active_runs", default=()
)


class ActiveRun(Run):
    """The run returned by `start_run`; as a context manager it ends the run on exit:
    FINISHED normally, FAILED on an exception, KILLED on KeyboardInterrupt."""

    def __init__(self, run: Run, client: TrackwireClient):
        super().__init__(info=run.info, data=run.data)
        self._client = client
        # What log_metric needs, in one attribute: it runs in the training loop.
        self._logging = (client.metric_writer.add, client, run.info.run_id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            status = "FINISHED"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "KILLED"
        else:
            status = "FAILED"
        try:
            end_run(status, _run=self)
        except errors.TrackwireException:
            if exc_type is None:
                raise  # do not hide the user's own exception behind ours
        return False


# -- where to track -----------------------------------------------------------


set_tracking_uri = connection.set_tracking_uri
get_tracking_uri = connection.get_tracking_uri


def _client() -> TrackwireClient:
    """The default client of the tracking URI and token setting (made on first use, kept
    until exit): a new trackwire.set_tracking_token or $TRACKWIRE_TOKEN gets a new one."""
    uri = get_tracking_uri()
    key = (uri, credentials.token_setting())
    client = _settings.clients.get(key)
    if client is None:
        with _settings.lock:
            client = _settings.clients.get(key)
            if client is None:
                client = _settings.clients[key] = TrackwireClient(uri)
    return client


# -- experiments ----------------------------------------------------------------


def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict | None = None
) -> str:
    return _client().create_experiment(name, artifact_location, tags)


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Makes an experiment active, creating it by name if it does not exist."""
    if (experiment_name is None) == (experiment_id is None):
        raise errors.InvalidArgumentError("give exactly one of experiment_name and experiment_id")
    client = _client()
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    else:
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is None:
            with contextlib.suppress(errors.AlreadyExistsError):  # created meanwhile elsewhere
                client.create_experiment(experiment_name)
            experiment = client.get_experiment_by_name(experiment_name)
    if experiment.lifecycle_stage == "deleted":
        raise errors.FailedPreconditionError(
            f"experiment '{experiment.name}' (id {experiment.experiment_id}) is deleted; restore it first"
        )
    _settings.experiment_id = experiment.experiment_id
    return experiment


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _client().get_experiment_by_name(name)


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(experiment_id)


def _active_experiment_id() -> str:
    if _settings.experiment_id is not None:
        return _settings.experiment_id
    if os.environ.get(EXPERIMENT_ID_ENV):
        return os.environ[EXPERIMENT_ID_ENV]
    if os.environ.get(EXPERIMENT_NAME_ENV):
        return set_experiment(os.environ[EXPERIMENT_NAME_ENV]).experiment_id
    return "0"


# -- runs -------------------------------------------------------------------------


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
) -> ActiveRun:
    """Starts a run (or resumes `run_id`) and makes it active.

    With `nested=True` the new run is a child of the active run. A `run_id` that
    does not exist yet is created with that id, so a restarted job can pass the
    same id and keep logging into the same run.
    """
    stack = _run_stack.get()
    if stack and not nested and parent_run_id is None:
        raise errors.FailedPreconditionError(
            f"run {stack[-1].info.run_id} is already active: end it with trackwire.end_run(), "
            "or start a nested run with start_run(nested=True)"
        )
    client = _client()
    if parent_run_id is None and nested and stack:
        parent_run_id = stack[-1].info.run_id
    tags = {k: str(v) for k, v in (tags or {}).items()}
    if description is not None:
        tags[NOTE_TAG] = description
    tags.setdefault(
        "trackwire.source.name", os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    )
    if run_id is not None and experiment_id is None:
        with contextlib.suppress(errors.NotFoundError):  # a new id: created below
            experiment_id = client.get_run(run_id).info.experiment_id
    run = client.create_run(
        experiment_id=experiment_id if experiment_id is not None else _active_experiment_id(),
        tags=tags,
        run_name=run_name,
        run_id=run_id,
        parent_run_id=parent_run_id,
    )
    active = ActiveRun(run, client)
    _run_stack.set((*stack, active))
    return active


def active_run() -> ActiveRun | None:
    stack = _run_stack.get()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The run most recently ended in this process, as it was stored then."""
    return _settings.last_run


def end_run(status: str = "FINISHED", _run: ActiveRun | None = None) -> None:
    """Ends the active run: flushes its streamed metrics, then sets its status and end time.

    Raises the first metric batch the server refused, after the run is ended.
    """
    stack = _run_stack.get()
    run = _run or (stack[-1] if stack else None)
    if run is None:
        return
    _run_stack.set(tuple(r for r in stack if r is not run))
    client = run._client
    try:
        client.flush_metrics()
    finally:
        info = client.update_run(run.info.run_id, status=status, end_time=int(time.time() * 1000))
        run.info = info
        _settings.last_run = client.get_run(run.info.run_id)


def get_run(run_id: str) -> Run:
    return _client().get_run(run_id)


def delete_run(run_id: str) -> None:
    _client().delete_run(run_id)


def _current_run() -> ActiveRun:
    stack = _run_stack.get()
    return stack[-1] if stack else start_run()


def _run_id(run_id: str | None) -> str:
    return run_id if run_id is not None else _current_run().info.run_id


# -- params, tags, metrics -----------------------------------------------------------


def log_param(key: str, value: Any, run_id: str | None = None) -> Any:
    """Logs a parameter as a string (bools as True/False). Re-logging a different value fails."""
    _client().log_param(_run_id(run_id), key, value)
    return value


def _log_in_batches(field: str, values: dict[str, Any], run_id: str | None) -> None:
    """Writes params or tags in as few LogBatch calls as the server's limits allow."""
    run_id = _run_id(run_id)
    client = _client()
    items = list(values.items())
    size = getattr(client._connection.limits, f"max_batch_{field}") or 100
    for i in range(0, len(items), size):
        client.log_batch(run_id, **{field: dict(items[i : i + size])})


def log_params(params: dict[str, Any], run_id: str | None = None) -> None:
    """Logs several parameters; up to the server's batch limit (100) in one transaction."""
    _log_in_batches("params", params, run_id)


def set_tag(key: str, value: Any, run_id: str | None = None) -> None:
    _client().set_tag(_run_id(run_id), key, value)


def set_tags(tags: dict[str, Any], run_id: str | None = None) -> None:
    """Sets several tags; up to the server's batch limit (100) in one transaction."""
    _log_in_batches("tags", tags, run_id)


def delete_tag(key: str, run_id: str | None = None) -> None:
    _client().delete_tag(_run_id(run_id), key)


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    """Logs one metric point without waiting for the network.

    The point is queued for the background stream; `end_run`, leaving the
    `with start_run()` block, `flush()` and interpreter exit wait until it is
    stored. `synchronous=True` waits now. `timestamp` is in milliseconds.
    """
    stack = _run_stack.get()
    if stack:
        add, client, active_id = stack[-1]._logging
        if run_id is None:
            run_id = active_id
    elif run_id is not None:
        client = _client()
        add = client.metric_writer.add
    else:
        add, client, run_id = _current_run()._logging
    try:
        value, step = float(value), int(step) if step else 0
        timestamp = int(timestamp) if timestamp else time.time_ns() // 1_000_000
    except (TypeError, ValueError):
        raise errors.InvalidArgumentError(
            f"metric '{key}': value {value!r}, step {step!r} and timestamp {timestamp!r} must be numbers"
        ) from None
    add(run_id, key, value, step, timestamp)
    if synchronous:
        client.flush_metrics()


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    """Logs several metrics at the same step, without waiting for the network."""
    for key, value in metrics.items():
        log_metric(key, value, step, timestamp, run_id=run_id)
    if synchronous:
        flush()


def flush(timeout: float | None = 300.0) -> None:
    """Waits until every metric point logged so far is stored; raises what the server refused."""
    _client().flush_metrics(timeout)


# -- search --------------------------------------------------------------------------


def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
    select: Sequence[str] = (),
):
    """Runs matching `filter_string`, every page, as a pandas DataFrame (MLflow's columns:
    run_id, experiment_id, status, artifact_uri, start_time, end_time, metrics.*, params.*,
    tags.*) or, with output_format="list", as Run objects.

    With no experiment ids or names: the active experiment (all of them with
    `search_all_experiments=True`).
    """
    client = _client()
    if not experiment_ids and not experiment_names:
        if search_all_experiments:
            experiment_ids = [
                e.experiment_id
                for e in search.search_experiments(client, ViewType.ALL, None, None, None)
            ]
        else:
            experiment_ids = [_active_experiment_id()]
    return search.search_runs(
        client,
        experiment_ids,
        experiment_names,
        filter_string,
        run_view_type,
        max_results,
        order_by,
        output_format,
        select,
    )


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[Experiment]:
    """Experiments matching `filter_string` (`name LIKE 'churn%' AND tags.team = 'growth'`), every page."""
    return search.search_experiments(_client(), view_type, max_results, filter_string, order_by)


# -- artifacts ---------------------------------------------------------------------


def log_artifact(
    local_path: str, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    _client().log_artifact(_run_id(run_id), local_path, artifact_path)


def log_artifacts(
    local_dir: str, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    _client().log_artifacts(_run_id(run_id), local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Logs `text` as the artifact file `artifact_file` (e.g. "notes/summary.txt")."""
    _client().log_text(_run_id(run_id), text, artifact_file)


def log_dict(dictionary: dict, artifact_file: str, run_id: str | None = None) -> None:
    """Logs a dict as YAML (.yaml/.yml) or JSON (any other extension)."""
    _client().log_dict(_run_id(run_id), dictionary, artifact_file)


def log_figure(
    figure, artifact_file: str, *, save_kwargs: dict | None = None, run_id: str | None = None
) -> None:
    """Logs a matplotlib or plotly figure (e.g. "plots/roc.png")."""
    _client().log_figure(_run_id(run_id), figure, artifact_file, save_kwargs)


def log_table(data, artifact_file: str, run_id: str | None = None) -> None:
    """Logs a DataFrame or dict of columns as a JSON table; logging to the same file
    again appends rows."""
    _client().log_table(_run_id(run_id), data, artifact_file)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    uri = _current_run().info.artifact_uri
    return f"{uri}/{artifact_path.lstrip('/')}" if artifact_path else uri


# -- exit ----------------------------------------------------------------------------


def _on_exit() -> None:
    """Ends the runs still active in this thread; then trackwire.client's exit hook
    (registered before this one, so run after it) stores every queued point and closes
    the clients."""
    try:
        while _run_stack.get():
            end_run("FINISHED")
    except Exception as e:  # at exit, say it; there is no caller left to raise to
        print(f"trackwire: while ending runs at exit: {e}", file=sys.stderr)


def _register_exit_hook() -> None:
    # As trackwire.client's hook: before the join of the executors' threads, newest
    # first, so this one runs before the client's.
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(_on_exit)
    else:
        atexit.register(_on_exit)


_register_exit_hook()
