//! A pass over the protobuf wire format before prost decodes it, so that a small file cannot
//! make decoding allocate far more than its own size.
//!
//! Decoded messages are larger than their encoding: an empty `NodeProto` is 2 bytes on the wire
//! and about 170 bytes as a struct, an int64 packed as a 1-byte varint takes 8. The scan walks
//! the fields of every message type the compiler decodes (`proto.rs`), without allocating,
//! and adds up what decoding will allocate: each message's struct, each string and byte field,
//! each repeated number. It also counts nodes and initializers against `Limits::max_nodes` and
//! holds every name-like string to `Limits::max_name_len`, before anything is decoded.
//! Fields outside the schema are skipped by prost and here alike.

use std::mem::size_of;

use super::proto::*;
use crate::error::{Error, ErrorKind, Result, err};
use crate::options::Limits;

/// How a field is stored once decoded.
#[derive(Clone, Copy)]
enum Kind {
    Message(&'static Schema),
    /// A name, op type, domain, tensor reference or attribute string: at most
    /// `Limits::max_name_len` bytes.
    Name,
    /// Documentation: any length (it counts towards the decoded size).
    Text,
    /// Tensor data.
    Bytes,
    /// A number (repeated or not) taking `mem` bytes once decoded, encoded as `Enc`.
    Number {
        mem: usize,
        enc: Enc,
    },
}

#[derive(Clone, Copy, PartialEq)]
enum Enc {
    Varint,
    Fixed32,
    Fixed64,
}

struct Field {
    tag: u32,
    name: &'static str,
    kind: Kind,
    /// Counts as one node towards `Limits::max_nodes` (graph nodes and initializers).
    node: bool,
}

struct Schema {
    size: usize,
    fields: &'static [Field],
}

const fn f(tag: u32, name: &'static str, kind: Kind) -> Field {
    Field { tag, name, kind, node: false }
}

const I64: Kind = Kind::Number { mem: 8, enc: Enc::Varint };
const I32: Kind = Kind::Number { mem: 4, enc: Enc::Varint };
const F32: Kind = Kind::Number { mem: 4, enc: Enc::Fixed32 };
const F64: Kind = Kind::Number { mem: 8, enc: Enc::Fixed64 };

static MODEL: Schema = Schema {
    size: size_of::<ModelProto>(),
    fields: &[
        f(1, "ir_version", I64),
        f(8, "opset_import", Kind::Message(&OPSET)),
        f(2, "producer_name", Kind::Name),
        f(3, "producer_version", Kind::Name),
        f(4, "domain", Kind::Name),
        f(5, "model_version", I64),
        f(6, "doc_string", Kind::Text),
        f(7, "graph", Kind::Message(&GRAPH)),
        f(14, "metadata_props", Kind::Message(&ENTRY)),
    ],
};

static OPSET: Schema =
    Schema { size: size_of::<OperatorSetIdProto>(), fields: &[f(1, "domain", Kind::Name), f(2, "version", I64)] };

static ENTRY: Schema =
    Schema { size: size_of::<StringStringEntryProto>(), fields: &[f(1, "key", Kind::Name), f(2, "value", Kind::Name)] };

static GRAPH: Schema = Schema {
    size: size_of::<GraphProto>(),
    fields: &[
        Field { tag: 1, name: "node", kind: Kind::Message(&NODE), node: true },
        f(2, "name", Kind::Name),
        Field { tag: 5, name: "initializer", kind: Kind::Message(&TENSOR), node: true },
        f(10, "doc_string", Kind::Text),
        f(11, "input", Kind::Message(&VALUE_INFO)),
        f(12, "output", Kind::Message(&VALUE_INFO)),
        f(13, "value_info", Kind::Message(&VALUE_INFO)),
    ],
};

static NODE: Schema = Schema {
    size: size_of::<NodeProto>(),
    fields: &[
        f(1, "input", Kind::Name),
        f(2, "output", Kind::Name),
        f(3, "name", Kind::Name),
        f(4, "op_type", Kind::Name),
        f(7, "domain", Kind::Name),
        f(5, "attribute", Kind::Message(&ATTRIBUTE)),
        f(6, "doc_string", Kind::Text),
    ],
};

static ATTRIBUTE: Schema = Schema {
    size: size_of::<AttributeProto>(),
    fields: &[
        f(1, "name", Kind::Name),
        f(21, "ref_attr_name", Kind::Name),
        f(13, "doc_string", Kind::Text),
        f(20, "type", I32),
        f(2, "f", F32),
        f(3, "i", I64),
        f(4, "s", Kind::Name),
        f(5, "t", Kind::Message(&TENSOR)),
        f(7, "floats", F32),
        f(8, "ints", I64),
        f(9, "strings", Kind::Name),
        f(10, "tensors", Kind::Message(&TENSOR)),
    ],
};

static TENSOR: Schema = Schema {
    size: size_of::<TensorProto>(),
    fields: &[
        f(1, "dims", I64),
        f(2, "data_type", I32),
        f(4, "float_data", F32),
        f(5, "int32_data", I32),
        f(6, "string_data", Kind::Bytes),
        f(7, "int64_data", I64),
        f(8, "name", Kind::Name),
        f(12, "doc_string", Kind::Text),
        f(9, "raw_data", Kind::Bytes),
        f(13, "external_data", Kind::Message(&ENTRY)),
        f(14, "data_location", I32),
        f(10, "double_data", F64),
        f(11, "uint64_data", I64),
    ],
};

static VALUE_INFO: Schema = Schema {
    size: size_of::<ValueInfoProto>(),
    fields: &[f(1, "name", Kind::Name), f(2, "type", Kind::Message(&TYPE)), f(3, "doc_string", Kind::Text)],
};

static TYPE: Schema = Schema {
    size: size_of::<TypeProto>(),
    fields: &[f(1, "tensor_type", Kind::Message(&TYPE_TENSOR)), f(6, "denotation", Kind::Name)],
};

static TYPE_TENSOR: Schema = Schema {
    size: size_of::<TypeProtoTensor>(),
    fields: &[f(1, "elem_type", I32), f(2, "shape", Kind::Message(&SHAPE))],
};

static SHAPE: Schema = Schema { size: size_of::<TensorShapeProto>(), fields: &[f(1, "dim", Kind::Message(&DIM))] };

static DIM: Schema = Schema {
    size: size_of::<Dimension>(),
    fields: &[f(1, "dim_value", I64), f(2, "dim_param", Kind::Name), f(3, "denotation", Kind::Name)],
};

/// What decoding a file will allocate, as the scan estimates it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Bytes of decoded structs, strings, byte fields and repeated numbers.
    pub decoded_bytes: u64,
    /// Graph nodes plus initializers.
    pub nodes: u64,
}

