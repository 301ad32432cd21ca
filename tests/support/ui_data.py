"""Real data for the web UI tests and benchmark, written through the public client."""

from __future__ import annotations

import io
import struct
import zlib

from trackwire import Metric, TrackwireClient

XSS_NAME = "<script>window.__xss = 1; alert(1)</script>"
XSS_TAG = '<img src=x onerror="window.__xss = 2">'
MODEL_TYPES = ("rf", "lr", "xgb")
T0 = 1_700_000_000_000


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    """A small gradient PNG, written by hand (no imaging library needed)."""
    rows = b"".join(
        b"\x00" + bytes(c for x in range(width) for c in (x * 4 % 256, y * 5 % 256, 160))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def seed_experiment(client: TrackwireClient, name: str = "customer_churn", runs: int = 24) -> dict:
    """An experiment of finished runs with params, metric curves, a nested pair, an XSS-named
    run and artifacts on the first run. Returns the ids the tests look for."""
    experiment_id = client.create_experiment(name)
    ids = []
    for i in range(runs):
        model = MODEL_TYPES[i % 3]
        accuracy = 0.70 + 0.01 * i
        run = client.create_run(
            experiment_id,
            run_name=f"run-{i:02d}-{model}",
            start_time=T0 + i * 60_000,
            params={"model_type": model, "C": round(0.1 * (i + 1), 2), "max_iter": 100},
            tags={"team": "growth"},
        )
        run_id = run.info.run_id
        curve = [
            Metric("loss", 1.0 / (s + 1) + 0.01 * i, T0 + i * 60_000 + s * 1000, s)
            for s in range(50)
        ]
        client.log_batch(
            run_id,
            metrics=[
                *curve,
                Metric("accuracy", accuracy, T0 + i * 60_000, 50),
                Metric("f1", accuracy - 0.05 + 0.002 * (i % 5), T0 + i * 60_000, 50),
            ],
        )
        client.set_terminated(run_id, "FINISHED", end_time=T0 + i * 60_000 + 50_000)
        ids.append(run_id)
    parent = client.create_run(experiment_id, run_name="sweep-parent").info.run_id
    children = [
        client.create_run(
            experiment_id, run_name=f"sweep-child-{k}", parent_run_id=parent
        ).info.run_id
        for k in range(2)
    ]
    for run_id in (parent, *children):
        client.set_terminated(run_id, "FINISHED")
    xss = client.create_run(experiment_id, run_name=XSS_NAME, tags={"evil": XSS_TAG}).info.run_id
    client.log_param(xss, "model_type", XSS_TAG)
    client.set_tag(xss, "trackwire.note.content", f"# Note\n{XSS_TAG} and {XSS_NAME}")
    client.log_metric(xss, "accuracy", 0.5)
    client.set_terminated(xss, "FINISHED")
    first = ids[0]
    client.log_bytes(first, png_bytes(), "plots/confusion.png")
    csv = io.StringIO()
    csv.write("feature,importance\n")
    for k in range(10):
        csv.write(f"f{k},{1 / (k + 1):.3f}\n")
    csv.write('"quoted, name",0.001\n')
    client.log_bytes(first, csv.getvalue().encode(), "data/importances.csv")
    client.log_bytes(first, b'{"threshold": 0.5, "classes": ["stay", "churn"]}', "config.json")
    client.log_bytes(
        first,
        b"artifact_path: model\nflavors:\n  sklearn:\n    sklearn_version: 1.5.2\n",
        "model/MLmodel",
    )
    return {
        "experiment_id": experiment_id,
        "runs": ids,
        "parent": parent,
        "children": children,
        "xss": xss,
    }
