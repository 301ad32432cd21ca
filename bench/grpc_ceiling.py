"""What gRPC itself can stream on this machine: the ceiling for artifact transfers.

Run with `python bench/grpc_ceiling.py [--mb N] [--repeats R]`. A server process (this
script with --serve) receives uploads and discards the bytes, and answers downloads with
slices of one buffer held in memory, so neither side touches a disk nor a database: what
is measured is Python gRPC on loopback alone. For each chunk size (64 KiB..4 MiB), for the
default channel options and for larger HTTP/2 windows and read buffers, and for 1, 2 and 4
parallel streams sharing the N MB, it prints the median MB/s of R repeats, for uploads
(client-streaming) and downloads (server-streaming). Messages are raw bytes (no protobuf),
then, for one line, the ArtifactService's own messages.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import statistics
import subprocess
import sys
import time

import grpc

MB = 1_000_000
KiB = 1024
MiB = 1024 * KiB
SERVICE = "ceiling.Sink"

BIG = 64 * MiB
OPTIONS = {
    "default": [
        ("grpc.max_receive_message_length", BIG),
        ("grpc.max_send_message_length", BIG),
    ],
    "big-windows": [
        ("grpc.max_receive_message_length", BIG),
        ("grpc.max_send_message_length", BIG),
        ("grpc.http2.lookahead_bytes", 16 * MiB),
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.max_frame_size", 16 * MiB - 1),
        ("grpc.http2.write_buffer_size", 16 * MiB),
        ("grpc.experimental.tcp_min_read_chunk_size", 1 * MiB),
        ("grpc.experimental.tcp_max_read_chunk_size", 16 * MiB),
        ("grpc.experimental.tcp_read_chunk_size", 4 * MiB),
    ],
}


def identity(b):
    return b


# -- the server ----------------------------------------------------------------------


def serve(option_name: str) -> None:
    payload = os.urandom(4 * MiB)

    def upload(request_iterator, context):
        total = 0
        for chunk in request_iterator:
            total += len(chunk)
        return str(total).encode()

    def download(request, context):
        size, chunk = (int(x) for x in request.decode().split(","))
        blob = payload[:chunk]
        sent = 0
        while sent < size:
            n = min(chunk, size - sent)
            yield blob if n == chunk else blob[:n]
            sent += n

    def upload_pb(request_iterator, context):
        from trackwire.v1 import artifact_service_pb2 as pb

        total = 0
        for message in request_iterator:
            total += len(message.data)
        return pb.UploadArtifactResponse(file=pb.FileInfo(file_size=total))

    def download_pb(request, context):
        from trackwire.v1 import artifact_service_pb2 as pb

        size, chunk = (int(x) for x in request.path.split(","))
        blob = payload[:chunk]
        sent = 0
        while sent < size:
            n = min(chunk, size - sent)
            yield pb.DownloadArtifactResponse(data=blob if n == chunk else blob[:n])
            sent += n

    from trackwire.v1 import artifact_service_pb2 as pb

    handlers = {
        "Upload": grpc.stream_unary_rpc_method_handler(upload, identity, identity),
        "Download": grpc.unary_stream_rpc_method_handler(download, identity, identity),
        "UploadPb": grpc.stream_unary_rpc_method_handler(
            upload_pb,
            pb.UploadArtifactRequest.FromString,
            pb.UploadArtifactResponse.SerializeToString,
        ),
        "DownloadPb": grpc.unary_stream_rpc_method_handler(
            download_pb,
            pb.DownloadArtifactRequest.FromString,
            pb.DownloadArtifactResponse.SerializeToString,
        ),
    }
    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=16), options=OPTIONS[option_name]
    )
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


# -- the client ----------------------------------------------------------------------


class Server:
    def __init__(self, option_name: str):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", option_name],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        if not match:
            raise RuntimeError(f"server did not start: {line!r}")
        self.target = match.group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def upload_once(channel, size: int, chunk: int, streams: int, buffer: bytes) -> None:
    call = channel.stream_unary(f"/{SERVICE}/Upload", identity, identity)
    share = size // streams
    view = memoryview(buffer)

    def one(_i):
        def chunks():
            sent = 0
            while sent < share:
                n = min(chunk, share - sent)
                yield view[:n].tobytes() if n != chunk else buffer[:chunk]
                sent += n

        return int(call(chunks()))

    run_parallel(one, streams)


def upload_once_pb(channel, size: int, chunk: int, buffer: bytes) -> None:
    from trackwire.v1 import artifact_service_pb2 as pb

    call = channel.stream_unary(
        f"/{SERVICE}/UploadPb",
        pb.UploadArtifactRequest.SerializeToString,
        pb.UploadArtifactResponse.FromString,
    )
    blob = buffer[:chunk]

    def requests():
        sent = 0
        while sent < size:
            n = min(chunk, size - sent)
            yield pb.UploadArtifactRequest(data=blob if n == chunk else blob[:n])
            sent += n

    call(requests())


def download_once(channel, size: int, chunk: int, streams: int) -> None:
    call = channel.unary_stream(f"/{SERVICE}/Download", identity, identity)
    share = size // streams

    def one(_i):
        total = 0
        for data in call(f"{share},{chunk}".encode()):
            total += len(data)
        assert total == share, (total, share)

    run_parallel(one, streams)


def download_once_pb(channel, size: int, chunk: int) -> None:
    from trackwire.v1 import artifact_service_pb2 as pb

    call = channel.unary_stream(
        f"/{SERVICE}/DownloadPb",
        pb.DownloadArtifactRequest.SerializeToString,
        pb.DownloadArtifactResponse.FromString,
    )
    total = 0
    for message in call(pb.DownloadArtifactRequest(path=f"{size},{chunk}")):
        total += len(message.data)
    assert total == size


def run_parallel(fn, streams: int) -> None:
    if streams == 1:
        fn(0)
        return
    with concurrent.futures.ThreadPoolExecutor(streams) as pool:
        list(pool.map(fn, range(streams)))


def measure(fn, size: int, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return size / MB / statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    size = args.mb * MB
    buffer = os.urandom(4 * MiB)
    print(f"{args.mb} MB per transfer, median of {args.repeats}, MB/s; {os.cpu_count()} cores")
    print("| options | chunk | streams | upload MB/s | download MB/s |")
    print("|---|---|---|---|---|")
    for option_name, options in OPTIONS.items():
        server = Server(option_name)
        try:
            channel = grpc.insecure_channel(server.target, options=options)
            for chunk in (64 * KiB, 256 * KiB, 1 * MiB, 2 * MiB, 4 * MiB):
                for streams in (1, 2, 4):
                    up = measure(
                        lambda c=chunk, s=streams, ch=channel: upload_once(ch, size, c, s, buffer),
                        size,
                        args.repeats,
                    )
                    down = measure(
                        lambda c=chunk, s=streams, ch=channel: download_once(ch, size, c, s),
                        size,
                        args.repeats,
                    )
                    print(
                        f"| {option_name} | {chunk // KiB} KiB | {streams} | {up:,.0f} | "
                        f"{down:,.0f} |",
                        flush=True,
                    )
            for chunk in (1 * MiB, 4 * MiB):
                up = measure(
                    lambda c=chunk, ch=channel: upload_once_pb(ch, size, c, buffer),
                    size,
                    args.repeats,
                )
                down = measure(
                    lambda c=chunk, ch=channel: download_once_pb(ch, size, c), size, args.repeats
                )
                print(
                    f"| {option_name} | {chunk // KiB} KiB protobuf | 1 | {up:,.0f} | "
                    f"{down:,.0f} |",
                    flush=True,
                )
            channel.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
