"""The gateways of EMBER_URL (one, or several separated by commas) as one
grpc.Channel that sends each call on to the next gateway only when that is safe."""

from __future__ import annotations

import grpc

from ember.errors import reason_of
from ember.grpc_server import STOPPING
from ember.internal_client import never_arrived

# gRPC reads its connect timeout from this option, despite the name: a
# gateway whose host drops packets counts as unreachable after 5 s rather
# than gRPC's default 20 s, well within a call's own timeout.
OPTIONS = (("grpc.min_reconnect_backoff_ms", 5000),)
# Ends of a call that reached a gateway without saying whether it took
# effect there: the gateway went away, or it did not answer in time.
UNSETTLED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
READS = ("Get", "List", "Wait")


def parse(url: str) -> list[str]:
    """EMBER_URL's gateways, in the order they are tried."""
    return [address.strip() for address in url.split(",") if address.strip()]


def idempotent(method: str, request) -> bool:
    """A read, or a change under a request_id (Ember answers a repeated
    request_id with what the first call started, see ember/replay.py)."""
    return method.rpartition("/")[2].startswith(READS) or bool(getattr(request, "request_id", ""))


def may_go_elsewhere(method: str, request, error: grpc.RpcError) -> bool:
    """A call that never reached its gateway, or that a stopping gateway
    turned away undone, may go to any other; one that may have reached it,
    only if doing it twice does no harm."""
    if never_arrived(error) or (error.code() == grpc.StatusCode.UNAVAILABLE and reason_of(error) == STOPPING):
        return True
    return error.code() in UNSETTLED and idempotent(method, request)


class Gateways(grpc.Channel):
    """A channel per gateway; a unary call goes first to the gateway that
    answered last, then on through EMBER_URL's list (wrapping around) while
    may_go_elsewhere allows, to each gateway at most once.

    gRPC can spread calls over several addresses itself (an `ipv4:a,b`
    target with pick_first or round_robin, plus a retryPolicy), and the
    examples use that. The CLI does not, because that cannot express its
    rules: such a target takes IP literals only (gRPC Python has no resolver
    for a list of host names), one channel verifies TLS against one name
    whereas each gateway's certificate names its own address, a retryPolicy
    is chosen by method name and cannot see a request's request_id, and
    gRPC never retries past a call's deadline, which is how a gateway that
    hangs shows. What gRPC does decide is kept: "failed to connect", its
    word that a call never got a connection, is what lets any call move on.
    Streaming calls (the CLI makes none) do not move: they go to the gateway
    that answered last before their stub was made."""

    def __init__(self, addresses: list[str], credentials: grpc.ChannelCredentials | None = None):
        self.channels = [grpc.secure_channel(a, credentials, options=OPTIONS) if credentials
                         else grpc.insecure_channel(a, options=OPTIONS) for a in addresses]
        self.current = 0

    def in_turn(self) -> list[int]:
        return [(self.current + i) % len(self.channels) for i in range(len(self.channels))]

    def unary_unary(self, method, request_serializer=None, response_deserializer=None, **kwargs):
        return _FailOver(self, method, [channel.unary_unary(method, request_serializer, response_deserializer,
                                                            **kwargs) for channel in self.channels])

    def unary_stream(self, *args, **kwargs):
        return self.channels[self.current].unary_stream(*args, **kwargs)

    def stream_unary(self, *args, **kwargs):
        return self.channels[self.current].stream_unary(*args, **kwargs)

    def stream_stream(self, *args, **kwargs):
        return self.channels[self.current].stream_stream(*args, **kwargs)

    def subscribe(self, callback, try_to_connect=False):
        self.channels[self.current].subscribe(callback, try_to_connect)

    def unsubscribe(self, callback):
        self.channels[self.current].unsubscribe(callback)

    def close(self):
        for channel in self.channels:
            channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


class _FailOver:
    """One unary method on every gateway."""

    def __init__(self, gateways: Gateways, method: str, calls: list):
        self.gateways, self.method, self.calls = gateways, method, calls

    def __call__(self, request, **kwargs):
        errors = []
        for index in self.gateways.in_turn():
            try:
                answer = self.calls[index](request, **kwargs)
            except grpc.RpcError as error:
                if not may_go_elsewhere(self.method, request, error):
                    raise
                errors.append(error)
                continue
            self.gateways.current = index
            return answer
        # What the last gateway that was reached said tells more than "failed to connect".
        raise next((e for e in reversed(errors) if not never_arrived(e)), errors[-1])
