//! ONNX -> IR. One function per ONNX op (in `ops/`), opset-aware; everything ONNX-specific stops
//! here. The importer is faithful: it builds one IR node per ONNX node (attribute-like inputs
//! such as Clip bounds or Squeeze axes become op fields), and leaves all simplification to the
//! passes, so `mobilenetc dump --stage imported` shows the model as the file has it.

mod attrs;
mod ops;
mod tensor;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;

use crate::error::{Error, NodeContext, Result, err};
use crate::ir::{DType, DeclaredDim, Graph, GraphInput, NodeId, Op, SourceInfo, Tensor, TensorType};
use crate::onnx::ExternalData;
use crate::onnx::proto::{ModelProto, NodeProto, TensorProto, ValueInfoProto, dimension};
use crate::options::{Limits, Options, ShapeOptions};

pub use ops::SUPPORTED_OPS;
pub use tensor::checked_dims;

/// A TensorProto as an IR tensor (data in the message, not external), with the limits'
/// checks: how tests read ONNX's own test data (`input_0.pb`).
pub fn tensor_from_proto(t: &TensorProto, limits: &Limits) -> Result<Tensor> {
    tensor::convert(t, &ExternalData::new(None, limits), limits)
}

/// What a tensor name refers to while importing.
enum Value<'m> {
    Node(NodeId),
    /// An initializer not yet turned into a Constant node (done on first use).
    Initializer(&'m TensorProto),
    /// A secondary output of a node (Dropout's mask, BatchNormalization's training outputs),
    /// which the compiler does not compute.
    Unsupported {
        producer: String,
        op_type: String,
    },
}

pub(crate) struct Importer<'m> {
    graph: Graph,
    opset: i64,
    /// The model imports the com.microsoft domain (ONNX Runtime's quantised operators).
    contrib: bool,
    values: HashMap<&'m str, Value<'m>>,
    external: ExternalData,
    limits: &'m Limits,
    /// Weight values converted so far (checked against `Limits::max_total_weights`).
    weights: std::cell::Cell<u64>,
}

/// The node being imported, as seen by an op's import function.
pub(crate) struct NodeCx<'a, 'm> {
    imp: &'a mut Importer<'m>,
    pub proto: &'m NodeProto,
    pub attrs: attrs::Attrs<'m>,
    pub opset: i64,
}

impl<'m> NodeCx<'_, 'm> {
    /// Number of inputs the node lists (including empty optional ones).
    pub fn input_count(&self) -> usize {
        self.proto.input.len()
    }

    /// Operand `i`, which must be present.
    pub fn input(&mut self, i: usize) -> Result<NodeId> {
        self.optional_input(i)?.ok_or_else(|| err!(invalid, "required input {i} is missing"))
    }

    /// Operand `i`, or `None` when absent or given as "".
    pub fn optional_input(&mut self, i: usize) -> Result<Option<NodeId>> {
        match self.proto.input.get(i) {
            None => Ok(None),
            Some(name) if name.is_empty() => Ok(None),
            Some(name) => self.imp.value(name).map(Some),
        }
    }

    /// The value of input `i`, which must be known at compile time (an initializer or a Constant
    /// node, possibly behind Identity). `None` when the input is absent.
    pub fn static_input(&mut self, i: usize, what: &str) -> Result<Option<Tensor>> {
        let Some(mut n) = self.optional_input(i)? else { return Ok(None) };
        loop {
            match &self.imp.graph.op(n) {
                Op::Constant(t) => return Ok(Some(t.clone())),
                Op::Identity { .. } => match self.imp.graph.operand(n, 0) {
                    Some(src) => n = src,
                    None => break,
                },
                _ => break,
            }
        }
        Err(err!(
            unsupported,
            "{what} (input {i}, '{}') must be a constant; computing it at run time is not supported",
            self.proto.input[i]
        ))
    }

    /// A static input read as a list of i64 (axes, pads, shapes).
    pub fn static_ints(&mut self, i: usize, what: &str) -> Result<Option<Vec<i64>>> {
        match self.static_input(i, what)? {
            None => Ok(None),
            Some(t) if matches!(t.dtype, DType::I64 | DType::I32) => Ok(t.as_i64().map(<[i64]>::to_vec)),
            Some(t) => Err(err!(invalid, "{what} must be an int64 (or int32) tensor, got {}", t.dtype)),
        }
    }

    /// A static input read as one float (Clip bounds, Pad value).
    pub fn static_scalar(&mut self, i: usize, what: &str) -> Result<Option<f32>> {
        match self.static_input(i, what)? {
            None => Ok(None),
            Some(t) if t.dtype != DType::F32 => {
                Err(err!(invalid, "{what} must be float32, like the input, got {}", t.dtype))
            }
            Some(t) => t
                .scalar_value()
                .map(Some)
                .ok_or_else(|| err!(invalid, "{what} must hold a single value, got shape {:?}", t.shape)),
        }
    }

    /// Adds the node's IR node, named after its first output.
    pub fn add(&mut self, op: Op, operands: &[NodeId]) -> NodeId {
        let name = self.proto.output.first().cloned().unwrap_or_default();
        self.imp.graph.add(op, name, vec![self.proto.name.clone()], operands)
    }

    /// Adds an intermediate IR node of this ONNX node (one node imported as several).
    pub fn add_part(&mut self, op: Op, operands: &[NodeId], part: usize) -> NodeId {
        let name = format!("{}#{part}", self.proto.output.first().cloned().unwrap_or_default());
        self.imp.graph.add(op, name, vec![self.proto.name.clone()], operands)
    }

    /// Adds a constant produced by this node (the Constant op).
    pub fn add_constant(&mut self, t: Tensor) -> NodeId {
        let name = self.proto.output.first().cloned().unwrap_or_default();
        self.imp.graph.add_constant(t, name, vec![self.proto.name.clone()])
    }

    pub fn convert_tensor(&self, t: &TensorProto) -> Result<Tensor> {
        self.imp.convert(t)
    }
}

