"""The gateway's own checks of what callers send: bodies that are not the
request message, NUL characters, and WaitOperation timeouts too long for a
timedelta; each once answered UNKNOWN or INTERNAL (found by
tests/integration/test_bad_input.py)."""

import uuid

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2

from api_gateway.operations import Completions, OperationsApi
from api_gateway.parsing import parsed_in_call
from ember import auth, db, testing
from ember.errors import InvalidArgument
from ember.v1 import volume_pb2, volume_type_pb2

GET_VOLUME = "/ember.v1.VolumeService/GetVolume"
CREATE_VOLUME = "/ember.v1.VolumeService/CreateVolume"
CREATE_TYPE = "/ember.v1.VolumeTypeService/CreateVolumeType"


def forwarding(method: str):
    """A handler that takes bytes, as the proxy's do, wrapped as the gateway wraps it."""

    async def forward(request, context):
        return request

    return parsed_in_call(grpc.unary_unary_rpc_method_handler(forward), method).unary_unary


@pytest.mark.parametrize("body", [b"\x0a\x02\xff\xfe", b"\x0a\x7f", b"\x08" + b"\xff" * 10 + b"\x01", b"\x0f"])
async def test_a_body_that_is_not_the_request_is_invalid_argument(body):
    with pytest.raises(InvalidArgument) as refused:
        await forwarding(GET_VOLUME)(body, None)
    assert refused.value.violations[0][0] == "request"
    assert "not a ember.v1.GetVolumeRequest message" in refused.value.message


@pytest.mark.parametrize("method, request_, field", [
    (GET_VOLUME, volume_pb2.GetVolumeRequest(id="\x00"), "id"),
    (CREATE_VOLUME, volume_pb2.CreateVolumeRequest(size_gb=1, metadata={"k\x00": "v"}), "metadata"),
    (CREATE_VOLUME, volume_pb2.CreateVolumeRequest(size_gb=1, metadata={"k": "v\x00"}), "metadata"),
    (CREATE_TYPE, volume_type_pb2.CreateVolumeTypeRequest(
        volume_type=volume_type_pb2.VolumeType(name="fast\x00")), "volume_type.name"),
    (CREATE_TYPE, volume_type_pb2.CreateVolumeTypeRequest(
        volume_type=volume_type_pb2.VolumeType(name="fast", access_project_ids=["p", "\x00"])),
     "volume_type.access_project_ids"),
])
async def test_nul_in_any_string_is_invalid_argument_whatever_the_database(method, request_, field):
    with pytest.raises(InvalidArgument) as refused:
        await forwarding(method)(request_.SerializeToString(), None)
    assert refused.value.violations == [(field, "must not contain NUL (U+0000) characters")]


async def test_a_request_that_parses_is_forwarded_byte_for_byte():
    body = volume_pb2.CreateVolumeRequest(size_gb=1, name="\U0001f4a9", metadata={"k": "v"}).SerializeToString()
    assert await forwarding(CREATE_VOLUME)(body, None) == body


async def test_a_generated_handler_gets_its_request_parsed():
    async def get(request, context):
        return request

    handler = grpc.unary_unary_rpc_method_handler(get, request_deserializer=volume_pb2.GetVolumeRequest.FromString)
    wrapped = parsed_in_call(handler, GET_VOLUME)
    assert wrapped.request_deserializer is None
    assert await wrapped.unary_unary(b"\x0a\x01a", None) == volume_pb2.GetVolumeRequest(id="a")


@pytest.mark.parametrize("seconds", [2**53, 2**63 - 1, -(2**63)])
async def test_wait_operation_takes_any_timeout_protobuf_can_carry(database, seconds):
    op = db.Operation.create(id=str(uuid.uuid4()), project_id="p", user_id="u", verb="create", target="t", done=True)
    request = operations_pb2.WaitOperationRequest(name=f"operations/{op.id}",
                                                  timeout=duration_pb2.Duration(seconds=seconds))
    answer = await testing.call_as(OperationsApi(Completions(), b"secret").WaitOperation, request,
                                   auth.Identity("p", "u"), timeout=5.0)
    assert answer.done and answer.name == f"operations/{op.id}"
