"""One prediction, the same for HTTP, gRPC and batch scoring: the model's signature is
enforced by `PyFuncModel.predict`; what it refuses, and what the model itself raises
on the input, is a `BadRequest` with the message (HTTP 400, gRPC INVALID_ARGUMENT), as
MLflow's server answers 400 for both."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from trackwire.errors import InvalidArgumentError
from trackwire.serving.inputs import BadRequest
from trackwire.serving.served_model import LoadedModel

log = logging.getLogger("trackwire.serving")


def quiet_signature_warnings() -> None:
    """Extra columns and unknown params are dropped, as MLflow's server does; a warning
    for each request would flood a server's log (set once: catch_warnings is per
    process, not per thread)."""
    warnings.filterwarnings("ignore", message=r".*not in the model's signature.*")
    warnings.filterwarnings("ignore", message=r".*the model's signature declares none.*")


def predict(loaded: LoadedModel, data: Any, params: dict | None) -> Any:
    fast = loaded.fast
    if fast is not None and not params:
        rows = fast.rows_frame(data)
        if rows is not None:
            try:
                return fast.predict(rows)
            except Exception:  # noqa: S110 (the general path below words what is wrong)
                pass
    try:
        return loaded.model.predict(data, params=params)
    except BadRequest:
        raise
    except InvalidArgumentError as e:
        raise BadRequest(str(e)) from None
    except Exception as e:  # the model's own code refused this input
        log.warning("the model raised on a request", exc_info=True)
        raise BadRequest(
            f"the model could not score this input ({type(e).__name__}): {e}"
        ) from None
