//! A safe reader for Python pickles (protocols 0–5).
//!
//! Model files (PyTorch checkpoints) and Astra's noise model are pickles. Unpickling in
//! Python runs arbitrary code; this reader never executes anything: it runs the pickle
//! machine symbolically and returns a tree of [`Value`]s in which a reference to a class or
//! function is a [`Value::Global`], a call is a [`Value::Reduce`] or [`Value::NewObj`]
//! holding the callable and its arguments, and a persistent reference (PyTorch's tensor
//! storages) is a [`Value::PersistentId`]. Callers interpret the calls they know and ignore
//! the rest.
//!
//! Objects are kept in an arena while the pickle runs, so that an object stored in the memo
//! and later filled (`SETITEMS` on a memoized `OrderedDict`, `BUILD` on a memoized object)
//! shows its final content wherever it is referenced. The arena is then unfolded into a
//! tree, with limits on depth and on total size so that a hostile pickle cannot exhaust the
//! stack or memory; a reference to an object from inside itself becomes
//! [`Value::Recursive`].
//!
//! Malformed input (unknown opcodes, truncation, stack underflow, missing memo entries) is an
//! error naming the byte offset, never a panic.

use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// Deepest nesting of containers unfolded into a [`Value`] tree.
pub const MAX_DEPTH: usize = 512;

/// Python's own limit on the digits of an integer written as text.
const MAX_INT_DIGITS: usize = 4300;

/// A value decoded from a pickle, with every call left unevaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Python's `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer outside the 64-bit range: its little-endian two's complement bytes
    /// (shortest form), as `LONG1`/`LONG4` store them.
    BigInt(Vec<u8>),
    /// A float.
    Float(f64),
    /// A text string (`str`; also Python 2 `str` whose bytes are valid UTF-8).
    String(String),
    /// A `bytes` object (also Python 2 `str` whose bytes are not valid UTF-8).
    Bytes(Vec<u8>),
    /// A `bytearray`.
    ByteArray(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict, as (key, value) pairs in insertion order (duplicated keys are kept).
    Dict(Vec<(Value, Value)>),
    /// A set.
    Set(Vec<Value>),
    /// A frozenset.
    FrozenSet(Vec<Value>),
    /// A reference to a module attribute (a class or a function), never imported.
    Global {
        /// The module, e.g. `collections`.
        module: String,
        /// The attribute, e.g. `OrderedDict`.
        name: String,
    },
    /// `callable(*args)` (the `REDUCE`, `INST` and `OBJ` opcodes).
    Reduce(Box<Object>),
    /// `cls.__new__(cls, *args, **kwargs)` (the `NEWOBJ` and `NEWOBJ_EX` opcodes).
    NewObj(Box<Object>),
    /// `BUILD` (`__setstate__`) applied to a value that cannot carry a state itself
    /// (anything other than [`Value::Reduce`] / [`Value::NewObj`], or one built twice).
    Build {
        /// The object the state is applied to.
        object: Box<Value>,
        /// The state.
        state: Box<Value>,
    },
    /// A persistent reference (`PERSID`/`BINPERSID`), resolved by the application: PyTorch
    /// uses `('storage', type, key, location, numel)` tuples for tensor storages.
    PersistentId(Box<Value>),
    /// A reference to a container from inside itself (a cycle), not unfolded.
    Recursive,
}

/// An object created by a call in the pickle, with what was applied to it afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// What is called: usually a [`Value::Global`].
    pub callable: Value,
    /// The positional arguments: usually a [`Value::Tuple`].
    pub args: Value,
    /// Keyword arguments (`NEWOBJ_EX` only).
    pub kwargs: Option<Value>,
    /// Items appended to it (`APPEND`, `APPENDS`, `ADDITEMS`): a list or set subclass.
    pub list_items: Vec<Value>,
    /// Items stored in it (`SETITEM`, `SETITEMS`): a dict subclass such as `OrderedDict`.
    pub dict_items: Vec<(Value, Value)>,
    /// The state given by `BUILD` (`__setstate__` or `__dict__` update).
    pub state: Option<Value>,
}

impl Object {
    /// The callable's `(module, name)` when it is a global.
    pub fn callable_global(&self) -> Option<(&str, &str)> {
        self.callable.as_global()
    }

    /// The positional arguments when they are a tuple.
    pub fn args_tuple(&self) -> Option<&[Value]> {
        self.args.as_tuple()
    }
}

