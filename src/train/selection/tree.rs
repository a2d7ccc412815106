//! The syntax tree of a selection expression ([`super::expr`]) and its evaluation: values
//! are 64-bit floats; a condition is 1 or 0, and a value used as one is true when nonzero
//! and not NaN.

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Or,
    And,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    Add,
    Sub,
    Mul,
    Div,
}

/// A function of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Finite,
    Abs,
}

/// A node of the syntax tree; columns are indices into the expression's columns
/// ([`super::Expr::columns`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Number(f64),
    Column(usize),
    Bit { column: usize, bit: u32 },
    Not(Box<Node>),
    Neg(Box<Node>),
    Binary(Op, Box<Node>, Box<Node>),
    Call(Function, Box<Node>),
}

/// A value as a condition: nonzero and not NaN.
pub(crate) fn truth(value: f64) -> bool {
    value != 0.0 && !value.is_nan()
}

/// A condition as a value.
fn number(condition: bool) -> f64 {
    if condition {
        1.0
    } else {
        0.0
    }
}

/// Bit `bit` of `value` read as a 64-bit two's-complement integer: 1 or 0, or NaN when the
/// value is not an integer of magnitude below 2^53.
fn bit_of(value: f64, bit: u32) -> f64 {
    const EXACT: f64 = (1u64 << 53) as f64;
    if value.fract() != 0.0 || value.abs() >= EXACT || value.is_nan() {
        return f64::NAN;
    }
    number((value as i64 >> bit) & 1 == 1)
}

/// The value of `node` for a row whose columns hold `values`.
pub(crate) fn eval(node: &Node, values: &[f64]) -> f64 {
    match node {
        Node::Number(v) => *v,
        Node::Column(slot) => values[*slot],
        Node::Bit { column, bit } => bit_of(values[*column], *bit),
        Node::Not(inner) => number(!truth(eval(inner, values))),
        Node::Neg(inner) => -eval(inner, values),
        Node::Call(Function::Finite, x) => number(eval(x, values).is_finite()),
        Node::Call(Function::Abs, x) => eval(x, values).abs(),
        Node::Binary(op, a, b) => binary(*op, eval(a, values), eval(b, values)),
    }
}

/// `a op b`.
fn binary(op: Op, a: f64, b: f64) -> f64 {
    match op {
        Op::Or => number(truth(a) || truth(b)),
        Op::And => number(truth(a) && truth(b)),
        Op::Lt => number(a < b),
        Op::Le => number(a <= b),
        Op::Gt => number(a > b),
        Op::Ge => number(a >= b),
        Op::Eq => number(a == b),
        // IEEE makes NaN != x true; here every comparison with NaN is false.
        Op::Ne => number(a != b && !a.is_nan() && !b.is_nan()),
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
        Op::Div => a / b,
    }
}
