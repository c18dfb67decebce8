from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CallFlag(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_FLAG_NONE: _ClassVar[CallFlag]
    CALL_FLAG_NO_RETURN: _ClassVar[CallFlag]
    CALL_FLAG_DILL: _ClassVar[CallFlag]
    CALL_FLAG_STREAM: _ClassVar[CallFlag]
    CALL_FLAG_ANSWER: _ClassVar[CallFlag]

class ErrorKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_KIND_REMOTE: _ClassVar[ErrorKind]
    ERROR_KIND_UNKNOWN_CALLBACK: _ClassVar[ErrorKind]
    ERROR_KIND_BAD_ARGUMENTS: _ClassVar[ErrorKind]
    ERROR_KIND_SERIALIZATION: _ClassVar[ErrorKind]
    ERROR_KIND_PAYLOAD_TOO_LARGE: _ClassVar[ErrorKind]
    ERROR_KIND_CANCELLED: _ClassVar[ErrorKind]
    ERROR_KIND_STOPPING: _ClassVar[ErrorKind]
CALL_FLAG_NONE: CallFlag
CALL_FLAG_NO_RETURN: CallFlag
CALL_FLAG_DILL: CallFlag
CALL_FLAG_STREAM: CallFlag
CALL_FLAG_ANSWER: CallFlag
ERROR_KIND_REMOTE: ErrorKind
ERROR_KIND_UNKNOWN_CALLBACK: ErrorKind
ERROR_KIND_BAD_ARGUMENTS: ErrorKind
ERROR_KIND_SERIALIZATION: ErrorKind
ERROR_KIND_PAYLOAD_TOO_LARGE: ErrorKind
ERROR_KIND_CANCELLED: ErrorKind
ERROR_KIND_STOPPING: ErrorKind

class Frame(_message.Message):
    __slots__ = ("items", "blobs", "detached_blobs")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    DETACHED_BLOBS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Envelope]
    blobs: _containers.RepeatedScalarFieldContainer[bytes]
    detached_blobs: int
    def __init__(self, items: _Optional[_Iterable[_Union[Envelope, _Mapping]]] = ..., blobs: _Optional[_Iterable[bytes]] = ..., detached_blobs: _Optional[int] = ...) -> None: ...