impl Value {
    /// The string, for [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, for [`Value::Int`] (not for booleans).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The number as a float, for [`Value::Float`] and [`Value::Int`].
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The boolean, for [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The bytes, for [`Value::Bytes`] and [`Value::ByteArray`].
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) | Value::ByteArray(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, for [`Value::Tuple`].
    pub fn as_tuple(&self) -> Option<&[Value]> {
        match self {
            Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// The elements, for [`Value::List`].
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// `(module, name)`, for [`Value::Global`].
    pub fn as_global(&self) -> Option<(&str, &str)> {
        match self {
            Value::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }

    /// Whether this is the global `module.name`.
    pub fn is_global(&self, module: &str, name: &str) -> bool {
        self.as_global() == Some((module, name))
    }

    /// The call, for [`Value::Reduce`] and [`Value::NewObj`].
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Reduce(obj) | Value::NewObj(obj) => Some(obj),
            _ => None,
        }
    }

    /// The (key, value) pairs of a mapping: a [`Value::Dict`], or a call of
    /// `collections.OrderedDict`, `collections.defaultdict` or `builtins.dict` with the items
    /// stored into it.
    pub fn as_dict_items(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(items) => Some(items),
            Value::Reduce(obj) | Value::NewObj(obj) => match obj.callable_global() {
                Some(("collections", "OrderedDict" | "defaultdict"))
                | Some(("builtins" | "__builtin__", "dict")) => Some(&obj.dict_items),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value stored under the string `key` in a mapping (see
    /// [`Value::as_dict_items`]); the last one when the key is repeated, as in Python.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict_items()?
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A short description of the value's kind for error messages, e.g. `int`,
    /// `global torch.FloatStorage`, `call of collections.OrderedDict`.
    pub fn describe(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) | Value::BigInt(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::String(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::ByteArray(_) => "bytearray".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::List(_) => "list".into(),
            Value::Dict(_) => "dict".into(),
            Value::Set(_) => "set".into(),
            Value::FrozenSet(_) => "frozenset".into(),
            Value::Global { module, name } => format!("global {module}.{name}"),
            Value::Reduce(obj) | Value::NewObj(obj) => match obj.callable_global() {
                Some((module, name)) => format!("call of {module}.{name}"),
                None => "call".into(),
            },
            Value::Build { object, .. } => format!("built {}", object.describe()),
            Value::PersistentId(_) => "persistent id".into(),
            Value::Recursive => "recursive reference".into(),
        }
    }
}

/// Reads and parses the pickle file at `path`.
pub fn read(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes).map_err(|msg| Error::file(path, msg))
}

/// Parses a pickle (protocols 0–5) up to its `STOP` opcode; bytes after it are ignored.
///
/// Errors are messages naming the byte offset of the offending opcode.
pub fn parse(bytes: &[u8]) -> std::result::Result<Value, String> {
    let mut machine = Machine::new(bytes);
    let root = machine.run()?;
    let budget = bytes.len().saturating_mul(2).saturating_add(1_000_000);
    let mut unfold = Unfold {
        nodes: &machine.nodes,
        visiting: vec![false; machine.nodes.len()],
        budget,
    };
    unfold.value(root, 0)
}

/// A value on the machine's stack: scalars inline, everything else a node of the arena.
#[derive(Debug, Clone, Copy)]
enum V {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Node(usize),
}

/// An object of the arena.
#[derive(Debug)]
enum Node {
    Str(String),
    Bytes(Vec<u8>),
    ByteArray(Vec<u8>),
    BigInt(Vec<u8>),
    Tuple(Vec<V>),
    List(Vec<V>),
    Dict(Vec<(V, V)>),
    Set(Vec<V>),
    FrozenSet(Vec<V>),
    Global {
        module: String,
        name: String,
    },
    Object {
        new: bool,
        callable: V,
        args: V,
        kwargs: Option<V>,
        list_items: Vec<V>,
        dict_items: Vec<(V, V)>,
        state: Option<V>,
    },
    Build {
        object: V,
        state: V,
    },
    PersistentId(V),
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Str(_) => "str",
            Node::Bytes(_) => "bytes",
            Node::ByteArray(_) => "bytearray",
            Node::BigInt(_) => "int",
            Node::Tuple(_) => "tuple",
            Node::List(_) => "list",
            Node::Dict(_) => "dict",
            Node::Set(_) => "set",
            Node::FrozenSet(_) => "frozenset",
            Node::Global { .. } => "global",
            Node::Object { .. } => "object",
            Node::Build { .. } => "built object",
            Node::PersistentId(_) => "persistent id",
        }
    }
}

/// An integer read from the pickle: small or big.
enum Int {
    Small(i64),
    Big(Vec<u8>),
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed, for error messages.
    op_pos: usize,
    op_name: &'static str,
    stack: Vec<V>,
    marks: Vec<usize>,
    memo: HashMap<u64, V>,
    nodes: Vec<Node>,
}

type Res<T> = std::result::Result<T, String>;

impl<'a> Machine<'a> {
    fn new(data: &'a [u8]) -> Self {
        Machine {
            data,
            pos: 0,
            op_pos: 0,
            op_name: "",
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            nodes: Vec::new(),
        }
    }

    fn err(&self, msg: impl std::fmt::Display) -> String {
        format!("{} at offset {}: {msg}", self.op_name, self.op_pos)
    }

    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let left = self.data.len() - self.pos;
        if n > left {
            return Err(format!(
                "truncated pickle: {} at offset {} needs {n} bytes, {left} left",
                self.op_name, self.op_pos
            ));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn take_array<const N: usize>(&mut self) -> Res<[u8; N]> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.take_array::<1>()?[0])
    }

    fn u16(&mut self) -> Res<u16> {
        Ok(u16::from_le_bytes(self.take_array()?))
    }

    fn u32(&mut self) -> Res<u32> {
        Ok(u32::from_le_bytes(self.take_array()?))
    }

    fn i32(&mut self) -> Res<i32> {
        Ok(i32::from_le_bytes(self.take_array()?))
    }

    fn u64(&mut self) -> Res<u64> {
        Ok(u64::from_le_bytes(self.take_array()?))
    }

    /// A length read as a signed 32-bit integer (BINSTRING, LONG4): negative is an error.
    fn len_i32(&mut self) -> Res<usize> {
        let n = self.i32()?;
        usize::try_from(n).map_err(|_| self.err(format!("negative length {n}")))
    }

    fn len_u64(&mut self) -> Res<usize> {
        let n = self.u64()?;
        usize::try_from(n).map_err(|_| self.err(format!("length {n} too large")))
    }

    /// The bytes up to the next newline (excluded); the newline is consumed.
    fn line(&mut self) -> Res<&'a [u8]> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(n) => {
                self.pos += n + 1;
                Ok(&rest[..n])
            }
            None => Err(format!(
                "truncated pickle: {} at offset {} has no terminating newline",
                self.op_name, self.op_pos
            )),
        }
    }

    fn line_str(&mut self) -> Res<String> {
        Ok(String::from_utf8_lossy(self.line()?).into_owned())
    }

    fn node(&mut self, node: Node) -> V {
        self.nodes.push(node);
        V::Node(self.nodes.len() - 1)
    }

    fn push(&mut self, v: V) {
        self.stack.push(v);
    }

    fn push_node(&mut self, node: Node) {
        let v = self.node(node);
        self.stack.push(v);
    }

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Res<V> {
        if self.stack.len() <= self.fence() {
            return Err(self.err("stack underflow"));
        }
        self.stack.pop().ok_or_else(|| self.err("stack underflow"))
    }

    fn top(&self) -> Res<V> {
        if self.stack.len() <= self.fence() {
            return Err(self.err("stack underflow"));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.err("stack underflow"))
    }

    fn pop_mark(&mut self) -> Res<Vec<V>> {
        let mark = self.marks.pop().ok_or_else(|| self.err("no MARK"))?;
        if mark > self.stack.len() {
            return Err(self.err("stack underflow"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn pairs(&self, items: Vec<V>) -> Res<Vec<(V, V)>> {
        if !items.len().is_multiple_of(2) {
            return Err(self.err(format!("odd number of items ({})", items.len())));
        }
        Ok(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
    }

    fn memo_get(&mut self, key: u64) -> Res<()> {
        let v = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.err(format!("memo key {key} missing")))?;
        self.push(v);
        Ok(())
    }

    fn memo_put(&mut self, key: u64) -> Res<()> {
        let v = self.top()?;
        self.memo.insert(key, v);
        Ok(())
    }

    fn decimal(&self, text: &[u8]) -> Res<u64> {
        std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                self.err(format!(
                    "invalid memo key {:?}",
                    String::from_utf8_lossy(text)
                ))
            })
    }

    fn int_value(&mut self, int: Int) -> V {
        match int {
            Int::Small(i) => V::Int(i),
            Int::Big(bytes) => self.node(Node::BigInt(bytes)),
        }
    }

    /// The node index of the stack top, for opcodes that mutate it.
    fn target(&self) -> Res<usize> {
        match self.top()? {
            V::Node(i) => Ok(i),
            _ => Err(self.err("target is a scalar")),
        }
    }

    fn append(&mut self, items: Vec<V>) -> Res<()> {
        let target = self.target()?;
        let kind = self.nodes[target].kind();
        match &mut self.nodes[target] {
            Node::List(list) => list.extend(items),
            Node::Object { list_items, .. } => list_items.extend(items),
            _ => return Err(self.err(format!("cannot append to a {kind}"))),
        }
        Ok(())
    }

    fn set_items(&mut self, pairs: Vec<(V, V)>) -> Res<()> {
        let target = self.target()?;
        let kind = self.nodes[target].kind();
        match &mut self.nodes[target] {
            Node::Dict(dict) => dict.extend(pairs),
            Node::Object { dict_items, .. } => dict_items.extend(pairs),
            _ => return Err(self.err(format!("cannot set items of a {kind}"))),
        }
        Ok(())
    }

    fn add_items(&mut self, items: Vec<V>) -> Res<()> {
        let target = self.target()?;
        let kind = self.nodes[target].kind();
        match &mut self.nodes[target] {
            Node::Set(set) => set.extend(items),
            Node::Object { list_items, .. } => list_items.extend(items),
            _ => return Err(self.err(format!("cannot add items to a {kind}"))),
        }
        Ok(())
    }

    fn build(&mut self) -> Res<()> {
        let state = self.pop()?;
        let object = self.pop()?;
        if let V::Node(i) = object {
            if let Node::Object { state: slot, .. } = &mut self.nodes[i] {
                if slot.is_none() {
                    *slot = Some(state);
                    self.push(object);
                    return Ok(());
                }
            }
        }
        self.push_node(Node::Build { object, state });
        Ok(())
    }

    fn object(&mut self, new: bool, callable: V, args: V, kwargs: Option<V>) {
        self.push_node(Node::Object {
            new,
            callable,
            args,
            kwargs,
            list_items: Vec::new(),
            dict_items: Vec::new(),
            state: None,
        });
    }

    fn string_of(&self, v: V) -> Option<String> {
        match v {
            V::Node(i) => match &self.nodes[i] {
                Node::Str(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// A Python 2 `str`: text when its bytes are UTF-8, bytes otherwise.
    fn py2_str(&mut self, bytes: Vec<u8>) {
        match String::from_utf8(bytes) {
            Ok(s) => self.push_node(Node::Str(s)),
            Err(e) => self.push_node(Node::Bytes(e.into_bytes())),
        }
    }

    /// Runs the machine to `STOP` and returns the value on top of the stack.
    fn run(&mut self) -> Res<V> {
        loop {
            self.op_pos = self.pos;
            self.op_name = "opcode";
            let Some(&op) = self.data.get(self.pos) else {
                return Err(format!(
                    "truncated pickle: no STOP opcode before the end ({} bytes)",
                    self.data.len()
                ));
            };
            self.pos += 1;
            self.op_name = opcode_name(op);
            match op {
                b'(' => self.marks.push(self.stack.len()),
                b'.' => return self.pop(),
                b'0' => {
                    if self.stack.len() > self.fence() {
                        self.stack.pop();
                    } else if self.marks.pop().is_none() {
                        return Err(self.err("stack underflow"));
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?;
                    self.push(v);
                }
                b'F' => {
                    let text = self.line()?;
                    let f = std::str::from_utf8(text)
                        .ok()
                        .and_then(|s| s.trim().parse::<f64>().ok())
                        .ok_or_else(|| {
                            self.err(format!("invalid float {:?}", String::from_utf8_lossy(text)))
                        })?;
                    self.push(V::Float(f));
                }
                b'I' => {
                    let text = self.line()?;
                    match text {
                        b"01" => self.push(V::Bool(true)),
                        b"00" => self.push(V::Bool(false)),
                        _ => {
                            let int = parse_int_text(text).map_err(|m| self.err(m))?;
                            let v = self.int_value(int);
                            self.push(v);
                        }
                    }
                }
                b'L' => {
                    let text = self.line()?;
                    let text = text.strip_suffix(b"L").unwrap_or(text);
                    let int = parse_int_text(text).map_err(|m| self.err(m))?;
                    let v = self.int_value(int);
                    self.push(v);
                }
                b'J' => {
                    let i = self.i32()?;
                    self.push(V::Int(i64::from(i)));
                }
                b'K' => {
                    let i = self.u8()?;
                    self.push(V::Int(i64::from(i)));
                }
                b'M' => {
                    let i = self.u16()?;
                    self.push(V::Int(i64::from(i)));
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    let bytes = self.take(n)?;
                    let v = self.int_value(int_from_le(bytes));
                    self.push(v);
                }
                0x8b => {
                    let n = self.len_i32()?;
                    let bytes = self.take(n)?;
                    let v = self.int_value(int_from_le(bytes));
                    self.push(v);
                }
                b'G' => {
                    let f = f64::from_be_bytes(self.take_array()?);
                    self.push(V::Float(f));
                }
                b'N' => self.push(V::None),
                0x88 => self.push(V::Bool(true)),
                0x89 => self.push(V::Bool(false)),
                b'S' => {
                    let text = self.line()?;
                    let bytes = decode_string_repr(text).map_err(|m| self.err(m))?;
                    self.py2_str(bytes);
                }
                b'T' => {
                    let n = self.len_i32()?;
                    let bytes = self.take(n)?.to_vec();
                    self.py2_str(bytes);
                }
                b'U' => {
                    let n = usize::from(self.u8()?);
                    let bytes = self.take(n)?.to_vec();
                    self.py2_str(bytes);
                }
                b'V' => {
                    let text = self.line()?;
                    let s = decode_raw_unicode_escape(text).map_err(|m| self.err(m))?;
                    self.push_node(Node::Str(s));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.push_node(Node::Str(s));
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.push_node(Node::Str(s));
                }
                0x8d => {
                    let n = self.len_u64()?;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.push_node(Node::Str(s));
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let bytes = self.take(n)?.to_vec();
                    self.push_node(Node::Bytes(bytes));
                }
                b'C' => {
                    let n = usize::from(self.u8()?);
                    let bytes = self.take(n)?.to_vec();
                    self.push_node(Node::Bytes(bytes));
                }
                0x8e => {
                    let n = self.len_u64()?;
                    let bytes = self.take(n)?.to_vec();
                    self.push_node(Node::Bytes(bytes));
                }
                0x96 => {
                    let n = self.len_u64()?;
                    let bytes = self.take(n)?.to_vec();
                    self.push_node(Node::ByteArray(bytes));
                }
                0x97 => return Err(self.err("out-of-band buffers are not supported")),
                0x98 => {
                    self.top()?;
                }
                b')' => self.push_node(Node::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_node(Node::Tuple(items));
                }
                b']' => self.push_node(Node::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::List(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'}' => self.push_node(Node::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.push_node(Node::Dict(pairs));
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(vec![(key, value)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.set_items(pairs)?;
                }
                0x8f => self.push_node(Node::Set(Vec::new())),
                0x90 => {
                    let items = self.pop_mark()?;
                    self.add_items(items)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::FrozenSet(items));
                }
                b'c' => {
                    let module = self.line_str()?;
                    let name = self.line_str()?;
                    self.push_node(Node::Global { module, name });
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (self.string_of(module), self.string_of(name)) {
                        (Some(module), Some(name)) => self.push_node(Node::Global { module, name }),
                        _ => return Err(self.err("module and name must be strings")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.object(false, callable, args, None);
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    self.object(true, cls, args, None);
                }
                0x92 => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    self.object(true, cls, args, Some(kwargs));
                }
                b'i' => {
                    let module = self.line_str()?;
                    let name = self.line_str()?;
                    let items = self.pop_mark()?;
                    let cls = self.node(Node::Global { module, name });
                    let args = self.node(Node::Tuple(items));
                    self.object(false, cls, args, None);
                }
                b'o' => {
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        return Err(self.err("no class"));
                    }
                    let cls = items.remove(0);
                    let args = self.node(Node::Tuple(items));
                    self.object(false, cls, args, None);
                }
                b'b' => self.build()?,
                b'P' => {
                    let id = self.line_str()?;
                    let id = self.node(Node::Str(id));
                    self.push_node(Node::PersistentId(id));
                }
                b'Q' => {
                    let id = self.pop()?;
                    self.push_node(Node::PersistentId(id));
                }
                b'g' => {
                    let text = self.line()?;
                    let key = self.decimal(text)?;
                    self.memo_get(key)?;
                }
                b'h' => {
                    let key = self.u8()?;
                    self.memo_get(u64::from(key))?;
                }
                b'j' => {
                    let key = self.u32()?;
                    self.memo_get(u64::from(key))?;
                }
                b'p' => {
                    let text = self.line()?;
                    let key = self.decimal(text)?;
                    self.memo_put(key)?;
                }
                b'q' => {
                    let key = self.u8()?;
                    self.memo_put(u64::from(key))?;
                }
                b'r' => {
                    let key = self.u32()?;
                    self.memo_put(u64::from(key))?;
                }
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.memo_put(key)?;
                }
                0x80 => {
                    let version = self.u8()?;
                    if version > 5 {
                        return Err(self.err(format!("unsupported pickle protocol {version}")));
                    }
                }
                0x95 => {
                    let n = self.u64()?;
                    let left = (self.data.len() - self.pos) as u64;
                    if n > left {
                        return Err(format!(
                            "truncated pickle: FRAME at offset {} announces {n} bytes, {left} left",
                            self.op_pos
                        ));
                    }
                }
                0x82..=0x84 => {
                    return Err(self.err("extension registry codes are not supported"));
                }
                _ => {
                    return Err(format!(
                        "unknown pickle opcode 0x{op:02x} at offset {}",
                        self.op_pos
                    ))
                }
            }
        }
    }
}

/// The opcode's name in Python's `pickletools`, for error messages.
fn opcode_name(op: u8) -> &'static str {
    match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown opcode",
    }
}

/// An integer from little-endian two's complement bytes (`LONG1`/`LONG4`).
fn int_from_le(bytes: &[u8]) -> Int {
    let mut bytes = bytes.to_vec();
    // Drop redundant sign-extension bytes.
    while bytes.len() > 1 {
        let last = bytes[bytes.len() - 1];
        let next = bytes[bytes.len() - 2];
        if (last == 0x00 && next & 0x80 == 0) || (last == 0xff && next & 0x80 != 0) {
            bytes.pop();
        } else {
            break;
        }
    }
    match bytes.last() {
        None => Int::Small(0),
        Some(&last) if bytes.len() <= 8 => {
            let fill = if last & 0x80 != 0 { 0xff } else { 0x00 };
            let mut full = [fill; 8];
            full[..bytes.len()].copy_from_slice(&bytes);
            Int::Small(i64::from_le_bytes(full))
        }
        Some(_) => Int::Big(bytes),
    }
}

/// An integer written in decimal (`INT`, `LONG`), of any size.
fn parse_int_text(text: &[u8]) -> std::result::Result<Int, String> {
    let invalid = || format!("invalid integer {:?}", String::from_utf8_lossy(text));
    let s = std::str::from_utf8(text).map_err(|_| invalid())?.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Int::Small(i));
    }
    let (negative, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    if digits.len() > MAX_INT_DIGITS {
        return Err(format!(
            "integer of {} digits exceeds the limit of {MAX_INT_DIGITS}",
            digits.len()
        ));
    }
    // Magnitude in little-endian base-2^32 limbs.
    let mut limbs: Vec<u32> = vec![0];
    for &d in digits {
        let mut carry = u64::from(d - b'0');
        for limb in limbs.iter_mut() {
            let x = u64::from(*limb) * 10 + carry;
            *limb = x as u32;
            carry = x >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    let mut bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    bytes.push(0); // room for the sign bit
    if negative {
        // Two's complement: invert and add one.
        let mut carry = true;
        for b in bytes.iter_mut() {
            let (sum, overflow) = (!*b).overflowing_add(u8::from(carry));
            *b = sum;
            carry = overflow;
        }
    }
    Ok(int_from_le(&bytes))
}

/// The content of a Python 2 `str` repr written by the `STRING` opcode: quoted, with
/// backslash escapes.
fn decode_string_repr(text: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let inner = match text {
        [q, inner @ .., q2] if q == q2 && (*q == b'\'' || *q == b'"') => inner,
        _ => return Err("the STRING argument must be quoted".into()),
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = inner.get(i) else {
            return Err("trailing backslash in STRING".into());
        };
        i += 1;
        match e {
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'\n' => {}
            b'x' => {
                let hex = inner
                    .get(i..i + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("invalid \\x escape in STRING")?;
                out.push(hex);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut value = u32::from(e - b'0');
                let mut n = 1;
                while n < 3 {
                    match inner.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                            n += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Python's `raw-unicode-escape` decoding (the `UNICODE` opcode): bytes are Latin-1 except
/// `\uXXXX` and `\UXXXXXXXX` escapes. Lone surrogates become U+FFFD.
fn decode_raw_unicode_escape(text: &[u8]) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        i += 1;
        let count = match (c, text.get(i)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => {
                out.push(char::from(c));
                continue;
            }
        };
        i += 1;
        let code = text
            .get(i..i + count)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or("truncated or invalid \\u escape in UNICODE")?;
        i += count;
        if code > 0x10ffff {
            return Err(format!("\\U{code:08x} out of range in UNICODE"));
        }
        out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    Ok(out)
}

/// Unfolds the arena into a [`Value`] tree, with limits on depth and size.
struct Unfold<'n> {
    nodes: &'n [Node],
    visiting: Vec<bool>,
    /// Values (and 16-byte chunks of strings) that may still be produced.
    budget: usize,
}

impl Unfold<'_> {
    fn spend(&mut self, units: usize) -> Res<()> {
        if units > self.budget {
            return Err("pickle expands to too much data (too many shared references)".into());
        }
        self.budget -= units;
        Ok(())
    }

    fn value(&mut self, v: V, depth: usize) -> Res<Value> {
        self.spend(1)?;
        let i = match v {
            V::None => return Ok(Value::None),
            V::Bool(b) => return Ok(Value::Bool(b)),
            V::Int(i) => return Ok(Value::Int(i)),
            V::Float(f) => return Ok(Value::Float(f)),
            V::Node(i) => i,
        };
        if depth >= MAX_DEPTH {
            return Err(format!("pickle nests deeper than {MAX_DEPTH} levels"));
        }
        if self.visiting[i] {
            return Ok(Value::Recursive);
        }
        self.visiting[i] = true;
        let out = self.node(i, depth + 1);
        self.visiting[i] = false;
        out
    }

    fn values(&mut self, vs: &[V], depth: usize) -> Res<Vec<Value>> {
        vs.iter().map(|&v| self.value(v, depth)).collect()
    }

    fn pairs(&mut self, pairs: &[(V, V)], depth: usize) -> Res<Vec<(Value, Value)>> {
        pairs
            .iter()
            .map(|&(k, v)| Ok((self.value(k, depth)?, self.value(v, depth)?)))
            .collect()
    }

    fn node(&mut self, i: usize, depth: usize) -> Res<Value> {
        let nodes = self.nodes;
        Ok(match &nodes[i] {
            Node::Str(s) => {
                self.spend(s.len() / 16)?;
                Value::String(s.clone())
            }
            Node::Bytes(b) => {
                self.spend(b.len() / 16)?;
                Value::Bytes(b.clone())
            }
            Node::ByteArray(b) => {
                self.spend(b.len() / 16)?;
                Value::ByteArray(b.clone())
            }
            Node::BigInt(b) => {
                self.spend(b.len() / 16)?;
                Value::BigInt(b.clone())
            }
            Node::Tuple(items) => Value::Tuple(self.values(items, depth)?),
            Node::List(items) => Value::List(self.values(items, depth)?),
            Node::Set(items) => Value::Set(self.values(items, depth)?),
            Node::FrozenSet(items) => Value::FrozenSet(self.values(items, depth)?),
            Node::Dict(pairs) => Value::Dict(self.pairs(pairs, depth)?),
            Node::Global { module, name } => {
                self.spend((module.len() + name.len()) / 16)?;
                Value::Global {
                    module: module.clone(),
                    name: name.clone(),
                }
            }
            Node::Object {
                new,
                callable,
                args,
                kwargs,
                list_items,
                dict_items,
                state,
            } => {
                let object = Box::new(Object {
                    callable: self.value(*callable, depth)?,
                    args: self.value(*args, depth)?,
                    kwargs: kwargs.map(|k| self.value(k, depth)).transpose()?,
                    list_items: self.values(list_items, depth)?,
                    dict_items: self.pairs(dict_items, depth)?,
                    state: state.map(|s| self.value(s, depth)).transpose()?,
                });
                if *new {
                    Value::NewObj(object)
                } else {
                    Value::Reduce(object)
                }
            }
            Node::Build { object, state } => Value::Build {
                object: Box::new(self.value(*object, depth)?),
                state: Box::new(self.value(*state, depth)?),
            },
            Node::PersistentId(id) => Value::PersistentId(Box::new(self.value(*id, depth)?)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    fn global(module: &str, name: &str) -> Value {
        Value::Global {
            module: module.into(),
            name: name.into(),
        }
    }

    fn reduce(callable: Value, args: Value) -> Value {
        Value::Reduce(Box::new(Object {
            callable,
            args,
            kwargs: None,
            list_items: vec![],
            dict_items: vec![],
            state: None,
        }))
    }

    /// Every prefix of a valid pickle is an error, not a panic.
    fn assert_truncations_fail(bytes: &[u8]) {
        for n in 0..bytes.len() {
            assert!(parse(&bytes[..n]).is_err(), "prefix of {n} bytes parsed");
        }
    }

    // pickle.dumps({'a': [1, 2.5, 'x', None, True, False], 'b': (b'\x00\xff',)}, protocol=0)
    const P0_DICT: &[u8] = b"(dp0\nVa\np1\n(lp2\nI1\naF2.5\naVx\np3\naNaI01\naI00\nasVb\np4\n(c_codecs\nencode\np5\n(V\\u0000\xff\np6\nVlatin1\np7\ntp8\nRp9\ntp10\ns.";

    #[test]
    fn protocol0_dict_list_float_bool_none_and_reduce() {
        let v = parse(P0_DICT).unwrap();
        let bytes_call = reduce(
            global("_codecs", "encode"),
            Value::Tuple(vec![s("\u{0}\u{ff}"), s("latin1")]),
        );
        let expected = Value::Dict(vec![
            (
                s("a"),
                Value::List(vec![
                    Value::Int(1),
                    Value::Float(2.5),
                    s("x"),
                    Value::None,
                    Value::Bool(true),
                    Value::Bool(false),
                ]),
            ),
            (s("b"), Value::Tuple(vec![bytes_call])),
        ]);
        assert_eq!(v, expected);
        assert_eq!(
            v.get("a").and_then(|a| a.as_list()).map(|l| l.len()),
            Some(6)
        );
        assert_truncations_fail(P0_DICT);
    }

    #[test]
    fn protocol0_big_ints() {
        // pickle.dumps([2**70, -2**70, -5], protocol=0)
        let bytes = b"(lp0\nL1180591620717411303424L\naL-1180591620717411303424L\naI-5\na.";
        let v = parse(bytes).unwrap();
        let mut plus = vec![0u8; 8];
        plus.extend([0x40]);
        let mut minus = vec![0u8; 8];
        minus.extend([0xc0]);
        assert_eq!(
            v,
            Value::List(vec![
                Value::BigInt(plus),
                Value::BigInt(minus),
                Value::Int(-5)
            ])
        );
        assert_truncations_fail(bytes);
    }

    #[test]
    fn protocol0_memo_put_get_shares_objects() {
        // l = [1]; pickle.dumps([l, l], protocol=0)
        let bytes = b"(lp0\n(lp1\nI1\naag1\na.";
        let inner = Value::List(vec![Value::Int(1)]);
        assert_eq!(
            parse(bytes).unwrap(),
            Value::List(vec![inner.clone(), inner])
        );
    }

    #[test]
    fn protocol0_unicode_escapes() {
        // pickle.dumps(['a\\b\nc\u00e9\u20ac\U0001F600'], protocol=0)
        let bytes = b"(lp0\nVa\\u005cb\\u000ac\xe9\\u20ac\\U0001f600\np1\na.";
        assert_eq!(
            parse(bytes).unwrap(),
            Value::List(vec![s("a\\b\nc\u{e9}\u{20ac}\u{1F600}")])
        );
    }

    #[test]
    fn protocol0_persistent_id() {
        // A pickle.Pickler whose persistent_id maps 'ext:0' to ('storage', '0'), protocol 0:
        // the id is written as its str().
        let bytes = b"(lp0\nP('storage', '0')\na.";
        assert_eq!(
            parse(bytes).unwrap(),
            Value::List(vec![Value::PersistentId(Box::new(s("('storage', '0')")))])
        );
    }

    #[test]
    fn python2_strings() {
        // Python 2: pickle.dumps('ab\x00c') == "S'ab\\x00c'\np0\n."
        let bytes = b"S'ab\\x00c'\np0\n.";
        assert_eq!(parse(bytes).unwrap(), s("ab\u{0}c"));
        // Escapes: \n, \t, \\, \', octal; a non-UTF-8 byte makes it bytes.
        let bytes = b"S'a\\n\\t\\\\\\'\\101\\xff'\n.";
        assert_eq!(
            parse(bytes).unwrap(),
            Value::Bytes(b"a\n\t\\'A\xff".to_vec())
        );
        // BINSTRING and SHORT_BINSTRING (protocol 1 in Python 2).
        assert_eq!(parse(b"T\x03\x00\x00\x00abc.").unwrap(), s("abc"));
        assert_eq!(
            parse(b"U\x02\xff\x00.").unwrap(),
            Value::Bytes(vec![0xff, 0])
        );
        assert!(parse(b"Sabc\n.").is_err());
        assert!(parse(b"T\xff\xff\xff\xffabc.").is_err());
    }

    #[test]
    fn protocol1_binary_opcodes() {
        // pickle.dumps((1.5, 'é', b'x', [], {}, -7, 300, 70000), protocol=1)
        let bytes = b"(G?\xf8\x00\x00\x00\x00\x00\x00X\x02\x00\x00\x00\xc3\xa9q\x00c_codecs\nencode\nq\x01(X\x01\x00\x00\x00xq\x02X\x06\x00\x00\x00latin1q\x03tq\x04Rq\x05]q\x06}q\x07J\xf9\xff\xff\xffM,\x01Jp\x11\x01\x00tq\x08.";
        let v = parse(bytes).unwrap();
        let items = v.as_tuple().unwrap();
        assert_eq!(items.len(), 8);
        assert_eq!(items[0], Value::Float(1.5));
        assert_eq!(items[1], s("é"));
        assert_eq!(
            items[2],
            reduce(
                global("_codecs", "encode"),
                Value::Tuple(vec![s("x"), s("latin1")])
            )
        );
        assert_eq!(items[3], Value::List(vec![]));
        assert_eq!(items[4], Value::Dict(vec![]));
        assert_eq!(items[5], Value::Int(-7));
        assert_eq!(items[6], Value::Int(300));
        assert_eq!(items[7], Value::Int(70000));
        assert_truncations_fail(bytes);
    }

    #[test]
    fn protocol2_long1_ints() {
        // pickle.dumps([2**70, -2**70, 2**63-1, -2**63, 2**63, 255, 65535, -1, 2**31, 0],
        //              protocol=2)
        let bytes = b"\x80\x02]q\x00(\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00@\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\xc0\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00K\xffM\xff\xffJ\xff\xff\xff\xff\x8a\x05\x00\x00\x00\x80\x00K\x00e.";
        let v = parse(bytes).unwrap();
        let mut two63 = vec![0u8; 7];
        two63.extend([0x80, 0x00]);
        assert_eq!(
            v,
            Value::List(vec![
                Value::BigInt([vec![0u8; 8], vec![0x40]].concat()),
                Value::BigInt([vec![0u8; 8], vec![0xc0]].concat()),
                Value::Int(i64::MAX),
                Value::Int(i64::MIN),
                Value::BigInt(two63),
                Value::Int(255),
                Value::Int(65535),
                Value::Int(-1),
                Value::Int(1 << 31),
                Value::Int(0),
            ])
        );
        assert_truncations_fail(bytes);
        // LONG4, and LONG1 of length 0.
        assert_eq!(
            parse(b"\x8b\x02\x00\x00\x00\xfe\xff.").unwrap(),
            Value::Int(-2)
        );
        assert_eq!(parse(b"\x8a\x00.").unwrap(), Value::Int(0));
        assert!(parse(b"\x8b\xff\xff\xff\xff.").is_err());
    }

    #[test]
    fn decimal_big_ints_match_long1() {
        for (text, expected) in [
            (
                "9223372036854775808",
                Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0x80, 0]),
            ),
            (
                "-9223372036854775809",
                Value::BigInt(vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff]),
            ),
            ("-9223372036854775808", Value::Int(i64::MIN)),
        ] {
            let bytes = format!("L{text}L\n.");
            assert_eq!(parse(bytes.as_bytes()).unwrap(), expected, "{text}");
        }
        let too_long = format!("L{}\n.", "9".repeat(5000));
        assert!(parse(too_long.as_bytes()).is_err());
        assert!(parse(b"Iabc\n.").is_err());
    }

    #[test]
    fn protocol2_newobj_and_build() {
        // class P:
        //     def __init__(self): self.x = 1
        // pickle.dumps(P(), protocol=2)
        let bytes = b"\x80\x02c__main__\nP\nq\x00)\x81q\x01}q\x02X\x01\x00\x00\x00xq\x03K\x01sb.";
        let v = parse(bytes).unwrap();
        let Value::NewObj(obj) = &v else {
            panic!("not NEWOBJ: {v:?}")
        };
        assert_eq!(obj.callable_global(), Some(("__main__", "P")));
        assert_eq!(obj.args, Value::Tuple(vec![]));
        assert_eq!(obj.state, Some(Value::Dict(vec![(s("x"), Value::Int(1))])));
        assert_truncations_fail(bytes);
    }

    #[test]
    fn protocol2_binpersid() {
        // class PidPickler(pickle.Pickler):
        //     def persistent_id(self, obj):
        //         if isinstance(obj, str) and obj.startswith('ext:'):
        //             return ('storage', obj[4:])
        // PidPickler(f, protocol=2).dump(['ext:0', 'plain'])
        let bytes = b"\x80\x02]q\x00(X\x07\x00\x00\x00storageq\x01X\x01\x00\x00\x000q\x02\x86q\x03QX\x05\x00\x00\x00plainq\x04e.";
        assert_eq!(
            parse(bytes).unwrap(),
            Value::List(vec![
                Value::PersistentId(Box::new(Value::Tuple(vec![s("storage"), s("0")]))),
                s("plain"),
            ])
        );
    }

    #[test]
    fn memoized_ordered_dict_is_filled_and_built_in_place() {
        // od = collections.OrderedDict(a=1); od.extra = 's'
        // pickle.dumps([od, od], protocol=2)
        let bytes = b"\x80\x02]q\x00(ccollections\nOrderedDict\nq\x01)Rq\x02X\x01\x00\x00\x00aq\x03K\x01s}q\x04X\x05\x00\x00\x00extraq\x05X\x01\x00\x00\x00sq\x06sbh\x02e.";
        let v = parse(bytes).unwrap();
        let items = v.as_list().unwrap();
        assert_eq!(items.len(), 2);
        // The second element (a memo reference) sees the items and state added later.
        assert_eq!(items[0], items[1]);
        let obj = items[1].as_object().unwrap();
        assert_eq!(obj.callable_global(), Some(("collections", "OrderedDict")));
        assert_eq!(obj.dict_items, vec![(s("a"), Value::Int(1))]);
        assert_eq!(obj.state, Some(Value::Dict(vec![(s("extra"), s("s"))])));
        assert_eq!(items[1].get("a"), Some(&Value::Int(1)));
        assert_eq!(items[1].get("b"), None);
    }

    #[test]
    fn recursive_structure_is_cut() {
        // r = []; r.append(r); pickle.dumps(r, protocol=2)
        let bytes = b"\x80\x02]q\x00h\x00a.";
        assert_eq!(parse(bytes).unwrap(), Value::List(vec![Value::Recursive]));
    }

    #[test]
    fn protocol3_bytes() {
        // pickle.dumps([b'ab', b'x' * 300], protocol=3)
        let bytes = [
            &b"\x80\x03]q\x00(C\x02abq\x01B,\x01\x00\x00"[..],
            &[b'x'; 300],
            b"q\x02e.",
        ]
        .concat();
        assert_eq!(
            parse(&bytes).unwrap(),
            Value::List(vec![
                Value::Bytes(b"ab".to_vec()),
                Value::Bytes(vec![b'x'; 300])
            ])
        );
        assert_truncations_fail(&bytes);
    }

    #[test]
    fn protocol4_sets_frame_memoize_stack_global() {
        // pickle.dumps({'s': {1, 2}, 'f': frozenset([3]), 'g': collections.OrderedDict},
        //              protocol=4)
        let bytes = b"\x80\x04\x95<\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01s\x94\x8f\x94(K\x01K\x02\x90\x8c\x01f\x94(K\x03\x91\x94\x8c\x01g\x94\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94u.";
        assert_eq!(
            parse(bytes).unwrap(),
            Value::Dict(vec![
                (s("s"), Value::Set(vec![Value::Int(1), Value::Int(2)])),
                (s("f"), Value::FrozenSet(vec![Value::Int(3)])),
                (s("g"), global("collections", "OrderedDict")),
            ])
        );
        assert_truncations_fail(bytes);
    }

    #[test]
    fn protocol4_newobj_ex() {
        // class Q:
        //     def __getnewargs_ex__(self): return ((1,), {'k': 2})
        //     def __new__(cls, *a, **k): return object.__new__(cls)
        // pickle.dumps(Q(), protocol=4)
        let bytes = b"\x80\x04\x95!\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__\x94\x8c\x01Q\x94\x93\x94K\x01\x85\x94}\x94\x8c\x01k\x94K\x02s\x92\x94.";
        let v = parse(bytes).unwrap();
        let Value::NewObj(obj) = &v else {
            panic!("not NEWOBJ_EX: {v:?}")
        };
        assert_eq!(obj.callable_global(), Some(("__main__", "Q")));
        assert_eq!(obj.args, Value::Tuple(vec![Value::Int(1)]));
        assert_eq!(obj.kwargs, Some(Value::Dict(vec![(s("k"), Value::Int(2))])));
    }

    #[test]
    fn protocol5_bytearray_and_buffers() {
        // pickle.dumps(bytearray(b'ab'), protocol=5)
        let bytes = b"\x80\x05\x95\x0d\x00\x00\x00\x00\x00\x00\x00\x96\x02\x00\x00\x00\x00\x00\x00\x00ab\x94.";
        assert_eq!(parse(bytes).unwrap(), Value::ByteArray(b"ab".to_vec()));
        assert_truncations_fail(bytes);
        // READONLY_BUFFER leaves the value alone; NEXT_BUFFER (out-of-band data) is an error.
        assert_eq!(parse(b"C\x01a\x98.").unwrap(), Value::Bytes(b"a".to_vec()));
        assert!(parse(b"\x97.").unwrap_err().contains("NEXT_BUFFER"));
    }

    #[test]
    fn stack_opcodes_pop_pop_mark_dup() {
        assert_eq!(parse(b"K\x01K\x020.").unwrap(), Value::Int(1));
        assert_eq!(parse(b"K\x01(K\x02K\x031.").unwrap(), Value::Int(1));
        assert_eq!(
            parse(b"K\x012\x86.").unwrap(),
            Value::Tuple(vec![Value::Int(1), Value::Int(1)])
        );
        // POP on an empty frame after MARK discards the mark.
        assert_eq!(parse(b"K\x01(0.").unwrap(), Value::Int(1));
        // TUPLE1-3, EMPTY_TUPLE, LIST with MARK, DICT with MARK, NONE, NEWTRUE/NEWFALSE.
        assert_eq!(
            parse(b"(K\x01\x88l(Nd.").unwrap_err(),
            "DICT at offset 7: odd number of items (1)"
        );
        assert_eq!(
            parse(b"(K\x01\x88l(NK\x02d\x86.").unwrap(),
            Value::Tuple(vec![
                Value::List(vec![Value::Int(1), Value::Bool(true)]),
                Value::Dict(vec![(Value::None, Value::Int(2))]),
            ])
        );
    }

    #[test]
    fn inst_and_obj() {
        // INST: MARK args, then `i module\nname\n`; OBJ: MARK cls args `o`.
        let v = parse(b"(I1\nimod\nCls\n.").unwrap();
        assert_eq!(
            v,
            reduce(global("mod", "Cls"), Value::Tuple(vec![Value::Int(1)]))
        );
        let v = parse(b"(cmod\nCls\nI1\no.").unwrap();
        assert_eq!(
            v,
            reduce(global("mod", "Cls"), Value::Tuple(vec![Value::Int(1)]))
        );
        assert!(parse(b"(o.").is_err());
    }

    #[test]
    fn long_memo_opcodes() {
        assert_eq!(
            parse(b"K\x07r\x00\x01\x00\x000j\x00\x01\x00\x00.").unwrap(),
            Value::Int(7)
        );
        assert_eq!(parse(b"K\x07p12\n0g12\n.").unwrap(), Value::Int(7));
        assert!(parse(b"K\x07p1x\n.").is_err());
    }

    #[test]
    fn errors_name_the_offset() {
        assert_eq!(
            parse(b"\x80\x02\xff").unwrap_err(),
            "unknown pickle opcode 0xff at offset 2"
        );
        assert_eq!(
            parse(b"X\x05\x00\x00\x00ab").unwrap_err(),
            "truncated pickle: BINUNICODE at offset 0 needs 5 bytes, 2 left"
        );
        assert!(parse(b"K\x01").unwrap_err().contains("no STOP"));
        assert_eq!(
            parse(b"K\x01R.").unwrap_err(),
            "REDUCE at offset 2: stack underflow"
        );
        assert_eq!(
            parse(b"h\x05.").unwrap_err(),
            "BINGET at offset 0: memo key 5 missing"
        );
        assert!(parse(b"\x80\x06.").unwrap_err().contains("protocol 6"));
        assert!(parse(b"\x82\x01.").unwrap_err().contains("EXT1"));
        assert!(parse(b".").is_err());
        assert!(parse(b"K\x01(.").is_err(), "STOP must not cross a MARK");
        assert!(parse(b"K\x01a.").is_err(), "APPEND to an int");
        assert!(parse(b")K\x01K\x02s.").is_err(), "SETITEM on a tuple");
        assert!(parse(b"\x95\xff\x00\x00\x00\x00\x00\x00\x00N.").is_err());
        assert!(parse(b"K\x01K\x02\x93.").is_err(), "STACK_GLOBAL of ints");
    }

    #[test]
    fn depth_and_expansion_limits() {
        // 500 nested lists unfold; 700 are refused.
        let nested = |n: usize| {
            let mut bytes = vec![b']'; n];
            bytes.extend(std::iter::repeat_n(b'a', n - 1));
            bytes.push(b'.');
            bytes
        };
        assert!(parse(&nested(500)).is_ok());
        assert!(parse(&nested(700)).unwrap_err().contains("deeper"));
        // A "billion laughs": each level is a pair of the previous one.
        let mut bytes = b"K\x01".to_vec();
        for _ in 0..64 {
            bytes.extend(b"2\x86");
        }
        bytes.push(b'.');
        assert!(parse(&bytes).unwrap_err().contains("too much"));
    }

    #[test]
    fn trailing_bytes_after_stop_are_ignored() {
        assert_eq!(parse(b"K\x05.garbage").unwrap(), Value::Int(5));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn opcode_soup_never_panics(ops in prop::collection::vec(
            prop::sample::select(b"()0129FIJKLMNPQRSTUVXabcdeghijloqprstu}].GBC\x80\x81\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x98\n\x00\x01\x02".to_vec()),
            0..256,
        )) {
            let _ = parse(&ops);
        }

        #[test]
        fn corrupted_pickles_never_panic(
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = P0_DICT.to_vec();
            for (i, b) in edits {
                let i = i.index(bytes.len());
                bytes[i] = b;
            }
            let _ = parse(&bytes);
            let n = cut.index(bytes.len());
            let _ = parse(&bytes[..n]);
        }
    }
}