impl<'m> Importer<'m> {
    /// Converts a tensor, counting its values against the total-weights limit.
    fn convert(&self, t: &TensorProto) -> Result<Tensor> {
        // Counted from the dims (checked first) before anything is converted.
        let (_, count) = tensor::checked_dims(&t.dims, self.limits, &format!("tensor '{}'", t.name))?;
        let total = self.weights.get().saturating_add(count as u64);
        if total > self.limits.max_total_weights {
            return Err(err!(
                limit,
                "the model's weights exceed {} values (Limits::max_total_weights) at tensor '{}'",
                self.limits.max_total_weights,
                t.name
            ));
        }
        let tensor = tensor::convert(t, &self.external, self.limits)?;
        self.weights.set(total);
        Ok(tensor)
    }

    fn value(&mut self, name: &str) -> Result<NodeId> {
        match self.values.get(name) {
            Some(Value::Node(n)) => Ok(*n),
            Some(Value::Initializer(t)) => {
                let t: &'m TensorProto = t;
                let tensor = self.convert(t)?;
                let n = self.graph.add_constant(tensor, t.name.clone(), vec![]);
                self.values.insert(t.name.as_str(), Value::Node(n));
                Ok(n)
            }
            Some(Value::Unsupported { producer, op_type }) => Err(err!(
                unsupported,
                "uses '{name}', a secondary output of {op_type} node '{producer}'; only the first output of such nodes is supported"
            )),
            None => Err(err!(invalid, "uses tensor '{name}', which no node, initializer or graph input defines")),
        }
    }
}

/// Imports a decoded model. `path` (the .onnx file) anchors external data and messages.
pub fn import(model: &ModelProto, path: Option<&Path>, options: &Options) -> Result<Graph> {
    let r = import_inner(model, path, options);
    match path {
        Some(p) => r.map_err(|e| e.in_file(p)),
        None => r,
    }
}