/// How much decoding may allocate: the file again, half of it more (Vec growth), and 16 MiB
/// for the structs of a legitimate model's few hundred nodes.
pub fn decoded_budget(file_bytes: usize) -> u64 {
    (16 << 20) + file_bytes as u64 + file_bytes as u64 / 2
}

/// Scans an encoded `ModelProto`, refusing it when decoding would allocate more than
/// `decoded_budget`, when it has more nodes than `Limits::max_nodes` or a name longer than
/// `Limits::max_name_len`.
pub fn scan(bytes: &[u8], limits: &Limits) -> Result<Scan> {
    let mut s = Scanner { limits, out: Scan { decoded_bytes: MODEL.size as u64, nodes: 0 }, path: Vec::new() };
    s.message(bytes, &MODEL)?;
    let budget = decoded_budget(bytes.len());
    if s.out.decoded_bytes > budget {
        return Err(err!(
            limit,
            "decoding this {}-byte file would allocate about {} bytes, more than the {budget} a model of its size needs: \
             it holds far more, or far larger, entries than its bytes can carry as data",
            bytes.len(),
            s.out.decoded_bytes
        ));
    }
    Ok(s.out)
}

struct Scanner<'l> {
    limits: &'l Limits,
    out: Scan,
    /// The fields leading to the current message, for messages.
    path: Vec<&'static str>,
}

