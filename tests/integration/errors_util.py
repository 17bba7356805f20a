"""Reading the rich error details a gRPC user receives."""

from google.rpc import error_details_pb2
from grpc_status import rpc_status


def details(error):
    """(ErrorInfo, BadRequest or None) of a failed call."""
    status = rpc_status.from_call(error)
    info, bad = None, None
    for any_detail in status.details:
        if any_detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            any_detail.Unpack(info)
        elif any_detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            any_detail.Unpack(bad)
    return info, bad
