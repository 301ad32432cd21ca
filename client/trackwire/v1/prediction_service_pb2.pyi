from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DoubleValues(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class Int64Values(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class StringValues(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class BoolValues(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, values: _Optional[_Iterable[bool]] = ...) -> None: ...

class BytesValues(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, values: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Column(_message.Message):
    __slots__ = ("name", "doubles", "int64s", "strings", "bools", "bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOUBLES_FIELD_NUMBER: _ClassVar[int]
    INT64S_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    BOOLS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    doubles: DoubleValues
    int64s: Int64Values
    strings: StringValues
    bools: BoolValues
    bytes: BytesValues
    def __init__(self, name: _Optional[str] = ..., doubles: _Optional[_Union[DoubleValues, _Mapping]] = ..., int64s: _Optional[_Union[Int64Values, _Mapping]] = ..., strings: _Optional[_Union[StringValues, _Mapping]] = ..., bools: _Optional[_Union[BoolValues, _Mapping]] = ..., bytes: _Optional[_Union[BytesValues, _Mapping]] = ...) -> None: ...

class Table(_message.Message):
    __slots__ = ("columns",)
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    def __init__(self, columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ...) -> None: ...

class Tensor(_message.Message):
    __slots__ = ("name", "shape", "doubles", "int64s", "strings", "bools")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DOUBLES_FIELD_NUMBER: _ClassVar[int]
    INT64S_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    BOOLS_FIELD_NUMBER: _ClassVar[int]
    name: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    doubles: DoubleValues
    int64s: Int64Values
    strings: StringValues
    bools: BoolValues
    def __init__(self, name: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., doubles: _Optional[_Union[DoubleValues, _Mapping]] = ..., int64s: _Optional[_Union[Int64Values, _Mapping]] = ..., strings: _Optional[_Union[StringValues, _Mapping]] = ..., bools: _Optional[_Union[BoolValues, _Mapping]] = ...) -> None: ...

class Tensors(_message.Message):
    __slots__ = ("tensors",)
    TENSORS_FIELD_NUMBER: _ClassVar[int]
    tensors: _containers.RepeatedCompositeFieldContainer[Tensor]
    def __init__(self, tensors: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("table", "tensor", "tensors", "params_json")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    TENSORS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    table: Table
    tensor: Tensor
    tensors: Tensors
    params_json: str
    def __init__(self, table: _Optional[_Union[Table, _Mapping]] = ..., tensor: _Optional[_Union[Tensor, _Mapping]] = ..., tensors: _Optional[_Union[Tensors, _Mapping]] = ..., params_json: _Optional[str] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("table", "tensor", "tensors", "model_uri_resolved")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    TENSORS_FIELD_NUMBER: _ClassVar[int]
    MODEL_URI_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    table: Table
    tensor: Tensor
    tensors: Tensors
    model_uri_resolved: str
    def __init__(self, table: _Optional[_Union[Table, _Mapping]] = ..., tensor: _Optional[_Union[Tensor, _Mapping]] = ..., tensors: _Optional[_Union[Tensors, _Mapping]] = ..., model_uri_resolved: _Optional[str] = ...) -> None: ...

class GetServedModelRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServedModelResponse(_message.Message):
    __slots__ = ("model_uri", "model_uri_resolved", "signature_json")
    MODEL_URI_FIELD_NUMBER: _ClassVar[int]
    MODEL_URI_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_JSON_FIELD_NUMBER: _ClassVar[int]
    model_uri: str
    model_uri_resolved: str
    signature_json: str
    def __init__(self, model_uri: _Optional[str] = ..., model_uri_resolved: _Optional[str] = ..., signature_json: _Optional[str] = ...) -> None: ...
