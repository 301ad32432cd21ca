"""Direct transfers: a large artifact up and down through presigned URLs, against s3fs
straight to the object store and against the gRPC streaming path, in the same run.

Run with `python bench/direct_transfer.py [--mb 1024] [--repeats 3]`. It starts SeaweedFS
(tests/support/seaweedfs.py, `weed mini` with its S3 gateway on loopback) and two Trackwire
servers over SQLite with the same `s3://` artifact root: one with `--artifacts-direct=auto`
(presigned URLs) and one with `--artifacts-direct=off` (every byte through gRPC). For each
repeat, in an order that rotates from one repeat to the next, it moves one file of
`--mb` MiB:

- presigned: `TrackwireClient.log_artifact` then `download_artifacts` on the direct server
  (parts and ranges in parallel, MD5s checked against the store's ETags);
- s3fs: `S3FileSystem.put` then `get` of the same file, to the same SeaweedFS, with
  s3fs's defaults;
- grpc: the same client calls on the streaming server.

It prints the median seconds and MB/s of each, the ratios presigned/s3fs (target >= 0.8)
and presigned/grpc, and the bytes the direct server's sockets moved, and writes
bench/results/direct_transfer.json. The file and the downloads live in a temporary folder
on disk (`--workdir`), not in memory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]

from common import machine_info, source_revision  # noqa: E402

import trackwire  # noqa: E402
from tests.support.seaweedfs import seaweedfs_s3  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402

MIB = 1024 * 1024
MB = 1_000_000
METHODS = ("presigned", "s3fs", "grpc")
TARGET_VS_S3FS = 0.8
RESULTS = os.path.join(HERE, "results", "direct_transfer.json")


def write_file(path: str, size: int) -> str:
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(0, size, MIB):
            chunk = (i.to_bytes(8, "big") + block[8:])[: min(MIB, size - i)]
            f.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def socket_bytes(pid: int) -> int:
    """Bytes sent and received on the process's open TCP connections (ss -tinp)."""
    import re
    import subprocess

    lines = subprocess.run(["ss", "-tinpH"], capture_output=True, text=True).stdout.splitlines()
    total = 0
    for i, line in enumerate(lines[:-1]):
        if f"pid={pid}," in line:
            total += sum(int(n) for n in re.findall(r"bytes_(?:sent|received):(\d+)", lines[i + 1]))
    return total


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def s3_args(s3, mode: str) -> tuple[str, ...]:
    args = [f"--artifacts-direct={mode}"]
    for name, value in s3.storage_options.items():
        args += ["--artifacts-option", f"{name}={value}"]
    return tuple(args)