fn import_inner(model: &ModelProto, path: Option<&Path>, options: &Options) -> Result<Graph> {
    let limits = &options.limits;
    let graph = model.graph.as_ref().ok_or_else(|| Error::invalid("the model has no graph"))?;
    let opset = default_opset(model)?;
    if graph.node.len() + graph.initializer.len() > limits.max_nodes {
        return Err(err!(
            limit,
            "the graph has {} nodes and {} initializers, more than the limit of {} (Limits::max_nodes)",
            graph.node.len(),
            graph.initializer.len(),
            limits.max_nodes
        ));
    }
    check_names(graph.node.iter().flat_map(|n| n.input.iter().chain(&n.output).chain([&n.name, &n.op_type])), limits)?;

    let mut graph_ir = Graph::default();
    graph_ir.source = SourceInfo {
        path: path.map(Path::to_path_buf),
        producer: format!("{} {}", model.producer_name, model.producer_version).trim().to_string(),
        opset,
        files: Vec::new(),
    };
    let mut imp = Importer {
        graph: graph_ir,
        opset,
        contrib: model.opset_import.iter().any(|o| o.domain == ops::CONTRIB_DOMAIN),
        values: HashMap::new(),
        external: ExternalData::new(path, limits),
        limits,
        weights: std::cell::Cell::new(0),
    };
    for t in &graph.initializer {
        if imp.values.insert(t.name.as_str(), Value::Initializer(t)).is_some() {
            return Err(err!(invalid, "initializer '{}' is defined twice", t.name));
        }
    }
    // Old exporters also list initializers among the graph inputs: those are weights, not inputs.
    let real_inputs: Vec<&ValueInfoProto> =
        graph.input.iter().filter(|i| !imp.values.contains_key(i.name.as_str())).collect();
    if real_inputs.is_empty() {
        return Err(Error::invalid("the graph has no inputs besides its initializers"));
    }
    check_given_shapes(&options.shapes, &real_inputs)?;
    for (index, vi) in real_inputs.iter().enumerate() {
        let (declared, ty) = input_type(vi, real_inputs.len(), &options.shapes, limits)?;
        let n = imp.graph.add(Op::Input { index }, vi.name.clone(), vec![], &[]);
        imp.graph.node_mut(n).ty = Some(ty);
        imp.graph.inputs.push(GraphInput { name: vi.name.clone(), node: n, declared });
        if imp.values.insert(vi.name.as_str(), Value::Node(n)).is_some() {
            return Err(err!(invalid, "graph input '{}' is defined twice", vi.name));
        }
    }

    for node in topological_nodes(graph, &imp.values)? {
        let ctx = node_context(node, opset);
        let n = import_node(&mut imp, node).map_err(|e| e.at_node(&ctx))?;
        for (i, out) in node.output.iter().enumerate() {
            if out.is_empty() {
                continue;
            }
            let value = if i == 0 {
                Value::Node(n)
            } else {
                Value::Unsupported { producer: node.name.clone(), op_type: node.op_type.clone() }
            };
            imp.values.insert(out.as_str(), value);
        }
    }

    if graph.output.is_empty() {
        return Err(Error::invalid("the graph declares no outputs"));
    }
    for out in &graph.output {
        let n = imp
            .value(&out.name)
            .map_err(|e| Error::invalid(format!("graph output '{}': {}", out.name, e.message())))?;
        imp.graph.add_output(out.name.clone(), n);
    }
    Ok(imp.graph)
}

/// Every shape the user gives applies to exactly one graph input, and no input gets two.
fn check_given_shapes(shapes: &ShapeOptions, inputs: &[&ValueInfoProto]) -> Result<()> {
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    for given in &shapes.input_shapes {
        let target = match &given.name {
            Some(name) if names.contains(&name.as_str()) => name.as_str(),
            Some(name) => {
                return Err(err!(usage, "--input-shape names '{name}', but the graph inputs are {names:?}"));
            }
            None if names.len() == 1 => names[0],
            None => {
                return Err(err!(
                    usage,
                    "the graph has {} inputs {names:?}: give each shape with its input's name (NAME=1,3,224,224)",
                    names.len()
                ));
            }
        };
        if !seen.insert(target) {
            return Err(err!(usage, "input '{target}' is given two shapes (--input-shape)"));
        }
    }
    Ok(())
}

fn check_names<'a>(names: impl Iterator<Item = &'a String>, limits: &Limits) -> Result<()> {
    for name in names {
        if name.len() > limits.max_name_len {
            return Err(err!(
                limit,
                "a name of {} bytes ('{}...') exceeds the limit of {} (Limits::max_name_len)",
                name.len(),
                name.chars().take(40).collect::<String>(),
                limits.max_name_len
            ));
        }
    }
    Ok(())
}

fn node_context(node: &NodeProto, opset: i64) -> NodeContext {
    NodeContext { name: node.name.clone(), op_type: node.op_type.clone(), domain: node.domain.clone(), opset }
}

