//! One import function per ONNX operator, grouped by kind. Each reads the attributes and inputs
//! its opset defines and returns the IR node it created.

mod activation;
mod batchnorm;
mod constant;
mod conv;
mod elementwise;
mod linear;
mod pad;
mod pool;
mod quant;
mod reshape;
mod schema;
mod shape;
mod softmax;

use super::NodeCx;
use crate::error::{Result, err};
use crate::ir::NodeId;
use crate::onnx::proto::{NodeProto, attribute_type};

/// Newest default-domain opset the importer knows the semantics of.
pub const MAX_OPSET: i64 = 22;

pub(crate) type ImportFn = for<'a, 'm> fn(&mut NodeCx<'a, 'm>) -> Result<NodeId>;

/// Every supported operator (domain ai.onnx) and its import function.
const TABLE: &[(&str, ImportFn)] = &[
    ("Add", elementwise::add),
    ("AveragePool", pool::average_pool),
    ("BatchNormalization", batchnorm::batch_normalization),
    ("Cast", shape::cast),
    ("Clip", activation::clip),
    ("Concat", shape::concat),
    ("Constant", constant::constant),
    ("Conv", conv::conv),
    ("DequantizeLinear", quant::dequantize_linear),
    ("Div", elementwise::div),
    ("Dropout", constant::dropout),
    ("Flatten", reshape::flatten),
    ("Gather", shape::gather),
    ("Gemm", linear::gemm),
    ("GlobalAveragePool", pool::global_average_pool),
    ("HardSigmoid", activation::hard_sigmoid),
    ("HardSwish", activation::hard_swish),
    ("Identity", constant::identity),
    ("MatMul", linear::matmul),
    ("Max", elementwise::max),
    ("MaxPool", pool::max_pool),
    ("Min", elementwise::min),
    ("Mul", elementwise::mul),
    ("Pad", pad::pad),
    ("QLinearConv", quant::qlinear_conv),
    ("QLinearMatMul", quant::qlinear_matmul),
    ("QuantizeLinear", quant::quantize_linear),
    ("ReduceMean", pool::reduce_mean),
    ("Relu", activation::relu),
    ("Reshape", reshape::reshape),
    ("Shape", shape::shape),
    ("Sigmoid", activation::sigmoid),
    ("Slice", shape::slice),
    ("Softmax", softmax::softmax),
    ("Squeeze", reshape::squeeze),
    ("Sub", elementwise::sub),
    ("Transpose", shape::transpose),
    ("Unsqueeze", reshape::unsqueeze),
];

/// Names of the supported operators, sorted.
pub const SUPPORTED_OPS: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "DequantizeLinear",
    "Div",
    "Dropout",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "MatMul",
    "Max",
    "MaxPool",
    "Min",
    "Mul",
    "Pad",
    "QLinearConv",
    "QLinearMatMul",
    "QuantizeLinear",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Squeeze",
    "Sub",
    "Transpose",
    "Unsqueeze",
];

/// The com.microsoft operators ONNX Runtime's quantiser writes, and their import functions.
const CONTRIB_TABLE: &[(&str, ImportFn)] = &[
    ("QGemm", quant::qgemm),
    ("QLinearAdd", quant::qlinear_add),
    ("QLinearAveragePool", quant::qlinear_average_pool),
    ("QLinearGlobalAveragePool", quant::qlinear_global_average_pool),
    ("QLinearLeakyRelu", quant::qlinear_leaky_relu),
    ("QLinearMul", quant::qlinear_mul),
    ("QLinearSigmoid", quant::qlinear_sigmoid),
];

/// Names of the supported com.microsoft operators, sorted.
pub const SUPPORTED_CONTRIB_OPS: &[&str] = &[
    "QGemm",
    "QLinearAdd",
    "QLinearAveragePool",
    "QLinearGlobalAveragePool",
    "QLinearLeakyRelu",
    "QLinearMul",
    "QLinearSigmoid",
];

/// The domain of ONNX Runtime's own operators.
pub const CONTRIB_DOMAIN: &str = "com.microsoft";

/// Operators of dynamic quantisation, refused with a message of their own.
pub const DYNAMIC_QUANTIZATION: &[&str] = &["DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"];

/// The import function of `op_type` in `domain` ("" or "ai.onnx" for the default domain).
pub fn lookup(domain: &str, op_type: &str) -> Option<ImportFn> {
    let table = if domain == CONTRIB_DOMAIN { CONTRIB_TABLE } else { TABLE };
    table.iter().find(|(name, _)| *name == op_type).map(|(_, f)| *f)
}

/// The refusal of a dynamic-quantisation operator.
pub fn dynamic_quantization(op_type: &str) -> crate::error::Error {
    quant::dynamic(op_type)
}

/// Checks a node against the schema of its operator at the model's opset (`schema.rs`, from
/// ONNX's definitions): a version ONNX Runtime implements, only attributes that version defines,
/// each of its type, and an input count in range. ONNX Runtime refuses the same nodes.
pub fn check_schema(node: &NodeProto, opset: i64) -> Result<()> {
    let op = node.op_type.as_str();
    let (versions, opset) =
        if node.domain == CONTRIB_DOMAIN { (schema::CONTRIB_VERSIONS, 1) } else { (schema::VERSIONS, opset) };
    let Some(v) = versions.iter().rev().find(|v| v.op == op && v.since <= opset) else {
        let first = versions.iter().find(|v| v.op == op).map_or(0, |v| v.since);
        return Err(err!(
            unsupported,
            "{op} is supported from opset {first} (its older versions are not implemented by ONNX Runtime either)"
        ));
    };
    for a in &node.attribute {
        let Some(&(_, ty)) = v.attributes.iter().find(|(name, _)| *name == a.name) else {
            return Err(err!(invalid, "attribute '{}' is not defined for {op} at opset {opset}", a.name));
        };
        if a.r#type != ty {
            return Err(err!(
                invalid,
                "attribute '{}' has type {} ({}); {op} defines it as {}",
                a.name,
                attribute_type::name(a.r#type),
                a.r#type,
                attribute_type::name(ty)
            ));
        }
    }
    let n = node.input.len();
    if n < v.min_inputs || n > v.max_inputs {
        let range = if v.min_inputs == v.max_inputs {
            v.min_inputs.to_string()
        } else if v.max_inputs == i32::MAX as usize {
            format!("at least {}", v.min_inputs)
        } else {
            format!("{} to {}", v.min_inputs, v.max_inputs)
        };
        return Err(err!(invalid, "{op} at opset {opset} takes {range} inputs, the node has {n}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn supported_list_matches_the_table() {
        let names: Vec<&str> = super::TABLE.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, super::SUPPORTED_OPS);
        let names: Vec<&str> = super::CONTRIB_TABLE.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, super::SUPPORTED_CONTRIB_OPS);
    }
}
