"""Which server answered: gRPC's channelz counts, per subchannel (one per server address
of a round_robin channel), the calls this process's channels completed. A client's call
object does not say which server it reached; channelz does.

    before = calls_by_port()
    ...  # calls through a fleet URI
    served_between(before, calls_by_port())   # {port, ...} that answered since
"""

from __future__ import annotations

import collections
import json

# grpcio's own binding of channelz (what the grpcio-channelz package serves over gRPC).
from grpc._cython import cygrpc


def calls_by_port() -> collections.Counter:
    """Calls completed by this process's channels, by the server port they went to."""
    counts: collections.Counter = collections.Counter()
    for channel in json.loads(cygrpc.channelz_get_top_channels(0)).get("channel", []):
        for ref in channel.get("subchannelRef", []):
            data = json.loads(cygrpc.channelz_get_subchannel(int(ref["subchannelId"])))
            data = data["subchannel"]["data"]
            port = int(data["target"].rsplit(":", 1)[1])
            counts[port] += int(data.get("callsSucceeded", 0))
    return counts


def served_between(before: collections.Counter, after: collections.Counter) -> set[int]:
    """The ports that completed calls between two `calls_by_port()`."""
    return {port for port, n in after.items() if n > before.get(port, 0)}
