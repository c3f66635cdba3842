//! The subset of the ONNX protobuf schema (onnx.proto3) the compiler reads, as prost messages.
//!
//! Field numbers are those of the ONNX specification. Fields the compiler never needs (training
//! info, functions, sparse tensors, sub-graphs inside attributes) are left out: prost skips
//! unknown fields while decoding, so models that carry them still decode. Sub-graph attributes
//! (If/Loop bodies) are detected through `AttributeProto::type` and refused by the importer.

/// Top-level container: the graph plus the operator sets it was written against.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    /// Version of the ONNX IR the file follows.
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// Operator sets (domain and version) the graph uses.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// Tool that wrote the file (`pytorch`, `tf2onnx`, ...).
    #[prost(string, tag = "2")]
    pub producer_name: String,
    /// Its version.
    #[prost(string, tag = "3")]
    pub producer_version: String,
    /// Reverse-DNS namespace of the model.
    #[prost(string, tag = "4")]
    pub domain: String,
    /// Version of the model.
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    /// Free-form documentation.
    #[prost(string, tag = "6")]
    pub doc_string: String,
    /// The computation.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// Named metadata.
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// An operator set the model uses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperatorSetIdProto {
    /// Operator-set domain (empty or `ai.onnx` for the default one).
    #[prost(string, tag = "1")]
    pub domain: String,
    /// Its version.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// A key-value pair.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringEntryProto {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// The computation: nodes, weights, inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    /// Nodes in topological order.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// Graph name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Constant tensors (weights), by name.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Free-form documentation.
    #[prost(string, tag = "10")]
    pub doc_string: String,
    /// Graph inputs (initializers may be listed too, in older files).
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// Graph outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    /// Types of intermediate values, when the producer recorded them.
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// One operator application.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    /// Names of the input values (empty for an omitted optional input).
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Names of the output values.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// Node name (optional in ONNX).
    #[prost(string, tag = "3")]
    pub name: String,
    /// Operator, e.g. `Conv`.
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// Operator-set domain of `op_type`.
    #[prost(string, tag = "7")]
    pub domain: String,
    /// Attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// Free-form documentation.
    #[prost(string, tag = "6")]
    pub doc_string: String,
}

/// `AttributeProto.type` values (ONNX `AttributeProto::AttributeType`).
pub mod attribute_type {
    /// Not set.
    pub const UNDEFINED: i32 = 0;
    /// `f`.
    pub const FLOAT: i32 = 1;
    /// `i`.
    pub const INT: i32 = 2;
    /// `s`.
    pub const STRING: i32 = 3;
    /// `t`.
    pub const TENSOR: i32 = 4;
    /// A sub-graph (refused by the importer).
    pub const GRAPH: i32 = 5;
    /// `floats`.
    pub const FLOATS: i32 = 6;
    /// `ints`.
    pub const INTS: i32 = 7;
    /// `strings`.
    pub const STRINGS: i32 = 8;
    /// `tensors`.
    pub const TENSORS: i32 = 9;
    /// Sub-graphs (refused by the importer).
    pub const GRAPHS: i32 = 10;
    /// A sparse tensor.
    pub const SPARSE_TENSOR: i32 = 11;
    /// Sparse tensors.
    pub const SPARSE_TENSORS: i32 = 12;
    /// A type.
    pub const TYPE_PROTO: i32 = 13;
    /// Types.
    pub const TYPE_PROTOS: i32 = 14;

    /// The ONNX spelling of an attribute type, for error messages.
    pub fn name(t: i32) -> &'static str {
        match t {
            UNDEFINED => "UNDEFINED",
            FLOAT => "FLOAT",
            INT => "INT",
            STRING => "STRING",
            TENSOR => "TENSOR",
            GRAPH => "GRAPH",
            FLOATS => "FLOATS",
            INTS => "INTS",
            STRINGS => "STRINGS",
            TENSORS => "TENSORS",
            GRAPHS => "GRAPHS",
            SPARSE_TENSOR => "SPARSE_TENSOR",
            SPARSE_TENSORS => "SPARSE_TENSORS",
            TYPE_PROTO => "TYPE_PROTO",
            TYPE_PROTOS => "TYPE_PROTOS",
            _ => "unknown",
        }
    }
}

/// A named attribute of a node; `type` says which field holds the value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    /// Attribute name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Set inside functions only: the parent attribute this one refers to.
    #[prost(string, tag = "21")]
    pub ref_attr_name: String,
    /// Free-form documentation.
    #[prost(string, tag = "13")]
    pub doc_string: String,
    /// Which field holds the value (see [`attribute_type`]).
    #[prost(int32, tag = "20")]
    pub r#type: i32,
    /// FLOAT value.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// INT value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// STRING value (bytes).
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    /// TENSOR value.
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// FLOATS value.
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    /// INTS value.
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    /// STRINGS value.
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    /// TENSORS value.
    #[prost(message, repeated, tag = "10")]
    pub tensors: Vec<TensorProto>,
}

