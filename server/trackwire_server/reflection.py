"""Server reflection, as `grpc.reflection.v1` and its predecessor `v1alpha`.

grpcio-reflection serves v1alpha only. The two protocols are the same messages with the
same field numbers under another package, so v1 is served by grpcio-reflection's own
servicer, its messages read and written in v1alpha's classes; `generated.reflection_pb2`
(from protos/grpc/reflection/v1) puts v1's descriptors in the pool, so the service can
describe itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from grpc_reflection.v1alpha import reflection as v1alpha
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2

from trackwire_server.generated import reflection_pb2 as v1_pb2

V1_SERVICE_NAME = v1_pb2.DESCRIPTOR.services_by_name["ServerReflection"].full_name
V1ALPHA_SERVICE_NAME = v1alpha.SERVICE_NAME


def enable_server_reflection(service_names: Iterable[str], server: grpc.Server) -> None:
    """Serves reflection v1 and v1alpha on `server`, both listing `service_names` and
    the two reflection services."""
    names = (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    servicer = v1alpha.ReflectionServicer(names)
    v1alpha.enable_server_reflection(names, server)
    handlers = {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=v1alpha_pb2.ServerReflectionRequest.FromString,
            response_serializer=v1alpha_pb2.ServerReflectionResponse.SerializeToString,
        )
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE_NAME, handlers),)
    )
