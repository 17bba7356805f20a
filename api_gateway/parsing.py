"""Every request the gateway takes is parsed inside the call, where a body
that is not the method's request message (cut short, invalid UTF-8 in a
string, a bad wire type) becomes INVALID_ARGUMENT. Parsed by grpc before the
call, it would be UNKNOWN, from the gateway or from the service behind it.
Strings with NUL characters are refused here too, for every service."""

from __future__ import annotations

from typing import Iterator

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError

from ember.errors import InvalidArgument


def request_class(method: str):
    """The request message class of '/package.Service/Method', or None."""
    service, _, name = method.strip("/").partition("/")
    try:
        descriptor = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name)
    except KeyError:
        return None
    return message_factory.GetMessageClass(descriptor.input_type)


def _strings(message, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, text) of every string in `message`: nested, repeated, map keys and values."""
    for field, value in message.ListFields():
        name = path + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, item = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            for k, v in value.items():
                yield from _values(key, k, name)
                yield from _values(item, v, name)
        elif field.is_repeated:
            for v in value:
                yield from _values(field, v, name)
        else:
            yield from _values(field, value, name)


def _values(field, value, path: str) -> Iterator[tuple[str, str]]:
    if field.type == FieldDescriptor.TYPE_STRING:
        yield path, value
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        yield from _strings(value, path + ".")


def parse(deserializer, request: bytes, type_name: str):
    """The request message; InvalidArgument if the bytes are not one, or if
    a string in it holds NUL, which PostgreSQL cannot store (SQLite can: the
    answer must not depend on the database)."""
    try:
        message = deserializer(request)
    except DecodeError as exc:
        # "Error parsing message with type '...': <what>": the type is said below.
        what = str(exc).rpartition(": ")[2] or "cannot parse"
        raise InvalidArgument("request", f"the body is not a {type_name} message: {what}", "MALFORMED_REQUEST")
    for path, text in _strings(message):
        if "\x00" in text:
            raise InvalidArgument(path, "must not contain NUL (U+0000) characters")
    return message


def parsed_in_call(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    """`handler`, taking the request's bytes and parsing them in the call. A
    handler that takes bytes (the proxy) gets them unchanged once they parse."""
    cls = request_class(method)
    if cls is None or handler.request_streaming:
        return handler
    passes_bytes = handler.request_deserializer is None
    deserializer = cls.FromString if passes_bytes else handler.request_deserializer
    type_name = cls.DESCRIPTOR.full_name

    def request_of(body: bytes):
        message = parse(deserializer, body, type_name)
        return body if passes_bytes else message

    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def call(body, context):
            return await unary(request_of(body), context)

        return grpc.unary_unary_rpc_method_handler(call, response_serializer=handler.response_serializer)
    if handler.unary_stream is not None:
        streaming = handler.unary_stream

        async def stream(body, context):
            async for response in streaming(request_of(body), context):
                yield response

        return grpc.unary_stream_rpc_method_handler(stream, response_serializer=handler.response_serializer)
    return handler


class ParsedInCall(grpc.GenericRpcHandler):
    """Another generic handler's methods, with their requests parsed in the call."""

    def __init__(self, inner: grpc.GenericRpcHandler):
        self.inner = inner

    def service(self, handler_call_details):
        handler = self.inner.service(handler_call_details)
        return None if handler is None else parsed_in_call(handler, handler_call_details.method)


class _Registrar:
    """Stands for the server while a generated add_XServicer_to_server runs,
    so that its handlers are registered parsed in the call."""

    def __init__(self, server):
        self.server = server

    def add_generic_rpc_handlers(self, handlers) -> None:
        self.server.add_generic_rpc_handlers([ParsedInCall(h) for h in handlers])

    def add_registered_method_handlers(self, service: str, handlers) -> None:
        # Registered methods skip the generic handlers; leaving them out sends
        # every call through add_generic_rpc_handlers above.
        pass


def add_parsed_in_call(add_servicer):
    """A generated add_XServicer_to_server whose servicer gets requests parsed in the call."""

    def add(servicer, server) -> None:
        add_servicer(servicer, _Registrar(server))

    return add
