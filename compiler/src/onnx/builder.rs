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

    /// A float output of unspecified shape.
    pub fn output(mut self, name: &str) -> Self {
        let tensor_type = Some(TypeProtoTensor { elem_type: data_type::FLOAT, shape: None });
        let ty = Some(TypeProto { tensor_type, denotation: String::new() });
        self.graph().output.push(ValueInfoProto { name: name.into(), r#type: ty, doc_string: String::new() });
        self
    }

    /// A float output with declared dims (negative = symbolic).
    pub fn output_shaped(mut self, name: &str, dims: &[i64]) -> Self {
        self.graph().output.push(value_info(name, dims));
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

    /// Adds a node in the default domain (named after its first output).
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

    /// Adds a node in `domain` (declared in the model's opset_import at version 1 if it is not
    /// yet).
    pub fn node_in(
        mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attributes: Vec<AttributeProto>,
    ) -> Self {
        if !self.model.opset_import.iter().any(|o| o.domain == domain) {
            self.model.opset_import.push(OperatorSetIdProto { domain: domain.into(), version: 1 });
        }
        self = self.node(op, inputs, outputs, attributes);
        if let Some(n) = self.graph().node.last_mut() {
            n.domain = domain.into();
        }
        self
    }

    /// An input of another element type (`data_type::UINT8`, ...).
    pub fn typed_input(mut self, name: &str, elem_type: i32, dims: &[i64]) -> Self {
        let mut vi = value_info(name, dims);
        if let Some(t) = vi.r#type.as_mut().and_then(|t| t.tensor_type.as_mut()) {
            t.elem_type = elem_type;
        }
        self.graph().input.push(vi);
        self
    }

    /// The model.
    pub fn build(self) -> ModelProto {
        self.model
    }

    /// The model, encoded as an ONNX file.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.model.encode_to_vec()
    }
}

/// The protobuf encoding of a model (what an .onnx file holds).
pub fn prost_encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
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

/// A float32 initializer.
pub fn float_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An 8-bit or 32-bit integer initializer (`data_type::UINT8`, `INT8` or `INT32`), the values
/// in `int32_data` as ONNX stores them.
pub fn int_tensor(name: &str, data_type: i32, dims: &[i64], values: &[i32]) -> TensorProto {
    TensorProto { name: name.into(), dims: dims.to_vec(), data_type, int32_data: values.to_vec(), ..Default::default() }
}

/// A 1-D int64 initializer.
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

/// An INT attribute.
pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::INT, i: v, ..Default::default() }
}

/// An INTS attribute.
pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::INTS, ints: v.to_vec(), ..Default::default() }
}

/// A FLOAT attribute.
pub fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::FLOAT, f: v, ..Default::default() }
}

/// A STRING attribute.
pub fn attr_string(name: &str, v: &str) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::STRING, s: v.as_bytes().to_vec(), ..Default::default() }
}

/// A torchvision-shaped MobileNetV2 (`width` multiplier, `classes` outputs, input
/// `[batch, 3, size, size]` with a symbolic batch) with random weights from `seed`, written the
/// way torch's legacy exporter does (Conv with bias, Clip(0, 6), residual Add, GlobalAveragePool,
/// Flatten, Gemm). For demos and benchmarks where no trained model is at hand.
pub fn mobilenet_v2_random(width: f32, classes: usize, size: i64, seed: u64) -> ModelProto {
    let mut rng = seed | 1;
    let mut uniform = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    let channels = |c: f32| -> i64 {
        // torchvision's _make_divisible(c * width, 8)
        let v = c * width;
        let r = (((v + 4.0) as i64) / 8 * 8).max(8);
        if (r as f32) < 0.9 * v { r + 8 } else { r }
    };
    let mut b = ModelBuilder::new(13).input("input", &[-1, 3, size, size]);
    let mut count = 0;
    let mut conv = |b: ModelBuilder, x: &str, cin: i64, cout: i64, k: i64, stride: i64, group: i64, relu6: bool| {
        count += 1;
        let (w, bias, y) = (format!("w{count}"), format!("b{count}"), format!("conv{count}"));
        // He-style scale keeps activations in range through the random network.
        let fan_in = (cin / group * k * k) as f32;
        let scale = (6.0 / fan_in).sqrt();
        let wv: Vec<f32> = (0..cout * (cin / group) * k * k).map(|_| uniform() * scale).collect();
        let bv: Vec<f32> = (0..cout).map(|_| uniform() * 0.1).collect();
        let pad = k / 2;
        let mut b = b.initializer(&w, &[cout, cin / group, k, k], &wv).initializer(&bias, &[cout], &bv).node(
            "Conv",
            &[x, &w, &bias],
            &[&y],
            vec![
                attr_ints("kernel_shape", &[k, k]),
                attr_ints("strides", &[stride, stride]),
                attr_ints("pads", &[pad, pad, pad, pad]),
                attr_int("group", group),
            ],
        );
        let mut out = y.clone();
        if relu6 {
            let (lo, hi, r) = (format!("lo{count}"), format!("hi{count}"), format!("relu{count}"));
            b = b.initializer(&lo, &[], &[0.0]).initializer(&hi, &[], &[6.0]).node(
                "Clip",
                &[&y, &lo, &hi],
                &[&r],
                vec![],
            );
            out = r;
        }
        (b, out)
    };
    let stem = channels(32.0);
    let (nb, mut x) = conv(b, "input", 3, stem, 3, 2, 1, true);
    b = nb;
    let mut cin = stem;
    let settings = [
        (1, 16.0, 1, 1),
        (6, 24.0, 2, 2),
        (6, 32.0, 3, 2),
        (6, 64.0, 4, 2),
        (6, 96.0, 3, 1),
        (6, 160.0, 3, 2),
        (6, 320.0, 1, 1),
    ];
    let mut adds = 0;
    for (t, c, n, s) in settings {
        let cout = channels(c);
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            let hidden = cin * t;
            let block_in = x.clone();
            let mut y = x.clone();
            if t != 1 {
                let (nb, e) = conv(b, &y, cin, hidden, 1, 1, 1, true);
                b = nb;
                y = e;
            }
            let (nb, d) = conv(b, &y, hidden, hidden, 3, stride, hidden, true);
            let (nb, p) = conv(nb, &d, hidden, cout, 1, 1, 1, false);
            b = nb;
            y = p;
            if stride == 1 && cin == cout {
                adds += 1;
                let sum = format!("add{adds}");
                b = b.node("Add", &[&block_in, &y], &[&sum], vec![]);
                y = sum;
            }
            x = y;
            cin = cout;
        }
    }
    let last = if width > 1.0 { channels(1280.0) } else { 1280 };
    let (nb, y) = conv(b, &x, cin, last, 1, 1, 1, true);
    let fc_w: Vec<f32> = (0..classes as i64 * last).map(|_| uniform() * (3.0 / last as f32).sqrt()).collect();
    let fc_b: Vec<f32> = (0..classes).map(|_| uniform() * 0.1).collect();
    nb.node("GlobalAveragePool", &[&y], &["pool"], vec![])
        .node("Flatten", &["pool"], &["flat"], vec![attr_int("axis", 1)])
        .initializer("fc_w", &[classes as i64, last], &fc_w)
        .initializer("fc_b", &[classes as i64], &fc_b)
        .node("Gemm", &["flat", "fc_w", "fc_b"], &["logits"], vec![attr_int("transB", 1)])
        .output_shaped("logits", &[-1, classes as i64])
        .build()
}
