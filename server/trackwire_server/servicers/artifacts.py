"""ArtifactService: upload, download and list the files of a run.

The chunks of uploads and downloads are decoded and encoded by `trackwire_protocol.wire` (the same
wire format, fewer copies): see `add_to_server`.
"""

from __future__ import annotations

import hashlib
import re

import grpc

from trackwire.v1 import artifact_service_pb2 as pb
from trackwire.v1 import artifact_service_pb2_grpc
from trackwire_protocol import wire
from trackwire_protocol.times import timestamp
from trackwire_server import convert
from trackwire_server.artifacts import ArtifactRepository
from trackwire_server.artifacts.direct import DirectTransfers, Part
from trackwire_server.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from trackwire_server.limits import LIMITS
from trackwire_server.store import Store
from trackwire_server.store.constants import DELETED
from trackwire_server.store.validation import check_relative_path

_SHA256 = re.compile(r"[0-9a-f]{64}")


class ArtifactServicer(artifact_service_pb2_grpc.ArtifactServiceServicer):
    def __init__(
        self, store: Store, repository: ArtifactRepository, direct: DirectTransfers | None = None
    ):
        self.store = store
        self.repository = repository
        self.direct = direct or DirectTransfers(repository.locations, mode="off")

    def UploadArtifact(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is not None and first.error:
            raise InvalidArgument(f"message 1 is not an UploadArtifactRequest: {first.error}")
        if first is None or not first.HasField("header"):
            raise InvalidArgument("header is required in the first message of an upload")
        path = check_relative_path("header.path", first.header.path)
        check = _UploadCheck(first.header)
        run = self.store.runs.get_run(first.header.run_id, with_data=False, field="header.run_id")
        if run.lifecycle_stage == DELETED:
            raise FailedPrecondition(f"run {run.run_id} is deleted")
        self.direct.check_stream(run.artifact_uri, path)

        def chunks():
            yield check.add(_checked_data(1, first))
            for number, message in enumerate(request_iterator, start=2):
                if message.error:
                    raise InvalidArgument(
                        f"message {number} is not an UploadArtifactRequest: {message.error}"
                    )
                if message.HasField("header"):
                    raise InvalidArgument("header may only be sent in the first message")
                yield check.add(_checked_data(number, message))
            check.finish()  # before the file is renamed into place (or committed)

        entry = self.repository.write(run.artifact_uri, path, chunks())
        return pb.UploadArtifactResponse(file=convert.file_info(entry))

    def DownloadArtifact(self, request, context):
        path = check_relative_path("path", request.path)
        run = self.store.runs.get_run(request.run_id, with_data=False)
        self.direct.check_stream(run.artifact_uri, path)
        for data in self.repository.read(run.artifact_uri, path):
            yield wire.encode_download_response(data)

    def ListArtifacts(self, request, context):
        path = check_relative_path("path", request.path, allow_empty=True)
        run = self.store.runs.get_run(request.run_id, with_data=False)
        entries = self.repository.list(run.artifact_uri, path)
        return pb.ListArtifactsResponse(files=[convert.file_info(e) for e in entries])

    # -- direct transfers (artifacts/direct.py) -------------------------------------

    def _active_run(self, run_id: str):
        run = self.store.runs.get_run(run_id, with_data=False)
        if run.lifecycle_stage == DELETED:
            raise FailedPrecondition(f"run {run.run_id} is deleted")
        return run

    def StartArtifactUpload(self, request, context):
        path = check_relative_path("path", request.path)
        run = self._active_run(request.run_id)
        plan = self.direct.start_upload(
            run.artifact_uri, path, request.size_bytes, request.content_md5, request.upload_id
        )
        if not plan.direct:
            return pb.StartArtifactUploadResponse(method=pb.TRANSFER_METHOD_STREAM)
        return pb.StartArtifactUploadResponse(
            method=pb.TRANSFER_METHOD_PRESIGNED,
            upload_id=plan.upload_id,
            part_size_bytes=plan.part_size,
            parts=[
                pb.PresignedPart(
                    part_number=p.number,
                    offset=p.offset,
                    size_bytes=p.size,
                    url=p.url,
                    headers=p.headers,
                )
                for p in plan.parts
            ],
            uploaded_parts=[
                pb.UploadedPart(part_number=p.number, size_bytes=p.size, etag=p.etag)
                for p in plan.uploaded
            ],
            expire_time=timestamp(plan.expire_ms),
        )

    def CompleteArtifactUpload(self, request, context):
        path = check_relative_path("path", request.path)
        run = self._active_run(request.run_id)
        size = self.direct.complete_upload(
            run.artifact_uri,
            path,
            request.upload_id,
            request.size_bytes,
            [Part(p.part_number, 0, 0, etag=p.etag) for p in request.parts],
        )
        return pb.CompleteArtifactUploadResponse(
            file=pb.FileInfo(path=path, is_dir=False, file_size=size)
        )

    def AbortArtifactUpload(self, request, context):
        path = check_relative_path("path", request.path)
        run = self.store.runs.get_run(request.run_id, with_data=False)
        self.direct.abort_upload(run.artifact_uri, path, request.upload_id)
        return pb.AbortArtifactUploadResponse()

    def GetArtifactDownloadUrl(self, request, context):
        path = check_relative_path("path", request.path)
        run = self.store.runs.get_run(request.run_id, with_data=False)
        plan = self.direct.download(run.artifact_uri, path)
        if not plan.direct:
            return pb.GetArtifactDownloadUrlResponse(method=pb.TRANSFER_METHOD_STREAM)
        return pb.GetArtifactDownloadUrlResponse(
            method=pb.TRANSFER_METHOD_PRESIGNED,
            url=plan.url,
            size_bytes=plan.size,
            etag=plan.etag,
            part_size_bytes=plan.part_size,
            expire_time=timestamp(plan.expire_ms),
        )


class _UploadCheck:
    """The upload's bytes against the header's declared size and SHA-256 digest."""

    def __init__(self, header: pb.UploadArtifactHeader):
        self.size = header.size_bytes if header.HasField("size_bytes") else None
        if self.size is not None and self.size < 0:
            raise InvalidArgument(
                f"header.size_bytes is {self.size}; a size is 0 or more", field="header.size_bytes"
            )
        self.sha256 = header.sha256
        if self.sha256 and not _SHA256.fullmatch(self.sha256):
            raise InvalidArgument(
                f"header.sha256 '{self.sha256[:80]}' is not 64 lowercase hex digits",
                field="header.sha256",
            )
        self.digest = hashlib.sha256() if self.sha256 else None
        self.received = 0

    def add(self, data: memoryview) -> memoryview:
        self.received += len(data)
        if self.size is not None and self.received > self.size:
            raise self._size_mismatch("more than")
        if self.digest is not None:
            self.digest.update(data)
        return data

    def finish(self) -> None:
        if self.size is not None and self.received != self.size:
            raise self._size_mismatch("only")
        if self.digest is not None and self.digest.hexdigest() != self.sha256:
            raise InvalidArgument(
                f"header.sha256: the {self.received:,} bytes received have the digest "
                f"{self.digest.hexdigest()}, not {self.sha256}; nothing was stored",
                reason="UPLOAD_DIGEST_MISMATCH",
                field="header.sha256",
            )

    def _size_mismatch(self, how: str) -> InvalidArgument:
        return InvalidArgument(
            f"header.size_bytes: the upload carried {how} {self.received:,} bytes; the header "
            f"declares {self.size:,}; nothing was stored",
            reason="UPLOAD_SIZE_MISMATCH",
            field="header.size_bytes",
        )


def _checked_data(number: int, message: wire.UploadChunk) -> memoryview:
    if len(message.data) > LIMITS.max_upload_chunk_bytes:
        raise ResourceExhausted(
            f"message {number} of the upload carries {len(message.data):,} bytes; the limit "
            f"is {LIMITS.max_upload_chunk_bytes:,} per message",
            reason="MESSAGE_TOO_LARGE",
        )
    return message.data


def add_to_server(servicer: ArtifactServicer, server: grpc.Server) -> None:
    """Registers the service as the generated `add_ArtifactServiceServicer_to_server`
    does, with `trackwire_protocol.wire` decoding upload chunks (a view of the received bytes,
    written as it is) and encoding download chunks."""
    handlers = {
        "UploadArtifact": grpc.stream_unary_rpc_method_handler(
            servicer.UploadArtifact,
            request_deserializer=wire.decode_upload_request,
            response_serializer=pb.UploadArtifactResponse.SerializeToString,
        ),
        "DownloadArtifact": grpc.unary_stream_rpc_method_handler(
            servicer.DownloadArtifact,
            request_deserializer=pb.DownloadArtifactRequest.FromString,
            response_serializer=wire.passthrough,
        ),
        "ListArtifacts": grpc.unary_unary_rpc_method_handler(
            servicer.ListArtifacts,
            request_deserializer=pb.ListArtifactsRequest.FromString,
            response_serializer=pb.ListArtifactsResponse.SerializeToString,
        ),
    }
    for name in (
        "StartArtifactUpload",
        "CompleteArtifactUpload",
        "AbortArtifactUpload",
        "GetArtifactDownloadUrl",
    ):
        method = pb.DESCRIPTOR.services_by_name["ArtifactService"].methods_by_name[name]
        request_class = getattr(pb, method.input_type.name)
        response_class = getattr(pb, method.output_type.name)
        handlers[name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=request_class.FromString,
            response_serializer=response_class.SerializeToString,
        )
    service = pb.DESCRIPTOR.services_by_name["ArtifactService"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)