fn default_opset(model: &ModelProto) -> Result<i64> {
    let version = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version);
    match version {
        Some(v) if (1..=ops::MAX_OPSET).contains(&v) => Ok(v),
        Some(v) => Err(err!(
            unsupported,
            "the model uses opset {v} of the default domain; opsets 1 to {} are supported",
            ops::MAX_OPSET
        )),
        None if model.opset_import.is_empty() && model.ir_version > 0 && model.ir_version < 3 => Ok(1),
        None => Err(Error::invalid("the model declares no opset for the default ONNX domain")),
    }
}

/// Nodes in dependency order. ONNX requires files to be sorted, but Paddle2ONNX writes weight
/// Constant nodes after their users, so the order is recomputed. Errors name an undefined
/// tensor or a cycle.
fn topological_nodes<'m>(
    graph: &'m crate::onnx::proto::GraphProto,
    known: &HashMap<&'m str, Value<'m>>,
) -> Result<Vec<&'m NodeProto>> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, node) in graph.node.iter().enumerate() {
        for out in node.output.iter().filter(|o| !o.is_empty()) {
            if known.contains_key(out.as_str()) || producer.insert(out.as_str(), i).is_some() {
                return Err(
                    Error::invalid(format!("tensor '{out}' is defined more than once")).at_node(&node_context(node, 0))
                );
            }
        }
    }
    let mut pending = vec![0usize; graph.node.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); graph.node.len()];
    for (i, node) in graph.node.iter().enumerate() {
        let mut seen = HashSet::new();
        for input in node.input.iter().filter(|s| !s.is_empty()) {
            if let Some(&p) = producer.get(input.as_str()) {
                if seen.insert(p) {
                    pending[i] += 1;
                    users[p].push(i);
                }
            } else if !known.contains_key(input.as_str()) {
                return Err(Error::invalid(format!(
                    "uses tensor '{input}', which no node, initializer or graph input defines"
                ))
                .at_node(&node_context(node, 0)));
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..graph.node.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(graph.node.len());
    while let Some(i) = ready.pop_front() {
        order.push(&graph.node[i]);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.push_back(u);
            }
        }
    }
    if order.len() != graph.node.len() {
        let stuck: Vec<&str> =
            (0..graph.node.len()).filter(|&i| pending[i] > 0).take(5).map(|i| graph.node[i].name.as_str()).collect();
        return Err(err!(invalid, "the graph has a cycle: nodes {stuck:?} depend on each other"));
    }
    Ok(order)
}

fn import_node<'m>(imp: &mut Importer<'m>, node: &'m NodeProto) -> Result<NodeId> {
    let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
    if node.domain == ops::CONTRIB_DOMAIN && !imp.contrib {
        return Err(err!(
            invalid,
            "the node is in domain {}, which the model does not declare in its opset_import",
            node.domain
        ));
    }
    if !(default_domain || node.domain == ops::CONTRIB_DOMAIN) {
        return Err(unsupported_op(node));
    }
    if default_domain && ops::DYNAMIC_QUANTIZATION.contains(&node.op_type.as_str()) {
        return Err(ops::dynamic_quantization(&node.op_type));
    }
    let Some(import_fn) = ops::lookup(&node.domain, &node.op_type) else {
        return Err(unsupported_op(node));
    };
    if node.output.first().is_none_or(|o| o.is_empty()) {
        return Err(Error::invalid("the node has no output"));
    }
    let attrs = attrs::Attrs::new(&node.attribute)?;
    ops::check_schema(node, imp.opset)?;
    let opset = imp.opset;
    let mut cx = NodeCx { imp, proto: node, attrs, opset };
    import_fn(&mut cx)
}

fn unsupported_op(node: &NodeProto) -> Error {
    let domain = if node.domain.is_empty() { "ai.onnx" } else { &node.domain };
    err!(
        unsupported,
        "operator {}::{} is not supported; supported operators: {} (ai.onnx) and {} ({})",
        domain,
        node.op_type,
        SUPPORTED_OPS.join(", "),
        ops::SUPPORTED_CONTRIB_OPS.join(", "),
        ops::CONTRIB_DOMAIN
    )
}

