"""The gRPC face of the scoring server: trackwire.v1.PredictionService.

Tables travel as named typed columns, tensors as a shape and flat typed values
(protos/trackwire/v1/prediction_service.proto). `table_from_frame`, `tensor_from_array`
and `predictions_from_response` are the conversions a Python caller needs too.
"""

from __future__ import annotations

import json
import logging
from concurrent import futures
from typing import Any

import grpc
import numpy as np

from trackwire.serving import inputs, scoring
from trackwire.serving.served_model import ServedModel
from trackwire.v1 import prediction_service_pb2 as pb
from trackwire.v1 import prediction_service_pb2_grpc as pb_grpc

log = logging.getLogger("trackwire.serving")

_FIELDS = ("doubles", "int64s", "strings", "bools", "bytes")


def _values_field(array: np.ndarray, where: str) -> tuple[str, Any]:
    """(oneof field name, message) holding `array`'s values."""
    kind = array.dtype.kind
    if kind == "f":
        return "doubles", pb.DoubleValues(values=array.astype(np.float64, copy=False).ravel())
    if kind in "iu":
        return "int64s", pb.Int64Values(values=array.astype(np.int64, copy=False).ravel())
    if kind == "b":
        return "bools", pb.BoolValues(values=array.ravel().tolist())
    if kind in "US":
        return "strings", pb.StringValues(values=[str(v) for v in array.ravel()])
    values = array.ravel().tolist()
    if all(isinstance(v, str) for v in values):
        return "strings", pb.StringValues(values=values)
    if all(isinstance(v, (bytes, bytearray)) for v in values):
        return "bytes", pb.BytesValues(values=values)
    if all(isinstance(v, bool) for v in values):
        return "bools", pb.BoolValues(values=values)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "doubles", pb.DoubleValues(values=[float(v) for v in values])
    raise inputs.BadRequest(f"{where}: values of mixed or unsupported types cannot be sent")


def _array_of(message: Any, where: str) -> np.ndarray:
    field = message.WhichOneof("values")
    if field is None:
        raise inputs.BadRequest(f"{where} has no values (set one of {', '.join(_FIELDS)})")
    values = getattr(message, field).values
    if field == "doubles":
        return np.array(values, dtype=np.float64)
    if field == "int64s":
        return np.array(values, dtype=np.int64)
    if field == "bools":
        return np.array(values, dtype=np.bool_)
    return np.array(list(values), dtype=object)


def table_from_frame(frame: Any) -> pb.Table:
    """A pandas DataFrame (or a dict of equal-length columns) as a Table."""
    items = frame.items() if hasattr(frame, "items") else frame
    table = pb.Table()
    for name, column in items:
        array = column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)
        field, values = _values_field(array, f"column '{name}'")
        getattr(table.columns.add(name=str(name)), field).CopyFrom(values)
    return table


def frame_from_table(table: pb.Table) -> Any:
    import pandas as pd

    if not table.columns:
        raise inputs.BadRequest("table has no columns")
    columns = {}
    for i, column in enumerate(table.columns):
        if not column.name:
            raise inputs.BadRequest(f"table.columns[{i}] has no name")
        if column.name in columns:
            raise inputs.BadRequest(f"table has column '{column.name}' twice")
        columns[column.name] = _array_of(column, f"column '{column.name}'")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise inputs.BadRequest(
            "table columns have different lengths: "
            + ", ".join(f"{k}={len(v)}" for k, v in columns.items())
        )
    return pd.DataFrame(columns)


def tensor_from_array(array: Any, name: str = "") -> pb.Tensor:
    array = np.asarray(array)
    field, values = _values_field(array, f"tensor '{name}'" if name else "tensor")
    tensor = pb.Tensor(name=name, shape=list(array.shape))
    getattr(tensor, field).CopyFrom(values)
    return tensor


def array_from_tensor(tensor: pb.Tensor) -> np.ndarray:
    where = f"tensor '{tensor.name}'" if tensor.name else "tensor"
    array = _array_of(tensor, where)
    shape = tuple(tensor.shape)
    if any(d < 0 for d in shape) or int(np.prod(shape)) != array.size:
        raise inputs.BadRequest(
            f"{where} has shape {list(shape)} ({int(np.prod(shape))} values) but {array.size} values"
        )
    return array.reshape(shape)


def request_input(request: pb.PredictRequest) -> Any:
    which = request.WhichOneof("input")
    if which is None:
        raise inputs.BadRequest("the request has no input: set table, tensor or tensors")
    if which == "table":
        return frame_from_table(request.table)
    if which == "tensor":
        return array_from_tensor(request.tensor)
    named = {}
    for i, tensor in enumerate(request.tensors.tensors):
        if not tensor.name:
            raise inputs.BadRequest(f"tensors.tensors[{i}] has no name")
        named[tensor.name] = array_from_tensor(tensor)
    if not named:
        raise inputs.BadRequest("tensors is empty")
    return named


def request_params(request: pb.PredictRequest) -> dict | None:
    if not request.params_json:
        return None
    try:
        params = json.loads(request.params_json)
    except json.JSONDecodeError as e:
        raise inputs.BadRequest(f"params_json is not valid JSON: {e}") from None
    if not isinstance(params, dict):
        raise inputs.BadRequest("params_json must be a JSON object")
    return params


def response_for(predictions: Any, resolved_uri: str) -> pb.PredictResponse:
    response = pb.PredictResponse(model_uri_resolved=resolved_uri)
    module = type(predictions).__module__
    if module.startswith("pandas") and type(predictions).__name__ == "DataFrame":
        response.table.CopyFrom(table_from_frame(predictions))
    elif module.startswith("pandas"):  # a Series
        response.tensor.CopyFrom(
            tensor_from_array(predictions.to_numpy(), str(predictions.name or ""))
        )
    elif isinstance(predictions, dict):
        response.tensors.tensors.extend(
            tensor_from_array(value, str(name)) for name, value in predictions.items()
        )
    else:
        from trackwire.serving.outputs import jsonable

        response.tensor.CopyFrom(tensor_from_array(jsonable(predictions)))
    return response


def predictions_from_response(response: pb.PredictResponse) -> Any:
    """A response's predictions as a DataFrame, an array or a dict of arrays."""
    which = response.WhichOneof("output")
    if which == "table":
        return frame_from_table(response.table)
    if which == "tensor":
        return array_from_tensor(response.tensor)
    return {t.name: array_from_tensor(t) for t in response.tensors.tensors}


class PredictionServicer(pb_grpc.PredictionServiceServicer):
    def __init__(self, served: ServedModel):
        self.served = served

    def Predict(self, request, context):
        loaded = self.served.current
        try:
            data = request_input(request)
            predictions = scoring.predict(loaded, data, request_params(request))
            return response_for(predictions, loaded.resolved_uri)
        except inputs.BadRequest as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))

    def GetServedModel(self, request, context):
        loaded = self.served.current
        signature = loaded.signature
        return pb.GetServedModelResponse(
            model_uri=loaded.model_uri,
            model_uri_resolved=loaded.resolved_uri,
            signature_json=json.dumps(signature.to_dict()) if signature else "",
        )


def start_grpc_server(
    served: ServedModel, host: str, port: int, max_message_bytes: int, threads: int = 8
) -> tuple[grpc.Server, int]:
    """Starts PredictionService (and the standard health service) on host:port; several
    worker processes may share the port (SO_REUSEPORT)."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="trackwire-predict"),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 1),
        ],
    )
    pb_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(served), server)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("trackwire.v1.PredictionService", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not listen for gRPC on {host}:{port}")
    server.start()
    return server, bound
