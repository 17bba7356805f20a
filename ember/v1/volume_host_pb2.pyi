from ember.v1 import attachment_pb2 as _attachment_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OpenExportRequest(_message.Message):
    __slots__ = ("volume_id", "holder", "writable", "snapshot", "connector")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    WRITABLE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    holder: str
    writable: bool
    snapshot: bool
    connector: _attachment_pb2.Connector
    def __init__(self, volume_id: _Optional[str] = ..., holder: _Optional[str] = ..., writable: _Optional[bool] = ..., snapshot: _Optional[bool] = ..., connector: _Optional[_Union[_attachment_pb2.Connector, _Mapping]] = ...) -> None: ...

class CloseExportRequest(_message.Message):
    __slots__ = ("volume_id", "holder")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    holder: str
    def __init__(self, volume_id: _Optional[str] = ..., holder: _Optional[str] = ...) -> None: ...

class CloseExportResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