/// The declared dims of a graph input and the concrete type chosen for it.
fn input_type(
    vi: &ValueInfoProto,
    input_count: usize,
    shapes: &ShapeOptions,
    limits: &Limits,
) -> Result<(Vec<DeclaredDim>, TensorType)> {
    let name = &vi.name;
    let tensor_type = vi
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| err!(unsupported, "graph input '{name}' is not a tensor"))?;
    let dtype = tensor::dtype_of(tensor_type.elem_type)
        .map_err(|e| err!(unsupported, "graph input '{name}': {}", e.message()))?;
    if !matches!(dtype, DType::F32 | DType::U8 | DType::I8) {
        return Err(err!(
            unsupported,
            "graph input '{name}' has element type {dtype}; only float32, uint8 and int8 inputs are supported"
        ));
    }
    let Some(shape) = &tensor_type.shape else {
        return Err(err!(unsupported, "graph input '{name}' has no declared rank; give one in the model"));
    };
    let declared: Vec<DeclaredDim> = shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(dimension::Value::DimValue(v)) if *v > 0 => DeclaredDim::Fixed(*v as usize),
            Some(dimension::Value::DimValue(v)) => DeclaredDim::Symbolic(v.to_string()),
            Some(dimension::Value::DimParam(p)) => DeclaredDim::Symbolic(p.clone()),
            None => DeclaredDim::Symbolic("?".into()),
        })
        .collect();
    let given = shapes
        .input_shapes
        .iter()
        .find(|s| s.name.as_deref() == Some(name.as_str()))
        .or_else(|| shapes.input_shapes.iter().find(|s| s.name.is_none() && input_count == 1));
    let mut dims = Vec::with_capacity(declared.len());
    if let Some(given) = given {
        if given.dims.len() != declared.len() {
            return Err(err!(
                usage,
                "input '{name}' has rank {} ({}), but the given shape {:?} has rank {}",
                declared.len(),
                show_declared(&declared),
                given.dims,
                given.dims.len()
            ));
        }
        for (i, (d, &g)) in declared.iter().zip(&given.dims).enumerate() {
            if let DeclaredDim::Fixed(f) = d
                && *f != g
            {
                return Err(err!(
                    usage,
                    "input '{name}' fixes dimension {i} at {f} ({}), but the given shape has {g}",
                    show_declared(&declared)
                ));
            }
            if g == 0 {
                return Err(err!(usage, "input '{name}': dimension {i} cannot be 0"));
            }
        }
        if let (Some(b), Some(&g0)) = (shapes.batch, given.dims.first())
            && b != g0
        {
            return Err(err!(usage, "--batch {b} contradicts the given shape of input '{name}' (batch {g0})"));
        }
        dims = given.dims.clone();
    } else {
        for (i, d) in declared.iter().enumerate() {
            match d {
                DeclaredDim::Fixed(f) => {
                    if i == 0
                        && let Some(b) = shapes.batch.filter(|b| b != f)
                    {
                        return Err(err!(
                            usage,
                            "input '{name}' fixes the batch at {f}; batch {b} needs a model whose batch dimension is symbolic"
                        ));
                    }
                    dims.push(*f);
                }
                DeclaredDim::Symbolic(_) if i == 0 => dims.push(shapes.batch.unwrap_or(1)),
                DeclaredDim::Symbolic(p) => {
                    return Err(err!(
                        usage,
                        "input '{name}' has a symbolic dimension {i} ('{p}') in {}; choose its size with --input-shape (e.g. {})",
                        show_declared(&declared),
                        example_shape(&declared)
                    ));
                }
            }
        }
        if shapes.batch == Some(0) {
            return Err(err!(usage, "the batch size must be at least 1"));
        }
    }
    let as_i64: Vec<i64> = dims.iter().map(|&d| d.min(i64::MAX as usize) as i64).collect();
    let (dims, _) = checked_dims(&as_i64, limits, &format!("input '{name}'"))?;
    Ok((declared, TensorType::new(dtype, dims)))
}

fn show_declared(d: &[DeclaredDim]) -> String {
    let parts: Vec<String> = d
        .iter()
        .map(|d| match d {
            DeclaredDim::Fixed(v) => v.to_string(),
            DeclaredDim::Symbolic(p) => p.clone(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn example_shape(d: &[DeclaredDim]) -> String {
    let parts: Vec<String> = d
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            DeclaredDim::Fixed(v) => v.to_string(),
            DeclaredDim::Symbolic(_) if i == 0 => "1".into(),
            DeclaredDim::Symbolic(_) => "224".into(),
        })
        .collect();
    parts.join(",")
}
