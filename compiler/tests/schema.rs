//! The hand-written prost schema (`onnx/proto.rs`) against an independent encoder of ONNX's
//! messages, the `onnx-protobuf` crate (generated from onnx.proto by rust-protobuf, another
//! protobuf runtime): every field the compiler reads is set to a value of its own, encoded by
//! rust-protobuf, decoded by prost, and compared field by field; and the other way round. A
//! wrong field number or type in the schema fails here.

use mobilenet_compiler::onnx::proto as ours;
use mobilenet_compiler::{Limits, onnx};
use onnx_protobuf as theirs;
use onnx_protobuf::Message as _;
use prost::Message as _;
use protobuf::EnumOrUnknown;

fn entry(key: &str, value: &str) -> theirs::StringStringEntryProto {
    theirs::StringStringEntryProto { key: key.into(), value: value.into(), ..Default::default() }
}

fn tensor(name: &str) -> theirs::TensorProto {
    theirs::TensorProto {
        dims: vec![2, 3],
        data_type: theirs::tensor_proto::DataType::FLOAT as i32,
        float_data: vec![1.5, -2.5],
        int32_data: vec![7, -8],
        string_data: vec![b"s".to_vec()],
        int64_data: vec![1 << 40, -3],
        name: name.into(),
        doc_string: format!("{name} doc"),
        raw_data: vec![1, 2, 3, 4],
        external_data: vec![entry("location", "w.data"), entry("offset", "16")],
        data_location: EnumOrUnknown::new(theirs::tensor_proto::DataLocation::EXTERNAL),
        double_data: vec![0.25, 1e300],
        uint64_data: vec![u64::MAX, 5],
        ..Default::default()
    }
}

fn value_info(name: &str) -> theirs::ValueInfoProto {
    use theirs::tensor_shape_proto::{Dimension, dimension};
    let dims = vec![
        Dimension { value: Some(dimension::Value::DimValue(4)), denotation: "DATA_BATCH".into(), ..Default::default() },
        Dimension { value: Some(dimension::Value::DimParam("h".into())), ..Default::default() },
    ];
    let shape = theirs::TensorShapeProto { dim: dims, ..Default::default() };
    let tensor_type = theirs::type_proto::Tensor { elem_type: 11, shape: Some(shape).into(), ..Default::default() };
    let ty = theirs::TypeProto {
        value: Some(theirs::type_proto::Value::TensorType(tensor_type)),
        denotation: "IMAGE".into(),
        ..Default::default()
    };
    theirs::ValueInfoProto {
        name: name.into(),
        type_: Some(ty).into(),
        doc_string: "vi doc".into(),
        ..Default::default()
    }
}

fn attribute() -> theirs::AttributeProto {
    theirs::AttributeProto {
        name: "a".into(),
        ref_attr_name: "r".into(),
        doc_string: "attr doc".into(),
        type_: EnumOrUnknown::new(theirs::attribute_proto::AttributeType::INTS),
        f: 0.5,
        i: -9,
        s: b"bytes".to_vec(),
        t: Some(tensor("t")).into(),
        floats: vec![1.0, 2.0],
        ints: vec![3, -4, 1 << 50],
        strings: vec![b"x".to_vec(), b"y".to_vec()],
        tensors: vec![tensor("t1"), tensor("t2")],
        ..Default::default()
    }
}

fn model() -> theirs::ModelProto {
    let node = theirs::NodeProto {
        input: vec!["in".into(), "".into()],
        output: vec!["out".into()],
        name: "n".into(),
        op_type: "Conv".into(),
        domain: "ai.onnx".into(),
        attribute: vec![attribute()],
        doc_string: "node doc".into(),
        ..Default::default()
    };
    let graph = theirs::GraphProto {
        node: vec![node],
        name: "g".into(),
        initializer: vec![tensor("w")],
        doc_string: "graph doc".into(),
        input: vec![value_info("in")],
        output: vec![value_info("out")],
        value_info: vec![value_info("mid")],
        ..Default::default()
    };
    let opset =
        |domain: &str, version| theirs::OperatorSetIdProto { domain: domain.into(), version, ..Default::default() };
    theirs::ModelProto {
        ir_version: 8,
        opset_import: vec![opset("", 13), opset("com.microsoft", 1)],
        producer_name: "p".into(),
        producer_version: "1.2".into(),
        domain: "d".into(),
        model_version: 3,
        doc_string: "model doc".into(),
        graph: Some(graph).into(),
        metadata_props: vec![entry("k", "v")],
        ..Default::default()
    }
}

// ---- their messages, field by field, as ours ----

fn t_entry(e: &theirs::StringStringEntryProto) -> ours::StringStringEntryProto {
    ours::StringStringEntryProto { key: e.key.clone(), value: e.value.clone() }
}

