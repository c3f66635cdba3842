//! The intermediate representation: a petgraph `StableDiGraph` whose nodes are typed operations
//! producing one tensor each, and whose edges run from producer to consumer carrying the operand
//! slot. `StableGraph` keeps node ids valid while passes rewrite the graph.
//!
//! Shapes are static: every symbolic dimension of the ONNX file is fixed by the user's options
//! before shape inference, so after `passes::shape_inference` every node has a `TensorType`.

pub mod infer;
pub mod op;
pub mod print;
pub mod quant;
pub mod tensor;
pub mod verify;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;

use petgraph::Direction;
use petgraph::stable_graph::StableDiGraph;
use petgraph::visit::{EdgeRef, IntoEdgeReferences, NodeIndexable};

pub use op::{Activation, AutoPad, BinaryOp, Conv, Gemm, Op, Pool, PoolKind, Window};
pub use quant::{QBinary, QBinaryKind, QConv, QGemm, QLookup, QPool, Quant};
pub use tensor::{DType, Data, Tensor, TensorType, row_major_strides};

use crate::error::{Error, NodeContext, Result};

/// Index of a node in the graph; stable across removals.
pub type NodeId = petgraph::stable_graph::NodeIndex;

/// One IR node: an operation and the value it produces.
#[derive(Clone, Debug)]
pub struct Node {
    /// What the node computes.
    pub op: Op,
    /// Name of the produced value (the ONNX tensor name where there is one).
    pub name: String,
    /// Names of the ONNX nodes this node was made from (several after fusion).
    pub origin: Vec<String>,
    /// Static type, known after shape inference.
    pub ty: Option<TensorType>,
}

/// A dimension as the ONNX file declares it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum DeclaredDim {
    /// A known size.
    Fixed(usize),
    /// A named, unknown size (e.g. `batch`).
    Symbolic(String),
}

/// A graph input: its IR node and the shape the file declared for it.
#[derive(Clone, Debug)]
pub struct GraphInput {
    /// The ONNX name of the input.
    pub name: String,
    /// The `Op::Input` node standing for it.
    pub node: NodeId,
    /// The shape as declared in the file.
    pub declared: Vec<DeclaredDim>,
}

/// A graph output: the ONNX name and the node producing it.
#[derive(Clone, Debug)]
pub struct GraphOutput {
    /// The ONNX name of the output.
    pub name: String,
    /// The node producing it.
    pub node: NodeId,
}

/// Nodes that later stages may execute together without materialising the tensors between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    /// depthwise conv -> pointwise (1x1) conv.
    DepthwisePointwise,
    /// expand 1x1 conv -> depthwise conv -> project 1x1 conv.
    InvertedResidual,
}

#[derive(Clone, Debug, PartialEq, Eq)]
/// A run of convolutions the fusion pass marked to execute as one block.
pub struct FusedGroup {
    /// Which pattern the group follows.
    pub kind: GroupKind,
    /// The convolutions, in execution order.
    pub nodes: Vec<NodeId>,
}

/// Where the graph came from, for messages and dumps.
#[derive(Clone, Debug, Default)]
pub struct SourceInfo {
    /// The ONNX file, when the graph came from one.
    pub path: Option<PathBuf>,
    /// Every file read to build the graph (the model and its external data), so that build
    /// systems can rebuild when one changes.
    pub files: Vec<PathBuf>,
    /// The producer named in the file (`pytorch`, `tf2onnx`, ...).
    pub producer: String,
    /// The default-domain opset the file imports.
    pub opset: i64,
}

#[derive(Clone, Debug, Default)]
/// The IR: a DAG of typed operations, each producing one value. Edge weights are operand
/// slots.
pub struct Graph {
    /// The nodes, with operand slots as edge weights.
    pub dag: StableDiGraph<Node, usize>,
    /// The graph inputs, in the file's order.
    pub inputs: Vec<GraphInput>,
    /// Through `outputs()` and `add_output`, which keep `output_at` in step.
    outputs: Vec<GraphOutput>,
    /// For each node that is a graph output, its positions in `outputs` (so that asking whether
    /// a node is an output costs the same for a graph with 10,000 outputs as with one).
    output_at: HashMap<NodeId, Vec<usize>>,
    /// Fused groups marked by the fusion pass.
    pub groups: Vec<FusedGroup>,
    /// Where the graph came from.
    pub source: SourceInfo,
}

/// How a convolution uses its channels, derived from its weight shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKind {
    /// One input and one output channel per group, spatial kernel.
    Depthwise,
    /// 1x1, stride 1, no padding, a single group.
    Pointwise,
    /// Anything else (the first 3x3 conv of MobileNets, grouped convs).
    Regular,
}