/// Nesting deeper than prost's own recursion limit is refused by prost anyway.
const MAX_DEPTH: usize = 100;

fn malformed(what: &str) -> Error {
    Error::new(ErrorKind::Decode, format!("not a valid ONNX model (protobuf decoding failed: {what})"))
}

fn varint(bytes: &[u8], pos: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos).ok_or_else(|| malformed("a varint runs past the end"))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(malformed("a varint is longer than 10 bytes"))
}

impl Scanner<'_> {
    fn where_(&self, field: &str) -> String {
        let mut p = self.path.join(".");
        if !p.is_empty() {
            p.push('.');
        }
        p + field
    }

    fn add(&mut self, bytes: u64) {
        self.out.decoded_bytes = self.out.decoded_bytes.saturating_add(bytes);
    }

    fn message(&mut self, bytes: &[u8], schema: &'static Schema) -> Result<()> {
        if self.path.len() > MAX_DEPTH {
            return Err(malformed("messages nested too deeply"));
        }
        let mut pos = 0;
        while pos < bytes.len() {
            let key = varint(bytes, &mut pos)?;
            let (tag, wire) = ((key >> 3) as u32, key & 7);
            if tag == 0 {
                return Err(malformed("a field numbered 0"));
            }
            let payload: &[u8] = match wire {
                0 => {
                    let start = pos;
                    varint(bytes, &mut pos)?;
                    &bytes[start..pos]
                }
                1 | 5 => {
                    let n = if wire == 1 { 8 } else { 4 };
                    let p = bytes.get(pos..pos + n).ok_or_else(|| malformed("a fixed-size field runs past the end"))?;
                    pos += n;
                    p
                }
                2 => {
                    let len = varint(bytes, &mut pos)?;
                    let end = usize::try_from(len)
                        .ok()
                        .and_then(|l| pos.checked_add(l))
                        .filter(|&e| e <= bytes.len())
                        .ok_or_else(|| malformed("a length-delimited field runs past the end"))?;
                    let p = &bytes[pos..end];
                    pos = end;
                    p
                }
                _ => return Err(malformed("a group or an unknown wire type")),
            };
            let Some(field) = schema.fields.iter().find(|f| f.tag == tag) else { continue };
            self.field(field, wire, payload)?;
        }
        Ok(())
    }

    fn field(&mut self, field: &Field, wire: u64, payload: &[u8]) -> Result<()> {
        if field.node {
            self.out.nodes += 1;
            if self.out.nodes > self.limits.max_nodes as u64 {
                return Err(err!(
                    limit,
                    "the graph has more than {} nodes and initializers (Limits::max_nodes)",
                    self.limits.max_nodes
                ));
            }
        }
        let wrong_type = || malformed(&format!("field {} has the wrong wire type", field.name));
        match field.kind {
            Kind::Message(schema) => {
                if wire != 2 {
                    return Err(wrong_type());
                }
                self.add(schema.size as u64);
                self.path.push(field.name);
                self.message(payload, schema)?;
                self.path.pop();
            }
            Kind::Name => {
                if wire != 2 {
                    return Err(wrong_type());
                }
                if payload.len() > self.limits.max_name_len {
                    return Err(err!(
                        limit,
                        "a name of {} bytes ({}: '{}...') exceeds the limit of {} (Limits::max_name_len)",
                        payload.len(),
                        self.where_(field.name),
                        String::from_utf8_lossy(&payload[..payload.len().min(40)]),
                        self.limits.max_name_len
                    ));
                }
                self.add(payload.len() as u64 + size_of::<String>() as u64);
            }
            Kind::Text | Kind::Bytes => {
                if wire != 2 {
                    return Err(wrong_type());
                }
                self.add(payload.len() as u64 + size_of::<Vec<u8>>() as u64);
            }
            Kind::Number { mem, enc } => {
                let count = match (wire, enc) {
                    // Packed: as many numbers as the payload holds.
                    (2, Enc::Varint) => payload.iter().filter(|&&b| b & 0x80 == 0).count(),
                    (2, Enc::Fixed32) => payload.len() / 4,
                    (2, Enc::Fixed64) => payload.len() / 8,
                    (0, Enc::Varint) | (5, Enc::Fixed32) | (1, Enc::Fixed64) => 1,
                    _ => return Err(wrong_type()),
                };
                self.add((count * mem) as u64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::onnx::builder::ModelBuilder;

    fn v2_like() -> Vec<u8> {
        let mut b = ModelBuilder::new(13).input("x", &[1, 8]);
        let w: Vec<f32> = (0..64 * 64).map(|i| i as f32).collect();
        let mut last = "x".to_string();
        for i in 0..50 {
            let out = format!("t{i}");
            b = b.initializer(&format!("w{i}"), &[8, 8], &w[..64]).node(
                "MatMul",
                &[&last, &format!("w{i}")],
                &[&out],
                vec![],
            );
            last = out;
        }
        b.output(&last).to_bytes()
    }

    #[test]
    fn the_estimate_bounds_what_prost_decodes() {
        let bytes = v2_like();
        let s = scan(&bytes, &Limits::default()).unwrap();
        assert_eq!(s.nodes, 100);
        // Decoding allocates at least what the scan counted for the structs and data.
        let m = ModelProto::decode(&bytes[..]).unwrap();
        let g = m.graph.unwrap();
        let structs = size_of::<ModelProto>()
            + size_of::<GraphProto>()
            + g.node.len() * size_of::<NodeProto>()
            + g.initializer.len() * size_of::<TensorProto>();
        assert!(s.decoded_bytes as usize > structs);
        assert!(s.decoded_bytes < decoded_budget(bytes.len()));
    }

    #[test]
    fn empty_nodes_are_counted_before_decoding() {
        // 2 bytes each on the wire: the graph field holding a million empty nodes.
        let nodes = [0x0a, 0x00].repeat(1_000_000);
        let mut graph = vec![0x3a];
        let mut len = nodes.len();
        while len >= 0x80 {
            graph.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        graph.push(len as u8);
        graph.extend(nodes);
        let e = scan(&graph, &Limits::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Limit);
        assert!(e.to_string().contains("Limits::max_nodes"), "{e}");
        // Below the node limit, the decoded size gives them away.
        let limits = Limits { max_nodes: usize::MAX, ..Limits::default() };
        let e = scan(&graph, &limits).unwrap_err();
        assert!(e.to_string().contains("would allocate about"), "{e}");
    }

    #[test]
    fn every_name_is_held_to_the_limit() {
        let long = "n".repeat(5000);
        let m = ModelBuilder::new(13).input(&long, &[1, 4]).node("Relu", &["x"], &["y"], vec![]).output("y");
        let e = scan(&m.to_bytes(), &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("graph.input.name"), "{e}");
        let m = ModelBuilder::new(13).input("x", &[1, 4]).node("Relu", &["x"], &["y"], vec![]).output(&long);
        let e = scan(&m.to_bytes(), &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("graph.output.name"), "{e}");
    }

    #[test]
    fn truncated_and_malformed_input_is_a_decode_error() {
        let bytes = v2_like();
        for cut in [1, 7, bytes.len() / 2, bytes.len() - 1] {
            if let Err(e) = scan(&bytes[..cut], &Limits::default()) {
                assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
            }
        }
        assert_eq!(scan(&[0x0b], &Limits::default()).unwrap_err().kind(), ErrorKind::Decode, "a group");
        assert_eq!(scan(&[0xff; 11], &Limits::default()).unwrap_err().kind(), ErrorKind::Decode);
    }
}
