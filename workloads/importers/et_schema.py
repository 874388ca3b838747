"""The Chakra execution-trace (ET) protobuf schema, built at run time.

The message and field names and numbers follow the public Chakra schema
(``schema/protobuf/et_def.proto`` of github.com/mlcommons/chakra, package
``ChakraProtoMsg``): an ET file is a ``GlobalMetadata`` message followed by
``Node`` messages, each preceded by its length as a base-128 varint. The
descriptors are assembled here with ``descriptor_pb2`` so that neither protoc
nor generated code is needed.
"""
from __future__ import annotations

from functools import lru_cache

PACKAGE = "ChakraProtoMsg"

# NodeType
INVALID_NODE, METADATA_NODE, MEM_LOAD_NODE, MEM_STORE_NODE = 0, 1, 2, 3
COMP_NODE, COMM_SEND_NODE, COMM_RECV_NODE, COMM_COLL_NODE = 4, 5, 6, 7
STORAGE_NODE, BATCH_NODE, CHECKPOINT_NODE = 8, 9, 10
NODE_TYPES = {
    "INVALID_NODE": INVALID_NODE, "METADATA_NODE": METADATA_NODE,
    "MEM_LOAD_NODE": MEM_LOAD_NODE, "MEM_STORE_NODE": MEM_STORE_NODE,
    "COMP_NODE": COMP_NODE, "COMM_SEND_NODE": COMM_SEND_NODE,
    "COMM_RECV_NODE": COMM_RECV_NODE, "COMM_COLL_NODE": COMM_COLL_NODE,
    "STORAGE_NODE": STORAGE_NODE, "BATCH_NODE": BATCH_NODE,
    "CHECKPOINT_NODE": CHECKPOINT_NODE,
}
NODE_TYPE_NAMES = {v: k for k, v in NODE_TYPES.items()}

# CollectiveCommType
COLLECTIVE_TYPES = {
    "ALL_REDUCE": 0, "REDUCE": 1, "ALL_GATHER": 2, "GATHER": 3, "SCATTER": 4,
    "BROADCAST": 5, "ALL_TO_ALL": 6, "REDUCE_SCATTER": 7, "REDUCE_SCATTER_BLOCK": 8,
    "BARRIER": 9,
}
COLLECTIVE_TYPE_NAMES = {v: k for k, v in COLLECTIVE_TYPES.items()}

# AttributeProto's value oneof: (field name, number, scalar type); list variants
# are messages ``<Kind>List`` with ``repeated <type> values = 1``.
_SCALARS = [("double", "TYPE_DOUBLE"), ("float", "TYPE_FLOAT"), ("int32", "TYPE_INT32"),
            ("int64", "TYPE_INT64"), ("uint32", "TYPE_UINT32"), ("uint64", "TYPE_UINT64"),
            ("sint32", "TYPE_SINT32"), ("sint64", "TYPE_SINT64"),
            ("fixed32", "TYPE_FIXED32"), ("fixed64", "TYPE_FIXED64"),
            ("sfixed32", "TYPE_SFIXED32"), ("sfixed64", "TYPE_SFIXED64"),
            ("bool", "TYPE_BOOL"), ("string", "TYPE_STRING"), ("bytes", "TYPE_BYTES")]

#: Node field numbers (fields above the last known one are tolerated as
#: extensions of newer schema versions).
NODE_FIELDS = {"id": 1, "name": 2, "type": 3, "ctrl_deps": 4, "data_deps": 5,
               "start_time_micros": 6, "duration_micros": 7, "inputs": 8, "outputs": 9,
               "attr": 10, "storage": 11}


def _file_proto():
    from google.protobuf import descriptor_pb2 as d

    F = d.FieldDescriptorProto
    fp = d.FileDescriptorProto(name="clustersim_chakra_et_def.proto", package=PACKAGE,
                               syntax="proto3")

    def message(name: str):
        m = fp.message_type.add()
        m.name = name
        return m

    def field(m, name, number, ftype, label="LABEL_OPTIONAL", type_name=None, oneof=None):
        f = m.field.add(name=name, number=number, type=getattr(F, ftype),
                        label=getattr(F, label))
        if type_name:
            f.type_name = f".{PACKAGE}.{type_name}"
        if oneof is not None:
            f.oneof_index = oneof
        return f

    attr = message("AttributeProto")
    field(attr, "name", 1, "TYPE_STRING")
    field(attr, "doc_string", 2, "TYPE_STRING")
    attr.oneof_decl.add(name="value")
    number = 3
    for kind, ftype in _SCALARS:
        lst = kind.capitalize() + "List"
        field(attr, f"{kind}_val", number, ftype, oneof=0)
        field(attr, f"{kind}_list", number + 1, "TYPE_MESSAGE", type_name=lst, oneof=0)
        number += 2
    for kind, ftype in _SCALARS:
        m = message(kind.capitalize() + "List")
        field(m, "values", 1, ftype, label="LABEL_REPEATED")

    meta = message("GlobalMetadata")
    field(meta, "version", 1, "TYPE_STRING")
    field(meta, "attr", 2, "TYPE_MESSAGE", label="LABEL_REPEATED", type_name="AttributeProto")

    io = message("IOInfo")
    for i, name in enumerate(("values", "shapes", "types"), start=1):
        field(io, name, i, "TYPE_STRING")

    node = message("Node")
    field(node, "id", 1, "TYPE_UINT64")
    field(node, "name", 2, "TYPE_STRING")
    field(node, "type", 3, "TYPE_ENUM", type_name="NodeType")
    field(node, "ctrl_deps", 4, "TYPE_UINT64", label="LABEL_REPEATED")
    field(node, "data_deps", 5, "TYPE_UINT64", label="LABEL_REPEATED")
    field(node, "start_time_micros", 6, "TYPE_UINT64")
    field(node, "duration_micros", 7, "TYPE_UINT64")
    field(node, "inputs", 8, "TYPE_MESSAGE", type_name="IOInfo")
    field(node, "outputs", 9, "TYPE_MESSAGE", type_name="IOInfo")
    field(node, "attr", 10, "TYPE_MESSAGE", label="LABEL_REPEATED", type_name="AttributeProto")
    # field 11 (StorageInfo of STORAGE_NODEs) is kept as raw bytes: storage
    # nodes are not replayed

    for enum_name, values in (("NodeType", NODE_TYPES), ("CollectiveCommType", COLLECTIVE_TYPES)):
        e = fp.enum_type.add(name=enum_name)
        for k, v in values.items():
            e.value.add(name=k, number=v)
    return fp


@lru_cache(maxsize=1)
def messages():
    """The message classes ``(GlobalMetadata, Node, AttributeProto)``."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    fp = _file_proto()
    pool.AddSerializedFile(fp.SerializeToString())
    fdesc = pool.FindFileByName(fp.name)
    get = message_factory.GetMessageClass
    return (get(fdesc.message_types_by_name["GlobalMetadata"]),
            get(fdesc.message_types_by_name["Node"]),
            get(fdesc.message_types_by_name["AttributeProto"]))
