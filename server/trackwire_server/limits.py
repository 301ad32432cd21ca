"""The server's limits, published to clients through GetServerInfo."""

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on keys, values, batch sizes and request messages. The key and value lengths
    are MLflow's.

    The byte limits are checked on a request message's encoding, before it is parsed: gRPC
    refuses anything above `max_message_bytes` as it arrives (so it is never buffered), and
    each method's own limit below it is checked before the message is decoded. Each is set
    above the largest request the item limits allow in practice (ASCII keys and values:
    a full LogBatch is ~1.8 MB, a 200,000-point WriteMetrics batch ~6 MB), so that together
    with the bounded number of calls in progress they bound the memory requests can take.
    """

    max_key_length: int = 250
    max_param_value_length: int = 6000
    max_tag_value_length: int = 8000
    max_experiment_name_length: int = 500
    max_run_name_length: int = 250
    max_batch_metrics: int = 1000
    max_batch_params: int = 100
    max_batch_tags: int = 100
    max_stream_batch_points: int = 200_000
    max_stream_batch_keys: int = 10_000
    max_history_chunk_points: int = 500_000
    # The largest request message of any method (WriteMetrics, BatchCreateRuns).
    max_message_bytes: int = 16 * MIB
    # The largest response message (a page of runs with all their data can be large).
    max_response_bytes: int = 64 * MIB
    # Request messages of the unary calls not named below.
    max_request_bytes: int = 1 * MIB
    # LogBatchRequest and CreateRunRequest.
    max_log_batch_bytes: int = 4 * MIB
    max_batch_create_runs_bytes: int = 16 * MIB
    # WriteMetricsRequest: 200,000 points at up to 33 bytes each, plus the keys.
    max_stream_batch_bytes: int = 16 * MIB
    # UploadArtifactRequest.data; the message may be larger by its header.
    max_upload_chunk_bytes: int = 4 * MIB
    max_upload_header_bytes: int = 64 * 1024
    max_page_size: int = 50_000
    max_batch_history_runs: int = 1000
    max_batch_create_runs: int = 1000
    default_page_size: int = 1000
    default_history_chunk_points: int = 100_000


LIMITS = Limits()
