"""The server's limits and protocol features, published to clients through GetServerInfo."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds on keys, values and batch sizes. The key and value lengths are MLflow's."""

    max_key_length: int = 250
    max_param_value_length: int = 6000
    max_tag_value_length: int = 8000
    max_experiment_name_length: int = 500
    max_run_name_length: int = 250
    max_batch_metrics: int = 1000
    max_batch_params: int = 100
    max_batch_tags: int = 100
    max_stream_batch_points: int = 200_000
    max_stream_batch_series: int = 10_000
    max_history_chunk_points: int = 500_000
    max_message_bytes: int = 64 * 1024 * 1024
    max_page_size: int = 50_000
    max_batch_history_runs: int = 1000
    max_batch_create_runs: int = 1000
    default_page_size: int = 1000
    default_history_chunk_points: int = 100_000


LIMITS = Limits()

# Protocol additions this server understands (GetServerInfoResponse.features): a client
# sends such a field only to a server that lists it, as an older server would ignore it.
FEATURES = ("log_batch.metric_columns",)