/// `TensorProto.data_type` values (ONNX `TensorProto::DataType`).
pub mod data_type {
    /// Not set.
    pub const UNDEFINED: i32 = 0;
    /// float.
    pub const FLOAT: i32 = 1;
    /// uint8.
    pub const UINT8: i32 = 2;
    /// int8.
    pub const INT8: i32 = 3;
    /// uint16.
    pub const UINT16: i32 = 4;
    /// int16.
    pub const INT16: i32 = 5;
    /// int32.
    pub const INT32: i32 = 6;
    /// int64.
    pub const INT64: i32 = 7;
    /// string.
    pub const STRING: i32 = 8;
    /// bool.
    pub const BOOL: i32 = 9;
    /// float16.
    pub const FLOAT16: i32 = 10;
    /// double.
    pub const DOUBLE: i32 = 11;
    /// uint32.
    pub const UINT32: i32 = 12;
    /// uint64.
    pub const UINT64: i32 = 13;
    /// bfloat16.
    pub const BFLOAT16: i32 = 16;

    /// The ONNX spelling of a data type, for error messages.
    pub fn name(t: i32) -> &'static str {
        match t {
            FLOAT => "float",
            UINT8 => "uint8",
            INT8 => "int8",
            UINT16 => "uint16",
            INT16 => "int16",
            INT32 => "int32",
            INT64 => "int64",
            STRING => "string",
            BOOL => "bool",
            FLOAT16 => "float16",
            DOUBLE => "double",
            UINT32 => "uint32",
            UINT64 => "uint64",
            BFLOAT16 => "bfloat16",
            _ => "unknown",
        }
    }
}

/// `TensorProto.data_location` values.
pub mod data_location {
    /// In the tensor itself.
    pub const DEFAULT: i32 = 0;
    /// In another file.
    pub const EXTERNAL: i32 = 1;
}

/// A tensor: dimensions, element type and elements (inline or external).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// Dimensions.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// Element type (see [`data_type`]).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// Elements of float tensors, when not in `raw_data`.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// Elements of int32 and narrower integer, bool and float16 tensors, when not in `raw_data`.
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    /// Elements of string tensors.
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub string_data: Vec<Vec<u8>>,
    /// Elements of int64 tensors, when not in `raw_data`.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// Tensor name.
    #[prost(string, tag = "8")]
    pub name: String,
    /// Free-form documentation.
    #[prost(string, tag = "12")]
    pub doc_string: String,
    /// Elements as little-endian bytes.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    /// Where the elements are in another file (`location`, `offset`, `length`).
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<StringStringEntryProto>,
    /// Whether the elements are external (see [`data_location`]).
    #[prost(int32, tag = "14")]
    pub data_location: i32,
    /// Elements of double tensors, when not in `raw_data`.
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    /// Elements of uint32 and uint64 tensors, when not in `raw_data`.
    #[prost(uint64, repeated, tag = "11")]
    pub uint64_data: Vec<u64>,
}

/// A named value and its type.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    /// Value name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its type.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    /// Free-form documentation.
    #[prost(string, tag = "3")]
    pub doc_string: String,
}

/// Only the tensor alternative of `TypeProto`'s `value` oneof is modelled: a sequence, map or
/// optional type decodes with `tensor_type == None` and is refused with a clear error.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    /// The tensor type, when the value is a tensor.
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TypeProtoTensor>,
    /// Semantic tag.
    #[prost(string, tag = "6")]
    pub denotation: String,
}

/// A tensor type: element type and shape.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProtoTensor {
    /// Element type (see [`data_type`]).
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// Shape, when known.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// A shape: one entry per dimension.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// Dimensions.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// One dimension: a size, a symbolic name, or unknown.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dimension {
    /// The size or its symbolic name (`None`: unknown).
    #[prost(oneof = "dimension::Value", tags = "1, 2")]
    pub value: Option<dimension::Value>,
    /// Semantic tag.
    #[prost(string, tag = "3")]
    pub denotation: String,
}

/// The alternatives of `Dimension::value`.
pub mod dimension {
    /// A size or a symbolic name.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// A known size.
        #[prost(int64, tag = "1")]
        DimValue(i64),
        /// A symbolic size, e.g. `batch`.
        #[prost(string, tag = "2")]
        DimParam(String),
    }
}