class Envelope(_message.Message):
    __slots__ = ("id", "hello", "call", "result", "error", "cancel", "offer", "auth", "departed", "item", "end", "credit", "answer")
    ID_FIELD_NUMBER: _ClassVar[int]
    HELLO_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    DEPARTED_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    id: int
    hello: Hello
    call: Call
    result: Result
    error: Error
    cancel: Cancel
    offer: Offer
    auth: Auth
    departed: Departed
    item: StreamItem
    end: StreamEnd
    credit: Credit
    answer: Answer
    def __init__(self, id: _Optional[int] = ..., hello: _Optional[_Union[Hello, _Mapping]] = ..., call: _Optional[_Union[Call, _Mapping]] = ..., result: _Optional[_Union[Result, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., cancel: _Optional[_Union[Cancel, _Mapping]] = ..., offer: _Optional[_Union[Offer, _Mapping]] = ..., auth: _Optional[_Union[Auth, _Mapping]] = ..., departed: _Optional[_Union[Departed, _Mapping]] = ..., item: _Optional[_Union[StreamItem, _Mapping]] = ..., end: _Optional[_Union[StreamEnd, _Mapping]] = ..., credit: _Optional[_Union[Credit, _Mapping]] = ..., answer: _Optional[_Union[Answer, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("node_id", "node_name", "mesh_name", "protocol_version", "callbacks", "address", "nonce", "proof", "max_message_size")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    MESH_NAME_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CALLBACKS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_name: str
    mesh_name: str
    protocol_version: int
    callbacks: _containers.RepeatedScalarFieldContainer[str]
    address: str
    nonce: bytes
    proof: bytes
    max_message_size: int
    def __init__(self, node_id: _Optional[str] = ..., node_name: _Optional[str] = ..., mesh_name: _Optional[str] = ..., protocol_version: _Optional[int] = ..., callbacks: _Optional[_Iterable[str]] = ..., address: _Optional[str] = ..., nonce: _Optional[bytes] = ..., proof: _Optional[bytes] = ..., max_message_size: _Optional[int] = ...) -> None: ...

class Auth(_message.Message):
    __slots__ = ("proof", "accepted")
    PROOF_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    proof: bytes
    accepted: bool
    def __init__(self, proof: _Optional[bytes] = ..., accepted: _Optional[bool] = ...) -> None: ...

class Offer(_message.Message):
    __slots__ = ("callbacks",)
    CALLBACKS_FIELD_NUMBER: _ClassVar[int]
    callbacks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, callbacks: _Optional[_Iterable[str]] = ...) -> None: ...

class Departed(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("at_time", "period")
    AT_TIME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    at_time: _containers.RepeatedScalarFieldContainer[float]
    period: float
    def __init__(self, at_time: _Optional[_Iterable[float]] = ..., period: _Optional[float] = ...) -> None: ...

class Call(_message.Message):
    __slots__ = ("name", "args", "buffer_count", "flags", "timeout", "schedule", "window", "window_bytes", "streamed_args", "traceparent", "tracestate", "answer_node", "answer_call")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    BUFFER_COUNT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    WINDOW_BYTES_FIELD_NUMBER: _ClassVar[int]
    STREAMED_ARGS_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    TRACESTATE_FIELD_NUMBER: _ClassVar[int]
    ANSWER_NODE_FIELD_NUMBER: _ClassVar[int]
    ANSWER_CALL_FIELD_NUMBER: _ClassVar[int]
    name: str
    args: bytes
    buffer_count: int
    flags: int
    timeout: float
    schedule: Schedule
    window: int
    window_bytes: int
    streamed_args: int
    traceparent: str
    tracestate: str
    answer_node: str
    answer_call: int
    def __init__(self, name: _Optional[str] = ..., args: _Optional[bytes] = ..., buffer_count: _Optional[int] = ..., flags: _Optional[int] = ..., timeout: _Optional[float] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ..., window: _Optional[int] = ..., window_bytes: _Optional[int] = ..., streamed_args: _Optional[int] = ..., traceparent: _Optional[str] = ..., tracestate: _Optional[str] = ..., answer_node: _Optional[str] = ..., answer_call: _Optional[int] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("value", "buffer_count", "dill")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    BUFFER_COUNT_FIELD_NUMBER: _ClassVar[int]
    DILL_FIELD_NUMBER: _ClassVar[int]
    value: bytes
    buffer_count: int
    dill: bool
    def __init__(self, value: _Optional[bytes] = ..., buffer_count: _Optional[int] = ..., dill: _Optional[bool] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("type", "message", "traceback", "pickled", "kind")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    PICKLED_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    type: str
    message: str
    traceback: str
    pickled: bytes
    kind: ErrorKind
    def __init__(self, type: _Optional[str] = ..., message: _Optional[str] = ..., traceback: _Optional[str] = ..., pickled: _Optional[bytes] = ..., kind: _Optional[_Union[ErrorKind, str]] = ...) -> None: ...

class Cancel(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Answer(_message.Message):
    __slots__ = ("via", "result")
    VIA_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    via: str
    result: Result
    def __init__(self, via: _Optional[str] = ..., result: _Optional[_Union[Result, _Mapping]] = ...) -> None: ...

class StreamItem(_message.Message):
    __slots__ = ("slot", "value", "buffer_count", "dill")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    BUFFER_COUNT_FIELD_NUMBER: _ClassVar[int]
    DILL_FIELD_NUMBER: _ClassVar[int]
    slot: int
    value: bytes
    buffer_count: int
    dill: bool
    def __init__(self, slot: _Optional[int] = ..., value: _Optional[bytes] = ..., buffer_count: _Optional[int] = ..., dill: _Optional[bool] = ...) -> None: ...

class StreamEnd(_message.Message):
    __slots__ = ("slot", "error")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    slot: int
    error: Error
    def __init__(self, slot: _Optional[int] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class Credit(_message.Message):
    __slots__ = ("slot", "items", "bytes")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    slot: int
    items: int
    bytes: int
    def __init__(self, slot: _Optional[int] = ..., items: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("node_id", "name", "address", "callbacks", "mesh_name", "incarnation")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CALLBACKS_FIELD_NUMBER: _ClassVar[int]
    MESH_NAME_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    name: str
    address: str
    callbacks: _containers.RepeatedScalarFieldContainer[str]
    mesh_name: str
    incarnation: str
    def __init__(self, node_id: _Optional[str] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., callbacks: _Optional[_Iterable[str]] = ..., mesh_name: _Optional[str] = ..., incarnation: _Optional[str] = ...) -> None: ...

class MemberUpdate(_message.Message):
    __slots__ = ("member", "nonce", "proof")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    member: Member
    nonce: bytes
    proof: bytes
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ..., nonce: _Optional[bytes] = ..., proof: _Optional[bytes] = ...) -> None: ...

class MembershipEvent(_message.Message):
    __slots__ = ("snapshot", "upsert", "removed", "refused", "nonce", "proof")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    snapshot: _containers.RepeatedCompositeFieldContainer[Member]
    upsert: Member
    removed: str
    refused: str
    nonce: bytes
    proof: bytes
    def __init__(self, snapshot: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., upsert: _Optional[_Union[Member, _Mapping]] = ..., removed: _Optional[str] = ..., refused: _Optional[str] = ..., nonce: _Optional[bytes] = ..., proof: _Optional[bytes] = ...) -> None: ...