def run(mb: int, repeats: int, workdir: str) -> dict:
    size = mb * MIB
    source = os.path.join(workdir, "model.bin")
    print(f"writing a {mb} MiB file in {workdir} ...", flush=True)
    digest = write_file(source, size)
    seconds = {m: {"upload": [], "download": []} for m in METHODS}
    direct_socket_bytes = []
    with seaweedfs_s3() as s3:
        root = f"s3://{s3.bucket}/bench-{uuid.uuid4().hex[:8]}"
        servers = {
            mode: ServerProcess(
                f"sqlite:///{os.path.join(workdir, mode + '.db')}",
                root,
                extra_args=s3_args(s3, mode),
                log_dir=workdir,
            ).start()
            for mode in ("auto", "off")
        }
        try:
            clients = {m: trackwire.TrackwireClient(s.uri) for m, s in servers.items()}
            runs = {
                m: c.create_run(c.create_experiment(f"bench-{uuid.uuid4().hex[:8]}")).info.run_id
                for m, c in clients.items()
            }
            fs = s3.filesystem()

            def move(method: str, repeat: int) -> None:
                target = os.path.join(workdir, f"down-{method}")
                if method == "s3fs":
                    key = f"{s3.bucket}/s3fs-{repeat}/model.bin"
                    up = timed(lambda: fs.put(source, key))
                    down = timed(lambda: fs.get(key, os.path.join(target, "model.bin")))
                    fs.rm(key)
                else:
                    mode = "auto" if method == "presigned" else "off"
                    client, run_id = clients[mode], runs[mode]
                    folder = f"r{repeat}"
                    before = socket_bytes(servers[mode].process.pid)
                    up = timed(lambda: client.log_artifact(run_id, source, folder))
                    down = timed(
                        lambda: client.download_artifacts(run_id, f"{folder}/model.bin", target)
                    )
                    if method == "presigned":
                        direct_socket_bytes.append(socket_bytes(servers[mode].process.pid) - before)
                    fs.rm(f"{root.removeprefix('s3://')}", recursive=True)
                got = sha256_of(os.path.join(target, "model.bin"))
                if got != digest:
                    raise SystemExit(f"{method}: the downloaded file differs from the original")
                shutil.rmtree(target)
                seconds[method]["upload"].append(up)
                seconds[method]["download"].append(down)
                print(
                    f"  repeat {repeat + 1} {method:9s} up {up:6.2f}s ({size / MB / up:6.0f} MB/s)"
                    f"  down {down:6.2f}s ({size / MB / down:6.0f} MB/s)",
                    flush=True,
                )

            for repeat in range(repeats):
                order = METHODS[repeat % 3 :] + METHODS[: repeat % 3]
                for method in order:
                    move(method, repeat)
            peak = {m: s.memory()["VmHWM"] for m, s in servers.items()}
            for c in clients.values():
                c.close()
        finally:
            for s in servers.values():
                s.close()
    medians = {m: {d: statistics.median(v) for d, v in seconds[m].items()} for m in METHODS}
    rates = {m: {d: size / MB / s for d, s in medians[m].items()} for m in METHODS}
    return {
        "machine": {**machine_info(), "revision": source_revision()},
        "file_mib": mb,
        "repeats": repeats,
        "seconds": seconds,
        "median_seconds": medians,
        "median_mb_per_s": rates,
        "presigned_vs_s3fs": {
            d: rates["presigned"][d] / rates["s3fs"][d] for d in ("upload", "download")
        },
        "presigned_vs_grpc": {
            d: rates["presigned"][d] / rates["grpc"][d] for d in ("upload", "download")
        },
        "target_vs_s3fs": TARGET_VS_S3FS,
        "direct_server_socket_bytes": direct_socket_bytes,
        "server_peak_rss_bytes": {"direct": peak["auto"], "grpc": peak["off"]},
    }


def print_table(r: dict) -> None:
    print()
    print(f"{r['file_mib']} MiB file, median of {r['repeats']} (MB/s; seconds)")
    print(f"{'method':12s} {'upload':>20s} {'download':>20s}")
    for m in METHODS:
        cells = [
            f"{r['median_mb_per_s'][m][d]:8.0f} ({r['median_seconds'][m][d]:6.2f}s)"
            for d in ("upload", "download")
        ]
        print(f"{m:12s} {cells[0]:>20s} {cells[1]:>20s}")
    for other in ("s3fs", "grpc"):
        ratio = r[f"presigned_vs_{other}"]
        print(
            f"presigned / {other:5s}   up {ratio['upload']:.2f}x   down {ratio['download']:.2f}x"
            + (f"   (target >= {TARGET_VS_S3FS}x)" if other == "s3fs" else "")
        )
    print(
        "direct server's socket bytes per round trip:",
        ", ".join(f"{b / 1e6:.2f} MB" for b in r["direct_server_socket_bytes"]),
    )
    print(
        "server peak RSS: direct "
        f"{r['server_peak_rss_bytes']['direct'] / MIB:.0f} MiB, grpc "
        f"{r['server_peak_rss_bytes']['grpc'] / MIB:.0f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (default 3)")
    parser.add_argument("--workdir", help="a folder on disk for the file (default: a temp dir)")
    parser.add_argument("--json", default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="tw-direct-bench-", dir=args.workdir)
    try:
        results = run(args.mb, args.repeats, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(results)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.json}")
    ok = all(v >= TARGET_VS_S3FS for v in results["presigned_vs_s3fs"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