impl Graph {
    /// The node `n`.
    pub fn node(&self, n: NodeId) -> &Node {
        &self.dag[n]
    }
    /// The node `n`, mutably.
    pub fn node_mut(&mut self, n: NodeId) -> &mut Node {
        &mut self.dag[n]
    }
    /// The operation of node `n`.
    pub fn op(&self, n: NodeId) -> &Op {
        &self.dag[n].op
    }
    /// One more than the largest node index in use (node indices are below it).
    pub fn node_bound(&self) -> usize {
        self.dag.node_bound()
    }
    /// Whether `n` is still in the graph.
    pub fn contains(&self, n: NodeId) -> bool {
        self.dag.contains_node(n)
    }

    /// Adds a node and wires `operands` to slots 0, 1, ...
    pub fn add(&mut self, op: Op, name: impl Into<String>, origin: Vec<String>, operands: &[NodeId]) -> NodeId {
        let n = self.dag.add_node(Node { op, name: name.into(), origin, ty: None });
        for (slot, &src) in operands.iter().enumerate() {
            self.dag.add_edge(src, n, slot);
        }
        n
    }

    /// Adds a typed constant node.
    pub fn add_constant(&mut self, t: Tensor, name: impl Into<String>, origin: Vec<String>) -> NodeId {
        let ty = t.type_of();
        let n = self.add(Op::Constant(t), name, origin, &[]);
        self.dag[n].ty = Some(ty);
        n
    }

    /// The operands of `n`, in slot order.
    pub fn operands(&self, n: NodeId) -> Vec<NodeId> {
        let mut edges: Vec<(usize, NodeId)> =
            self.dag.edges_directed(n, Direction::Incoming).map(|e| (*e.weight(), e.source())).collect();
        edges.sort_unstable();
        edges.into_iter().map(|(_, s)| s).collect()
    }

    /// The operand of `n` in slot `slot`, if connected.
    pub fn operand(&self, n: NodeId, slot: usize) -> Option<NodeId> {
        self.dag.edges_directed(n, Direction::Incoming).find(|e| *e.weight() == slot).map(|e| e.source())
    }

    /// Replaces the operands of `n` by `operands` (slots 0, 1, ...).
    pub fn set_operands(&mut self, n: NodeId, operands: &[NodeId]) {
        let old: Vec<_> = self.dag.edges_directed(n, Direction::Incoming).map(|e| e.id()).collect();
        for e in old {
            self.dag.remove_edge(e);
        }
        for (slot, &src) in operands.iter().enumerate() {
            self.dag.add_edge(src, n, slot);
        }
    }

    /// Consumers of `n` with the slot through which each uses it.
    pub fn users(&self, n: NodeId) -> Vec<(NodeId, usize)> {
        let mut u: Vec<(NodeId, usize)> =
            self.dag.edges_directed(n, Direction::Outgoing).map(|e| (e.target(), *e.weight())).collect();
        u.sort_unstable();
        u
    }

    /// Whether `n` produces a graph output.
    pub fn is_output(&self, n: NodeId) -> bool {
        self.output_at.contains_key(&n)
    }

    /// The graph outputs, in the file's order.
    pub fn outputs(&self) -> &[GraphOutput] {
        &self.outputs
    }

    /// Appends a graph output `name` produced by `node`.
    pub fn add_output(&mut self, name: impl Into<String>, node: NodeId) {
        self.output_at.entry(node).or_default().push(self.outputs.len());
        self.outputs.push(GraphOutput { name: name.into(), node });
    }

    /// True when the value of `n` is read exactly once and is not a graph output: it can be
    /// folded into its consumer.
    pub fn has_single_use(&self, n: NodeId) -> bool {
        self.dag.edges_directed(n, Direction::Outgoing).take(2).count() == 1 && !self.is_output(n)
    }

    /// Points every consumer (and graph output) of `old` at `new`.
    pub fn replace_uses(&mut self, old: NodeId, new: NodeId) {
        let uses: Vec<_> =
            self.dag.edges_directed(old, Direction::Outgoing).map(|e| (e.id(), e.target(), *e.weight())).collect();
        for (e, target, slot) in uses {
            self.dag.remove_edge(e);
            self.dag.add_edge(new, target, slot);
        }
        if let Some(at) = self.output_at.remove(&old) {
            for &i in &at {
                self.outputs[i].node = new;
            }
            self.output_at.entry(new).or_default().extend(at);
        }
    }

