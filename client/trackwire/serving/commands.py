"""`trackwire models serve` and `trackwire models predict`: the command line wiring."""

from __future__ import annotations

import argparse
import sys

from trackwire.serving.http_app import DEFAULT_MAX_BODY_BYTES

MODEL_URI_HELP = (
    "the model: models:/NAME/STAGE, models:/NAME/VERSION, models:/NAME@ALIAS, "
    "runs:/RUN_ID/PATH or a local folder"
)
TRACKING_HELP = "the tracking server (default: $TRACKWIRE_TRACKING_URI)"

SERVE_EXAMPLE = """Example:
  trackwire models serve -m models:/churn/Production --port 8080 --watch
  curl -s localhost:8080/invocations -H 'Content-Type: application/json' \\
       -d '{"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}'
"""

PREDICT_EXAMPLE = """Example:
  trackwire models predict -m models:/churn@champion -i customers.csv -o scores.csv
"""


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    text = text.strip().lower().removesuffix("b")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size (e.g. 1048576, 64M)") from None


def add_models_serve_commands(models: argparse._SubParsersAction) -> None:
    """Adds `serve` and `predict` to the `trackwire models` subcommands. A registrar for
    `trackwire.commands.models.register(subparsers, extra=[add_models_serve_commands])`:
    the handlers take `args` alone (`needs_client=False`: they load the model through
    the tracking URI themselves) and exit 2 with a message on an error."""
    serve = models.add_parser(
        "serve",
        help="serve a model over HTTP (MLflow's scoring protocol) and gRPC",
        description=(
            "Serves a model that loads as trackwire.pyfunc: POST /invocations (JSON "
            "dataframe_split / dataframe_records / instances / inputs, CSV or Parquet), "
            "GET /ping, /health, /version over HTTP, and trackwire.v1.PredictionService "
            "over gRPC. A stage or alias is resolved at start; --watch follows it."
        ),
        epilog=SERVE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("-m", "--model-uri", required=True, help=MODEL_URI_HELP)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("-p", "--port", type=int, default=8080, help="HTTP port (default 8080)")
    serve.add_argument(
        "--grpc-port",
        type=int,
        default=None,
        help="gRPC port (default: the HTTP port + 1; -1 turns gRPC off)",
    )
    serve.add_argument("-w", "--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument(
        "--watch",
        action="store_true",
        help="follow the stage or alias of a models:/ URI: load the new version when it "
        "moves, without dropping requests",
    )
    serve.add_argument(
        "--watch-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how often --watch asks the registry (default 10)",
    )
    serve.add_argument(
        "--max-body-size",
        type=_size,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="BYTES",
        help="largest request body (HTTP 413 / RESOURCE_EXHAUSTED beyond; default 64M)",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, how long requests in flight may take to finish (default 30)",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument("--tracking-uri", help=TRACKING_HELP)
    serve.set_defaults(handler=run_serve, needs_client=False)

    predict = models.add_parser(
        "predict",
        help="score a CSV, JSON or Parquet file with a model",
        description=(
            "Scores a file with a model that loads as trackwire.pyfunc and writes the "
            "predictions. Input: CSV with a header line, Parquet, or JSON in the scoring "
            "protocol's shape (or a list of row objects). Output: JSON "
            '({"predictions": [...]}), CSV or Parquet, by extension; standard output '
            "as JSON when -o is omitted."
        ),
        epilog=PREDICT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("-m", "--model-uri", required=True, help=MODEL_URI_HELP)
    predict.add_argument(
        "-i", "--input-path", required=True, help="input file (.csv, .json, .parquet; - for stdin)"
    )
    predict.add_argument(
        "-o", "--output-path", help="output file (.json, .csv, .parquet; default stdout JSON)"
    )
    predict.add_argument(
        "-t",
        "--content-type",
        choices=("csv", "json", "parquet"),
        help="the input's format, when its extension does not say it",
    )
    predict.add_argument(
        "--output-format",
        choices=("csv", "json", "parquet"),
        help="the output's format, when its extension does not say it",
    )
    predict.add_argument("--tracking-uri", help=TRACKING_HELP)
    predict.set_defaults(handler=run_predict, needs_client=False)


def _fail(message: str) -> None:
    print(f"trackwire: error: {message}", file=sys.stderr)
    sys.exit(2)


def run_serve(args: argparse.Namespace) -> None:
    import logging

    from trackwire.errors import TrackwireException
    from trackwire.serving.server import ServeOptions, serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.workers < 1:
        _fail("--workers must be at least 1")
    if args.watch_interval <= 0:
        _fail("--watch-interval must be positive")
    try:
        serve(
            ServeOptions(
                model_uri=args.model_uri,
                tracking_uri=args.tracking_uri,
                host=args.host,
                port=args.port,
                grpc_port=args.grpc_port,
                workers=args.workers,
                watch=args.watch,
                watch_interval=args.watch_interval,
                max_body_bytes=args.max_body_size,
                graceful_seconds=args.graceful_timeout,
                access_log=args.access_log,
            )
        )
    except TrackwireException as e:
        _fail(f"cannot serve '{args.model_uri}': {e}")


def run_predict(args: argparse.Namespace) -> None:
    from trackwire.errors import TrackwireException
    from trackwire.serving.batch import predict

    try:
        count = predict(
            args.model_uri,
            args.input_path,
            args.output_path,
            tracking_uri=args.tracking_uri,
            input_format=args.content_type,
            output_format=args.output_format,
        )
    except (TrackwireException, OSError) as e:
        _fail(str(e))
    if args.output_path and args.output_path != "-":
        print(f"scored {count} rows into {args.output_path}", file=sys.stderr)
