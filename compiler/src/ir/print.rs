//! Text, Graphviz DOT and JSON renderings of the IR (what `mobilenetc dump` shows).
//!
//! Nodes are numbered `%0, %1, ...` in topological order, so dumps of the same graph are stable.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::{ConvKind, Graph, NodeId, Op};
use crate::error::Result;

struct Numbering {
    order: Vec<NodeId>,
    index: HashMap<NodeId, usize>,
}

fn numbering(g: &Graph) -> Result<Numbering> {
    let order = g.topo_order()?;
    let index = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    Ok(Numbering { order, index })
}

fn type_text(g: &Graph, n: NodeId) -> String {
    g.node(n).ty.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "?".into())
}

/// The op name with its convolution kind, when the types tell it.
fn op_label(g: &Graph, n: NodeId) -> String {
    let name = g.op(n).name();
    match g.conv_kind(n) {
        Some(ConvKind::Depthwise) => "Conv(depthwise)".into(),
        Some(ConvKind::Pointwise) => "Conv(pointwise)".into(),
        _ => name.into(),
    }
}

/// One line per node: `%id = Op attrs (operands) : type  # onnx node names`.
pub fn to_text(g: &Graph, stage: &str) -> Result<String> {
    let num = numbering(g)?;
    let groups = g.group_index();
    let mut out = String::new();
    let file = g.source.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let _ = writeln!(out, "# {file} ({}, opset {}), stage {stage}", g.source.producer.trim(), g.source.opset);
    let _ = writeln!(
        out,
        "# {} operations, {} constants",
        g.op_count(),
        g.dag.node_count() - g.op_count() - g.inputs.len()
    );
    for &n in &num.order {
        let node = g.node(n);
        let id = num.index[&n];
        let ty = type_text(g, n);
        match &node.op {
            Op::Input { .. } => {
                let _ = writeln!(out, "%{id} = input '{}' : {ty}", node.name);
            }
            Op::Constant(_) => {
                let _ = writeln!(out, "%{id} = {} : {ty}  # {}", node.op, node.name);
            }
            op => {
                let operands: Vec<String> = g.operands(n).iter().map(|o| format!("%{}", num.index[o])).collect();
                let attrs = op.describe();
                let sep = if attrs.is_empty() { "" } else { " " };
                let group =
                    groups.get(&n).map(|&gi| format!(" [group {gi} {:?}]", g.groups[gi].kind)).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "%{id} = {}{sep}{attrs} ({}) : {ty}{group}  # {}",
                    op_label(g, n),
                    operands.join(", "),
                    node.origin.join(", ")
                );
            }
        }
    }
    for o in g.outputs() {
        let _ = writeln!(out, "output '{}' = %{}", o.name, num.index[&o.node]);
    }
    Ok(out)
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz DOT. Constants are folded into the label of their consumer (as operand shapes) to
/// keep the picture readable; fused groups are drawn as clusters.
pub fn to_dot(g: &Graph, stage: &str) -> Result<String> {
    let num = numbering(g)?;
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(stage));
    let _ = writeln!(out, "  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];");
    let label = |n: NodeId| -> String {
        let node = g.node(n);
        let mut l = format!("%{} {}", num.index[&n], op_label(g, n));
        let attrs = match &node.op {
            Op::Constant(_) => String::new(),
            op => op.describe(),
        };
        if !attrs.is_empty() {
            l += &format!("\\n{}", dot_escape(&attrs));
        }
        let weights: Vec<String> =
            g.operands(n).iter().filter(|&&o| g.constant(o).is_some()).map(|&o| type_text(g, o)).collect();
        if !weights.is_empty() {
            l += &format!("\\nconst {}", weights.join(" "));
        }
        l += &format!("\\n{}", type_text(g, n));
        l
    };
    let shown = |n: NodeId| !matches!(g.op(n), Op::Constant(_));
    let mut in_group = HashMap::new();
    for (gi, grp) in g.groups.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{gi} {{\n    label=\"{:?}\"; style=dashed;", grp.kind);
        for &n in &grp.nodes {
            in_group.insert(n, gi);
            let _ = writeln!(out, "    n{} [label=\"{}\"];", n.index(), label(n));
        }
        let _ = writeln!(out, "  }}");
    }
    for &n in &num.order {
        if !shown(n) || in_group.contains_key(&n) {
            continue;
        }
        let style = match g.op(n) {
            Op::Input { .. } => ", shape=ellipse",
            Op::Conv(_) | Op::Gemm(_) => ", style=filled, fillcolor=\"#dde8f7\"",
            _ => "",
        };
        let _ = writeln!(out, "  n{} [label=\"{}\"{style}];", n.index(), label(n));
    }
    for &n in &num.order {
        if !shown(n) {
            continue;
        }
        for o in g.operands(n) {
            if shown(o) {
                let _ = writeln!(out, "  n{} -> n{};", o.index(), n.index());
            }
        }
    }
    for (i, o) in g.outputs().iter().enumerate() {
        let _ = writeln!(out, "  out{i} [label=\"{}\", shape=ellipse];", dot_escape(&o.name));
        let _ = writeln!(out, "  n{} -> out{i};", o.node.index());
    }
    out += "}\n";
    Ok(out)
}

#[derive(serde::Serialize)]
struct JsonNode<'a> {
    id: usize,
    op: String,
    attrs: String,
    operands: Vec<usize>,
    #[serde(rename = "type")]
    ty: Option<&'a super::TensorType>,
    name: &'a str,
    origin: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<usize>,
}

#[derive(serde::Serialize)]
struct JsonGroup {
    kind: super::GroupKind,
    nodes: Vec<usize>,
}

#[derive(serde::Serialize)]
struct JsonGraph<'a> {
    stage: &'a str,
    producer: &'a str,
    opset: i64,
    inputs: Vec<(&'a str, usize)>,
    outputs: Vec<(&'a str, usize)>,
    nodes: Vec<JsonNode<'a>>,
    groups: Vec<JsonGroup>,
}

/// JSON: every node with its operands (by id), type and origin.
pub fn to_json(g: &Graph, stage: &str) -> Result<String> {
    let num = numbering(g)?;
    let groups = g.group_index();
    let nodes = num
        .order
        .iter()
        .map(|&n| {
            let node = g.node(n);
            JsonNode {
                id: num.index[&n],
                op: op_label(g, n),
                attrs: node.op.describe(),
                operands: g.operands(n).iter().map(|o| num.index[o]).collect(),
                ty: node.ty.as_ref(),
                name: &node.name,
                origin: &node.origin,
                group: groups.get(&n).copied(),
            }
        })
        .collect();
    let doc = JsonGraph {
        stage,
        producer: g.source.producer.trim(),
        opset: g.source.opset,
        inputs: g.inputs.iter().map(|i| (i.name.as_str(), num.index[&i.node])).collect(),
        outputs: g.outputs().iter().map(|o| (o.name.as_str(), num.index[&o.node])).collect(),
        nodes,
        groups: g
            .groups
            .iter()
            .map(|grp| JsonGroup { kind: grp.kind, nodes: grp.nodes.iter().map(|n| num.index[n]).collect() })
            .collect(),
    };
    serde_json::to_string_pretty(&doc).map_err(|e| crate::error::Error::internal(e.to_string()))
}