    /// Removes `n` and its edges.
    pub fn remove(&mut self, n: NodeId) {
        self.dag.remove_node(n);
    }

    /// Node ids in a topological order that prefers lower ids (so the order follows the file
    /// wherever the dependencies allow, which keeps dumps readable and runs deterministic).
    pub fn topo_order(&self) -> Result<Vec<NodeId>> {
        let mut indegree = vec![0usize; self.node_bound()];
        for e in (&self.dag).edge_references() {
            indegree[e.target().index()] += 1;
        }
        let mut ready: BinaryHeap<Reverse<usize>> =
            self.dag.node_indices().filter(|n| indegree[n.index()] == 0).map(|n| Reverse(n.index())).collect();
        let mut order = Vec::with_capacity(self.dag.node_count());
        while let Some(Reverse(i)) = ready.pop() {
            let n = NodeId::new(i);
            order.push(n);
            for e in self.dag.edges_directed(n, Direction::Outgoing) {
                let t = e.target().index();
                indegree[t] -= 1;
                if indegree[t] == 0 {
                    ready.push(Reverse(t));
                }
            }
        }
        if order.len() != self.dag.node_count() {
            let stuck = self
                .dag
                .node_indices()
                .find(|n| indegree[n.index()] > 0)
                .map(|n| self.dag[n].name.clone())
                .unwrap_or_default();
            return Err(Error::invalid(format!("the graph has a cycle through '{stuck}'")));
        }
        Ok(order)
    }

    /// The static type of `n`; an internal error before shape inference.
    pub fn ty(&self, n: NodeId) -> Result<&TensorType> {
        self.dag[n].ty.as_ref().ok_or_else(|| {
            Error::internal(format!("value '{}' has no type (shape inference has not run)", self.dag[n].name))
        })
    }

    /// The static shape of `n` (an error before shape inference).
    pub fn shape(&self, n: NodeId) -> Result<&[usize]> {
        Ok(&self.ty(n)?.shape)
    }

    /// The tensor of a constant node.
    pub fn constant(&self, n: NodeId) -> Option<&Tensor> {
        match &self.dag[n].op {
            Op::Constant(t) => Some(t),
            _ => None,
        }
    }

    /// Context for error messages about `n`: its ONNX name(s) and op.
    pub fn context(&self, n: NodeId) -> NodeContext {
        let node = &self.dag[n];
        NodeContext {
            name: if node.origin.is_empty() { node.name.clone() } else { node.origin.join("+") },
            op_type: node.op.name().to_string(),
            domain: String::new(),
            opset: self.source.opset,
        }
    }

    /// Number of operation nodes (everything but inputs and constants).
    pub fn op_count(&self) -> usize {
        self.dag.node_weights().filter(|n| !matches!(n.op, Op::Input { .. } | Op::Constant(_))).count()
    }

    /// Classifies a Conv node by its channel use (needs types).
    pub fn conv_kind(&self, n: NodeId) -> Option<ConvKind> {
        let c = self.op(n).as_conv()?;
        let w = self.operand(n, 1).and_then(|w| self.dag[w].ty.as_ref())?;
        let (m, cpg) = (w.shape[0], w.shape[1]);
        Some(if c.group > 1 && cpg == 1 && m == c.group {
            ConvKind::Depthwise
        } else if c.group == 1 && c.window.is_unit() {
            ConvKind::Pointwise
        } else {
            ConvKind::Regular
        })
    }

    /// For each node in a group, the group's index.
    pub fn group_index(&self) -> HashMap<NodeId, usize> {
        self.groups.iter().enumerate().flat_map(|(i, grp)| grp.nodes.iter().map(move |&n| (n, i))).collect()
    }

    /// Removes nodes whose values reach no graph output; inputs stay. Returns how many were
    /// removed. One backward walk from the outputs: linear in the graph's size.
    pub fn remove_dead(&mut self) -> usize {
        let mut live = vec![false; self.node_bound()];
        let mut stack: Vec<NodeId> = self.outputs.iter().map(|o| o.node).collect();
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut live[n.index()], true) {
                continue;
            }
            stack.extend(self.dag.neighbors_directed(n, Direction::Incoming));
        }
        let dead: Vec<NodeId> = self
            .dag
            .node_indices()
            .filter(|&n| !live[n.index()] && !matches!(self.dag[n].op, Op::Input { .. }))
            .collect();
        for &n in &dead {
            self.dag.remove_node(n);
        }
        let dag = &self.dag;
        self.groups.retain(|g| g.nodes.iter().all(|&n| dag.contains_node(n)));
        dead.len()
    }
}
