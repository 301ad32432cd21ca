"""The Trackwire model format: MLmodel descriptors, signatures, input examples."""

from trackwire.models.download import download_model
from trackwire.models.enforcement import SignatureError
from trackwire.models.environment import EnvironmentMismatchWarning
from trackwire.models.model import MLMODEL_FILE, Model, ModelInfo
from trackwire.models.signature import (
    ColSpec,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
)

__all__ = [
    "MLMODEL_FILE",
    "ColSpec",
    "EnvironmentMismatchWarning",
    "Model",
    "ModelInfo",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "SignatureError",
    "TensorSpec",
    "download_model",
    "infer_signature",
]
