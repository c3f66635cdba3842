//! Building ONNX models in code: for tests (malformed models, property tests), fuzz seeds and
//! tools. Not needed to compile a model.

use prost::Message;

use super::proto::*;

/// A model under construction. Methods consume and return the builder so a model reads as one
/// expression.
#[derive(Clone, Debug)]
pub struct ModelBuilder {
    model: ModelProto,
}

impl ModelBuilder {
    /// An empty graph at `opset` of the default domain.
    pub fn new(opset: i64) -> Self {
        let model = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset }],
            producer_name: "mobilenet-compiler builder".into(),
            graph: Some(GraphProto { name: "g".into(), ..Default::default() }),
            ..Default::default()
        };
        ModelBuilder { model }
    }

    fn graph(&mut self) -> &mut GraphProto {
        self.model.graph.get_or_insert_with(GraphProto::default)
    }

    /// A float input; negative dims are symbolic (named `d0`, `d1`, ...).
    pub fn input(mut self, name: &str, dims: &[i64]) -> Self {
        let vi = value_info(name, dims);
        self.graph().input.push(vi);
        self
    }

    pub fn output(mut self, name: &str) -> Self {
        self.graph().output.push(ValueInfoProto { name: name.into(), ..Default::default() });
        self
    }

    /// A float initializer (raw little-endian data).
    pub fn initializer(mut self, name: &str, dims: &[i64], values: &[f32]) -> Self {
        let t = float_tensor(name, dims, values);
        self.graph().initializer.push(t);
        self
    }

    /// Any initializer, as given.
    pub fn tensor(mut self, t: TensorProto) -> Self {
        self.graph().initializer.push(t);
        self
    }

    pub fn node(mut self, op: &str, inputs: &[&str], outputs: &[&str], attributes: Vec<AttributeProto>) -> Self {
        let name = format!("{op}_{}", self.graph().node.len());
        self.graph().node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name,
            op_type: op.into(),
            attribute: attributes,
            ..Default::default()
        });
        self
    }

    pub fn build(self) -> ModelProto {
        self.model
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.model.encode_to_vec()
    }
}

/// A float tensor value-info with the given dims (negative = symbolic).
pub fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .enumerate()
        .map(|(i, &d)| Dimension {
            value: Some(if d < 0 {
                dimension::Value::DimParam(format!("d{i}"))
            } else {
                dimension::Value::DimValue(d)
            }),
            denotation: String::new(),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor { elem_type: data_type::FLOAT, shape: Some(TensorShapeProto { dim }) }),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

pub fn float_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

pub fn int64_tensor(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: data_type::INT64,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

/// A float tensor stored in an external file.
pub fn external_tensor(name: &str, dims: &[i64], location: &str, offset: u64, length: u64) -> TensorProto {
    let entry = |k: &str, v: String| StringStringEntryProto { key: k.into(), value: v };
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        data_location: data_location::EXTERNAL,
        external_data: vec![
            entry("location", location.into()),
            entry("offset", offset.to_string()),
            entry("length", length.to_string()),
        ],
        ..Default::default()
    }
}

pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::INT, i: v, ..Default::default() }
}

pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::INTS, ints: v.to_vec(), ..Default::default() }
}

pub fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::FLOAT, f: v, ..Default::default() }
}

pub fn attr_string(name: &str, v: &str) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::STRING, s: v.as_bytes().to_vec(), ..Default::default() }
}
