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
mod reshape;
mod shape;
mod softmax;

use super::NodeCx;
use crate::error::Result;
use crate::ir::NodeId;

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

pub fn lookup(op_type: &str) -> Option<ImportFn> {
    TABLE.iter().find(|(name, _)| *name == op_type).map(|(_, f)| *f)
}

#[cfg(test)]
mod tests {
    #[test]
    fn supported_list_matches_the_table() {
        let names: Vec<&str> = super::TABLE.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, super::SUPPORTED_OPS);
    }
}