fn t_tensor(t: &theirs::TensorProto) -> ours::TensorProto {
    ours::TensorProto {
        dims: t.dims.clone(),
        data_type: t.data_type,
        float_data: t.float_data.clone(),
        int32_data: t.int32_data.clone(),
        string_data: t.string_data.clone(),
        int64_data: t.int64_data.clone(),
        name: t.name.clone(),
        doc_string: t.doc_string.clone(),
        raw_data: t.raw_data.clone(),
        external_data: t.external_data.iter().map(t_entry).collect(),
        data_location: t.data_location.value(),
        double_data: t.double_data.clone(),
        uint64_data: t.uint64_data.clone(),
    }
}

fn t_value_info(v: &theirs::ValueInfoProto) -> ours::ValueInfoProto {
    let ty = v.type_.as_ref().map(|ty| {
        let tensor_type = match &ty.value {
            Some(theirs::type_proto::Value::TensorType(t)) => Some(ours::TypeProtoTensor {
                elem_type: t.elem_type,
                shape: t.shape.as_ref().map(|s| ours::TensorShapeProto {
                    dim: s
                        .dim
                        .iter()
                        .map(|d| ours::Dimension {
                            value: d.value.as_ref().and_then(|v| match v {
                                theirs::tensor_shape_proto::dimension::Value::DimValue(x) => {
                                    Some(ours::dimension::Value::DimValue(*x))
                                }
                                theirs::tensor_shape_proto::dimension::Value::DimParam(p) => {
                                    Some(ours::dimension::Value::DimParam(p.clone()))
                                }
                                _ => None,
                            }),
                            denotation: d.denotation.clone(),
                        })
                        .collect(),
                }),
            }),
            _ => None,
        };
        ours::TypeProto { tensor_type, denotation: ty.denotation.clone() }
    });
    ours::ValueInfoProto { name: v.name.clone(), r#type: ty, doc_string: v.doc_string.clone() }
}

fn t_attribute(a: &theirs::AttributeProto) -> ours::AttributeProto {
    ours::AttributeProto {
        name: a.name.clone(),
        ref_attr_name: a.ref_attr_name.clone(),
        doc_string: a.doc_string.clone(),
        r#type: a.type_.value(),
        f: a.f,
        i: a.i,
        s: a.s.clone(),
        t: a.t.as_ref().map(t_tensor),
        floats: a.floats.clone(),
        ints: a.ints.clone(),
        strings: a.strings.clone(),
        tensors: a.tensors.iter().map(t_tensor).collect(),
    }
}

fn t_model(m: &theirs::ModelProto) -> ours::ModelProto {
    let graph = m.graph.as_ref().map(|g| ours::GraphProto {
        node: g
            .node
            .iter()
            .map(|n| ours::NodeProto {
                input: n.input.clone(),
                output: n.output.clone(),
                name: n.name.clone(),
                op_type: n.op_type.clone(),
                domain: n.domain.clone(),
                attribute: n.attribute.iter().map(t_attribute).collect(),
                doc_string: n.doc_string.clone(),
            })
            .collect(),
        name: g.name.clone(),
        initializer: g.initializer.iter().map(t_tensor).collect(),
        doc_string: g.doc_string.clone(),
        input: g.input.iter().map(t_value_info).collect(),
        output: g.output.iter().map(t_value_info).collect(),
        value_info: g.value_info.iter().map(t_value_info).collect(),
    });
    ours::ModelProto {
        ir_version: m.ir_version,
        opset_import: m
            .opset_import
            .iter()
            .map(|o| ours::OperatorSetIdProto { domain: o.domain.clone(), version: o.version })
            .collect(),
        producer_name: m.producer_name.clone(),
        producer_version: m.producer_version.clone(),
        domain: m.domain.clone(),
        model_version: m.model_version,
        doc_string: m.doc_string.clone(),
        graph,
        metadata_props: m.metadata_props.iter().map(t_entry).collect(),
    }
}

#[test]
fn prost_decodes_what_rust_protobuf_encodes() {
    let theirs = model();
    let bytes = theirs.write_to_bytes().unwrap();
    let decoded = ours::ModelProto::decode(&bytes[..]).unwrap();
    let expected = t_model(&theirs);
    // Message by message first, so that a failure names the message that differs.
    let (g, e) = (decoded.graph.as_ref().unwrap(), expected.graph.as_ref().unwrap());
    assert_eq!(g.node[0].attribute[0].t, e.node[0].attribute[0].t, "AttributeProto.t");
    assert_eq!(g.node[0].attribute, e.node[0].attribute, "AttributeProto");
    assert_eq!(g.initializer, e.initializer, "TensorProto");
    assert_eq!(g.input, e.input, "ValueInfoProto");
    assert_eq!(g.node, e.node, "NodeProto");
    assert_eq!(decoded, expected, "ModelProto");
    // The wire scan takes it too.
    onnx::wire::scan(&bytes, &Limits::default()).unwrap();
}

#[test]
fn rust_protobuf_decodes_what_prost_encodes() {
    let ours = t_model(&model());
    let bytes = ours.encode_to_vec();
    let decoded = theirs::ModelProto::parse_from_bytes(&bytes).unwrap();
    assert_eq!(t_model(&decoded), ours);
}
