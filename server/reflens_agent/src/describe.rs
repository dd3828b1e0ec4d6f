//! Saying what a reference is, the way a person would: `global a in module app`, `item [3] of
//! list Foo.items`, `attribute child of Node instance registry[0]`, and the steps of a chain
//! from a root (`global root`, `key 'a'`, `item [0]`, `attribute child`). Also bounded reprs.
//!
//! Nothing here runs user code: dict, list and tuple contents are read through the C API,
//! attributes through the instance `__dict__` (a C descriptor) and slot member descriptors.

use std::fmt::Write;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use reflens_protocol::{ChainStep, Referrer, ReferrerKind};

use crate::index::State;
use crate::known::Known;
use crate::raw::{Ptr, dict_items, module_dict, sequence_items};
use crate::walk::read_frame_locals;

/// What one reference from an object to another is, seen from the referring object alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Label {
    /// A dict value, with the key's repr.
    Key(String),
    DictKey,
    /// An item of a list or tuple.
    Index(usize),
    Member,
    CellContents,
    /// A local variable of a frame (or of a suspended generator's frame).
    Local(String),
    Frame,
    /// The `__self__` of a bound method.
    SelfOf,
    /// A field of a function (`__defaults__`, `__closure__`, `__globals__`, ...).
    FunctionField(&'static str),
    /// A module's, class's or instance's own `__dict__`.
    OwnDict,
    /// An instance attribute stored inline or in a slot.
    Attribute(String),
    Other,
}

/// Who owns a dict (whose namespace it is).
enum DictOwner {
    Module(Ptr),
    Class(Ptr),
    Instance(Ptr),
    Kwdefaults(Ptr),
    Plain,
}

/// Who owns a tuple that is a function's field.
enum TupleOwner {
    Defaults(Ptr),
    Closure(Ptr),
    Plain,
}

/// One step of a chain, with what it adds to a Python path (`.items`, `[0]`), if it can be
/// written as one.
pub struct Hop {
    pub step: ChainStep,
    pub segment: Option<String>,
}

const FUNCTION_FIELDS: [&str; 9] = [
    "__globals__",
    "__defaults__",
    "__kwdefaults__",
    "__closure__",
    "__dict__",
    "__code__",
    "__module__",
    "__doc__",
    "__annotations__",
];

fn plural(count: usize, one: &str, many: &str) -> String {
    if count > 1 {
        many.to_owned()
    } else {
        one.to_owned()
    }
}

fn attr_ptr(object: &Bound<'_, PyAny>, name: &str) -> Option<Ptr> {
    object.getattr(name).ok().map(|value| value.as_ptr())
}

fn text(object: &Bound<'_, PyAny>) -> String {
    match object.cast::<PyString>() {
        Ok(s) => s.to_cow().map(|s| s.into_owned()).unwrap_or_default(),
        Err(_) => object
            .str()
            .ok()
            .and_then(|s| s.to_cow().ok().map(|s| s.into_owned()))
            .unwrap_or_default(),
    }
}

impl State {
    /// `(module.QualName, QualName)` of the type of `object`.
    pub fn type_names(&mut self, known: &Known<'_>, object: Ptr) -> (String, String) {
        let ty = known.ty(object);
        if let Some(names) = self.type_names.get(&ty) {
            return names.clone();
        }
        let class = known.bound(object).get_type().into_any();
        let qualname = class
            .getattr("__qualname__")
            .map(|q| text(&q))
            .unwrap_or_else(|_| "?".to_owned());
        let module = class
            .getattr("__module__")
            .map(|m| text(&m))
            .unwrap_or_else(|_| "builtins".to_owned());
        let names = (format!("{module}.{qualname}"), qualname);
        self.type_names.insert(ty, names.clone());
        names
    }

    pub fn full_type(&mut self, known: &Known<'_>, object: Ptr) -> String {
        self.type_names(known, object).0
    }

    fn short_type(&mut self, known: &Known<'_>, object: Ptr) -> String {
        self.type_names(known, object).1
    }

    /// The locals of a frame by name, read now if the walk did not (a frame that owns its
    /// data): the snapshot dict that 3.12 and older make is then treated as the agent's.
    fn frame_locals(&mut self, known: &Known<'_>, frame: Ptr) -> Vec<(String, Ptr)> {
        if let Some(locals) = self.graph.frame_locals.get(&(frame as usize)) {
            return locals.clone();
        }
        let locals = match read_frame_locals(known, &known.bound(frame)) {
            Ok((locals, snapshot)) => {
                if let Some(snapshot) = snapshot {
                    self.graph.hide(snapshot.as_ptr());
                }
                locals
            }
            Err(_) => Vec::new(),
        };
        self.graph
            .frame_locals
            .insert(frame as usize, locals.clone());
        locals
    }

    /// `f()` for a function, `Foo.on_event` style qualname.
    fn function_name(&self, known: &Known<'_>, function: Ptr) -> String {
        let function = known.bound(function);
        let name = function
            .getattr("__qualname__")
            .or_else(|_| function.getattr("__name__"))
            .map(|n| text(&n))
            .unwrap_or_else(|_| "?".to_owned());
        format!("{name}()")
    }

    /// `train() at app.py:12` for a frame.
    fn frame_name(&self, known: &Known<'_>, frame: Ptr) -> String {
        let frame = known.bound(frame);
        let Ok(code) = frame.getattr("f_code") else {
            return "frame".to_owned();
        };
        let name = code
            .getattr("co_qualname")
            .or_else(|_| code.getattr("co_name"))
            .map(|n| text(&n))
            .unwrap_or_else(|_| "?".to_owned());
        let file = code
            .getattr("co_filename")
            .map(|f| text(&f))
            .unwrap_or_default();
        let file = file.rsplit(['/', '\\']).next().unwrap_or("").to_owned();
        match frame
            .getattr("f_lineno")
            .ok()
            .and_then(|l| l.extract::<i64>().ok())
        {
            Some(line) => format!("{name}() at {file}:{line}"),
            None => format!("{name}() in {file}"),
        }
    }

    fn generator_name(&self, known: &Known<'_>, generator: Ptr) -> String {
        let generator = known.bound(generator);
        let name = generator
            .getattr("__qualname__")
            .map(|n| text(&n))
            .unwrap_or_else(|_| "?".to_owned());
        format!("{name}()")
    }

    fn module_name(&self, known: &Known<'_>, module: Ptr) -> String {
        let dict = module_dict(module);
        for (key, value) in dict_items(dict) {
            if known.ty(key) == known.str_ && text(&known.bound(key)) == "__name__" {
                return text(&known.bound(value));
            }
        }
        "?".to_owned()
    }

    /// Each reference `source` holds to `target`, labelled from `source`'s point of view.
    pub fn labels(&mut self, known: &Known<'_>, source: Ptr, target: Ptr) -> Vec<Label> {
        let ty = known.ty(source);
        let mut out = Vec::new();
        if ty == known.dict || (known.bound(source).is_instance_of::<pyo3::types::PyDict>()) {
            for (key, value) in dict_items(source) {
                if key == target {
                    out.push(Label::DictKey);
                }
                if value == target {
                    out.push(Label::Key(self.short_repr(known, key, 60)));
                }
            }
        } else if ty == known.list || ty == known.tuple {
            for (index, item) in sequence_items(source, ty == known.list)
                .into_iter()
                .enumerate()
            {
                if item == target {
                    out.push(Label::Index(index));
                }
            }
        } else if ty == known.set || ty == known.frozenset {
            out.push(Label::Member);
        } else if ty == known.cell {
            out.push(Label::CellContents);
        } else if ty == known.frame {
            for (name, value) in self.frame_locals(known, source) {
                if value == target {
                    out.push(Label::Local(name));
                }
            }
            if out.is_empty() {
                out.push(Label::Frame);
            }
        } else if known.is_generator_like(source) {
            // Its frame's locals were moved to the frame when it exists; what is left is the
            // value stack, or the locals of a generator without a frame object.
            out.push(Label::Frame);
        } else if ty == known.method {
            let method = known.bound(source);
            if attr_ptr(&method, "__self__") == Some(target) {
                out.push(Label::SelfOf);
            }
        } else if ty == known.function {
            let function = known.bound(source);
            for field in FUNCTION_FIELDS {
                if attr_ptr(&function, field) == Some(target) {
                    out.push(Label::FunctionField(field));
                }
            }
        } else if known.is_module(source) {
            if module_dict(source) == target {
                out.push(Label::OwnDict);
            }
        } else if known.is_type_object(source) {
            if known.ty(target) == known.dict {
                out.push(Label::OwnDict);
            }
        } else {
            let object = known.bound(source);
            // Slots first (member descriptors of the classes in the MRO), then the __dict__.
            let class = object.get_type().into_any();
            if let Ok(mro) = known.type_mro_descriptor.call_method1("__get__", (&class,))
                && let Ok(mro) = mro.cast::<PyTuple>()
            {
                for base in mro.iter() {
                    let Some(namespace) = known.class_namespace(&base) else {
                        continue;
                    };
                    let Ok(values) = namespace.call_method0("values") else {
                        continue;
                    };
                    let Ok(values) = values.try_iter() else {
                        continue;
                    };
                    for descriptor in values.flatten() {
                        if known.ty(descriptor.as_ptr()) != known.member_descriptor {
                            continue;
                        }
                        if let Ok(value) = descriptor.call_method1("__get__", (&object, &class))
                            && value.as_ptr() == target
                        {
                            let name = descriptor
                                .getattr("__name__")
                                .map(|n| text(&n))
                                .unwrap_or_default();
                            out.push(Label::Attribute(name));
                        }
                    }
                }
            }
            if let Some(dict) = known.instance_dict(&object) {
                if dict.as_ptr() == target {
                    out.push(Label::OwnDict);
                } else {
                    for (key, value) in dict_items(dict.as_ptr()) {
                        if value == target {
                            out.push(Label::Attribute(text(&known.bound(key))));
                        }
                    }
                }
            }
        }
        out
    }

    /// Whose namespace the dict `dict` (an indexed object) is.
    fn dict_owner(&mut self, known: &Known<'_>, dict: u32) -> DictOwner {
        let dict_ptr = self.graph.object(dict);
        let referrers: Vec<u32> = self.graph.predecessors(dict).to_vec();
        for referrer in referrers {
            if self.graph.agent[referrer as usize] {
                continue;
            }
            let owner = self.graph.object(referrer);
            let ty = known.ty(owner);
            if known.is_module(owner) {
                if module_dict(owner) == dict_ptr {
                    return DictOwner::Module(owner);
                }
            } else if known.is_type_object(owner) {
                return DictOwner::Class(owner);
            } else if ty == known.function {
                if attr_ptr(&known.bound(owner), "__kwdefaults__") == Some(dict_ptr) {
                    return DictOwner::Kwdefaults(owner);
                }
                if attr_ptr(&known.bound(owner), "__dict__") == Some(dict_ptr) {
                    return DictOwner::Instance(owner);
                }
            } else if ![
                known.list,
                known.tuple,
                known.dict,
                known.set,
                known.frozenset,
                known.cell,
                known.frame,
                known.method,
            ]
            .contains(&ty)
                && known.instance_dict(&known.bound(owner)).map(|d| d.as_ptr()) == Some(dict_ptr)
            {
                return DictOwner::Instance(owner);
            }
        }
        DictOwner::Plain
    }

    fn tuple_owner(&mut self, known: &Known<'_>, tuple: u32) -> TupleOwner {
        let tuple_ptr = self.graph.object(tuple);
        for &referrer in self.graph.predecessors(tuple) {
            let owner = self.graph.object(referrer);
            if known.ty(owner) == known.function {
                let function = known.bound(owner);
                if attr_ptr(&function, "__defaults__") == Some(tuple_ptr) {
                    return TupleOwner::Defaults(owner);
                }
                if attr_ptr(&function, "__closure__") == Some(tuple_ptr) {
                    return TupleOwner::Closure(owner);
                }
            }
        }
        TupleOwner::Plain
    }

    /// Names of positional parameters with defaults, aligned with `__defaults__`.
    fn default_parameter(&self, known: &Known<'_>, function: Ptr, index: usize) -> String {
        let function = known.bound(function);
        let lookup = || -> PyResult<String> {
            let code = function.getattr("__code__")?;
            let count: usize = code.getattr("co_argcount")?.extract()?;
            let defaults = function.getattr("__defaults__")?.len()?;
            let names = code.getattr("co_varnames")?;
            Ok(text(&names.get_item(count - defaults + index)?))
        };
        lookup().unwrap_or_else(|_| format!("#{index}"))
    }

    /// The function(s) whose closure holds `cell`.
    fn cell_owner(&mut self, known: &Known<'_>, cell: u32) -> Option<String> {
        for &tuple in self.graph.predecessors(cell) {
            if known.ty(self.graph.object(tuple)) != known.tuple {
                continue;
            }
            for &function in self.graph.predecessors(tuple) {
                let function_ptr = self.graph.object(function);
                if known.ty(function_ptr) == known.function
                    && attr_ptr(&known.bound(function_ptr), "__closure__")
                        == Some(self.graph.object(tuple))
                {
                    return Some(self.function_name(known, function_ptr));
                }
            }
        }
        for &frame in self.graph.predecessors(cell) {
            if known.ty(self.graph.object(frame)) == known.frame {
                return Some(self.frame_name(known, self.graph.object(frame)));
            }
        }
        None
    }

    /// A Python expression that reaches the object from a root (`cfg`, `app.Config.defaults`,
    /// `sessions[0].meta`), or `at 0x...` when there is none.
    pub fn path_or_address(&mut self, known: &Known<'_>, id: u32) -> String {
        match self.chain(known, id) {
            Some(hops) => {
                let mut path = String::new();
                for (index, hop) in hops.iter().enumerate() {
                    match &hop.segment {
                        Some(segment) => path.push_str(segment),
                        None if index == 0 => {}
                        None => return format!("at {:#x}", self.graph.object(id) as usize),
                    }
                }
                if path.is_empty() || path.starts_with('.') || path.starts_with('[') {
                    format!("at {:#x}", self.graph.object(id) as usize)
                } else {
                    path
                }
            }
            None => format!("at {:#x}", self.graph.object(id) as usize),
        }
    }

    /// The shortest chain from a root to `id`: the root, then one step per reference (a
    /// module's, class's or instance's `__dict__` and a function's `__closure__` or
    /// `__defaults__` tuple are folded into the step after them).
    pub fn chain(&mut self, known: &Known<'_>, id: u32) -> Option<Vec<Hop>> {
        let path = self.shortest().path(id)?;
        let mut hops = Vec::with_capacity(path.len());
        let start = path[0];
        let start_ptr = self.graph.object(start);
        let start_type = self.full_type(known, start_ptr);
        let is_module_root = known.is_module(start_ptr);
        let module_prefix = if is_module_root {
            let name = self.module_name(known, start_ptr);
            if name == "__main__" {
                String::new()
            } else {
                format!("{name}.")
            }
        } else {
            String::new()
        };
        match self.root_names.get(&start).cloned() {
            Some(name) => {
                let kind = if is_module_root {
                    ReferrerKind::Global
                } else if known.ty(start_ptr) == known.frame {
                    ReferrerKind::Frame
                } else {
                    ReferrerKind::Other
                };
                hops.push(Hop {
                    step: ChainStep {
                        kind,
                        description: name,
                        type_name: start_type,
                    },
                    segment: None,
                });
            }
            None => {
                let short = self.short_type(known, start_ptr);
                hops.push(Hop {
                    step: ChainStep {
                        kind: ReferrerKind::Other,
                        description: format!("object of type {short} referenced from C code"),
                        type_name: start_type,
                    },
                    segment: None,
                });
            }
        }
        // What the previous, folded step was: the owner of a namespace dict, or a function
        // whose closure/defaults tuple comes next.
        enum Folded {
            None,
            Module,
            Class,
            Instance,
            Closure(String),
            Defaults(Ptr),
        }
        let mut folded = Folded::None;
        let last = path.len() - 1;
        for index in 1..path.len() {
            let source = self.graph.object(path[index - 1]);
            let target = self.graph.object(path[index]);
            let type_name = self.full_type(known, target);
            let label = self
                .labels(known, source, target)
                .into_iter()
                .next()
                .unwrap_or(Label::Other);
            let source_ty = known.ty(source);
            let (kind, description, segment) = match (&folded, &label) {
                (Folded::Module, Label::Key(key)) => {
                    let name = key.trim_matches('\'').to_owned();
                    let segment = if index == 2 {
                        format!("{module_prefix}{name}")
                    } else {
                        format!(".{name}")
                    };
                    (
                        ReferrerKind::Global,
                        format!("global {name}"),
                        Some(segment),
                    )
                }
                (Folded::Class, Label::Key(key)) => {
                    let name = key.trim_matches('\'').to_owned();
                    (
                        ReferrerKind::ClassAttribute,
                        format!("class attribute {name}"),
                        Some(format!(".{name}")),
                    )
                }
                (Folded::Instance, Label::Key(key)) => {
                    let name = key.trim_matches('\'').to_owned();
                    (
                        ReferrerKind::Attribute,
                        format!("attribute {name}"),
                        Some(format!(".{name}")),
                    )
                }
                (Folded::Closure(function), Label::Index(position)) => (
                    ReferrerKind::ClosureCell,
                    format!("closure of {function}"),
                    Some(format!(".__closure__[{position}]")),
                ),
                (Folded::Defaults(function), Label::Index(position)) => {
                    let name = self.default_parameter(known, *function, *position);
                    (
                        ReferrerKind::Function,
                        format!("default of parameter {name}"),
                        Some(format!(".__defaults__[{position}]")),
                    )
                }
                (_, Label::OwnDict) if index < last => {
                    folded = if known.is_module(source) {
                        Folded::Module
                    } else if known.is_type_object(source) {
                        Folded::Class
                    } else {
                        Folded::Instance
                    };
                    continue;
                }
                (_, Label::FunctionField("__closure__")) if index < last => {
                    folded = Folded::Closure(self.function_name(known, source));
                    continue;
                }
                (_, Label::FunctionField("__defaults__")) if index < last => {
                    folded = Folded::Defaults(source);
                    continue;
                }
                (_, Label::OwnDict) => (
                    ReferrerKind::Other,
                    "__dict__".to_owned(),
                    Some(".__dict__".to_owned()),
                ),
                (_, Label::Key(key)) => (
                    ReferrerKind::DictValue,
                    format!("key {key}"),
                    Some(format!("[{key}]")),
                ),
                (_, Label::DictKey) => (ReferrerKind::DictKey, "dict key".to_owned(), None),
                (_, Label::Index(position)) => {
                    let kind = if source_ty == known.list {
                        ReferrerKind::ListItem
                    } else {
                        ReferrerKind::TupleItem
                    };
                    (
                        kind,
                        format!("item [{position}]"),
                        Some(format!("[{position}]")),
                    )
                }
                (_, Label::Member) => (ReferrerKind::SetMember, "member".to_owned(), None),
                (_, Label::CellContents) => (
                    ReferrerKind::ClosureCell,
                    "cell contents".to_owned(),
                    Some(".cell_contents".to_owned()),
                ),
                (_, Label::Local(name)) => {
                    let segment = if index == 1 { Some(name.clone()) } else { None };
                    (ReferrerKind::Local, format!("local {name}"), segment)
                }
                (_, Label::Frame) => (ReferrerKind::Frame, "frame reference".to_owned(), None),
                (_, Label::SelfOf) => (
                    ReferrerKind::BoundMethod,
                    "bound method's self".to_owned(),
                    Some(".__self__".to_owned()),
                ),
                (_, Label::FunctionField(field)) => {
                    let function = self.function_name(known, source);
                    (
                        ReferrerKind::Function,
                        format!("{field} of {function}"),
                        Some(format!(".{field}")),
                    )
                }
                (_, Label::Attribute(name)) => (
                    ReferrerKind::Attribute,
                    format!("attribute {name}"),
                    Some(format!(".{name}")),
                ),
                (_, Label::Other) => {
                    let short = self.short_type(known, source);
                    (ReferrerKind::Other, format!("referenced by {short}"), None)
                }
            };
            folded = Folded::None;
            hops.push(Hop {
                step: ChainStep {
                    kind,
                    description,
                    type_name,
                },
                segment,
            });
        }
        Some(hops)
    }

    /// How `referrer` (an indexed object) refers to `target`, `count` times.
    pub fn describe_referrer(
        &mut self,
        known: &Known<'_>,
        referrer: u32,
        target: Ptr,
        count: u32,
    ) -> Referrer {
        let source = self.graph.object(referrer);
        let labels = self.labels(known, source, target);
        let ty = known.ty(source);
        let full = self.full_type(known, source);
        let short = self.short_type(known, source);
        let make = |kind, description: String, type_name: String| Referrer {
            kind,
            description,
            type_name,
            count,
        };
        let keys: Vec<String> = labels
            .iter()
            .filter_map(|label| {
                if let Label::Key(key) = label {
                    Some(key.clone())
                } else {
                    None
                }
            })
            .collect();
        let names: Vec<String> = keys
            .iter()
            .map(|key| key.trim_matches('\'').to_owned())
            .collect();
        let attributes: Vec<String> = labels
            .iter()
            .filter_map(|label| {
                if let Label::Attribute(name) = label {
                    Some(name.clone())
                } else {
                    None
                }
            })
            .collect();
        let indexes: Vec<String> = labels
            .iter()
            .filter_map(|label| {
                if let Label::Index(index) = label {
                    Some(format!("[{index}]"))
                } else {
                    None
                }
            })
            .collect();

        if ty == known.dict || known.bound(source).is_instance_of::<pyo3::types::PyDict>() {
            match self.dict_owner(known, referrer) {
                DictOwner::Module(module) if !names.is_empty() => {
                    let module_name = self.module_name(known, module);
                    let type_name = self.full_type(known, module);
                    return make(
                        ReferrerKind::Global,
                        format!(
                            "{} {} in module {module_name}",
                            plural(names.len(), "global", "globals"),
                            names.join(", ")
                        ),
                        type_name,
                    );
                }
                DictOwner::Class(class) if !names.is_empty() => {
                    let class_name = known
                        .bound(class)
                        .getattr("__qualname__")
                        .map(|n| text(&n))
                        .unwrap_or_default();
                    let type_name = self.full_type(known, class);
                    return make(
                        ReferrerKind::ClassAttribute,
                        format!(
                            "{} {} of class {class_name}",
                            plural(names.len(), "attribute", "attributes"),
                            names.join(", ")
                        ),
                        type_name,
                    );
                }
                DictOwner::Instance(instance) if !names.is_empty() => {
                    let (type_name, class_name) = self.type_names(known, instance);
                    let where_ = match self.graph.id_of(instance) {
                        Some(id) => self.path_or_address(known, id),
                        None => format!("at {:#x}", instance as usize),
                    };
                    let noun = if known.ty(instance) == known.function {
                        format!("function {}", self.function_name(known, instance))
                    } else {
                        format!("{class_name} instance {where_}")
                    };
                    return make(
                        ReferrerKind::Attribute,
                        format!(
                            "{} {} of {noun}",
                            plural(names.len(), "attribute", "attributes"),
                            names.join(", ")
                        ),
                        type_name,
                    );
                }
                DictOwner::Kwdefaults(function) if !names.is_empty() => {
                    let function_name = self.function_name(known, function);
                    return make(
                        ReferrerKind::Function,
                        format!(
                            "default of keyword-only parameter {} of {function_name}",
                            names.join(", ")
                        ),
                        "builtins.function".to_owned(),
                    );
                }
                _ => {}
            }
            let path = self.path_or_address(known, referrer);
            let has_key = labels.contains(&Label::DictKey);
            if !keys.is_empty() {
                let mut description = format!(
                    "{} {} of dict {path}",
                    plural(keys.len(), "value for key", "values for keys"),
                    keys.join(", ")
                );
                if has_key {
                    description.push_str(" (and a key)");
                }
                return make(ReferrerKind::DictValue, description, full);
            }
            return make(ReferrerKind::DictKey, format!("key of dict {path}"), full);
        }
        if ty == known.list {
            let path = self.path_or_address(known, referrer);
            return make(
                ReferrerKind::ListItem,
                format!(
                    "{} {} of list {path}",
                    plural(indexes.len(), "item", "items"),
                    indexes.join(", ")
                ),
                full,
            );
        }
        if ty == known.tuple {
            match self.tuple_owner(known, referrer) {
                TupleOwner::Defaults(function) => {
                    let function_name = self.function_name(known, function);
                    let parameters: Vec<String> = labels
                        .iter()
                        .filter_map(|l| {
                            if let Label::Index(i) = l {
                                Some(*i)
                            } else {
                                None
                            }
                        })
                        .map(|i| self.default_parameter(known, function, i))
                        .collect();
                    return make(
                        ReferrerKind::Function,
                        format!(
                            "default of parameter {} of {function_name}",
                            parameters.join(", ")
                        ),
                        "builtins.function".to_owned(),
                    );
                }
                TupleOwner::Closure(function) => {
                    let function_name = self.function_name(known, function);
                    return make(
                        ReferrerKind::ClosureCell,
                        format!("closure of {function_name}"),
                        "builtins.function".to_owned(),
                    );
                }
                TupleOwner::Plain => {}
            }
            let path = self.path_or_address(known, referrer);
            return make(
                ReferrerKind::TupleItem,
                format!(
                    "{} {} of tuple {path}",
                    plural(indexes.len(), "item", "items"),
                    indexes.join(", ")
                ),
                full,
            );
        }
        if ty == known.set || ty == known.frozenset {
            let path = self.path_or_address(known, referrer);
            return make(
                ReferrerKind::SetMember,
                format!("member of {short} {path}"),
                full,
            );
        }
        if ty == known.cell {
            let description = match self.cell_owner(known, referrer) {
                Some(owner) => format!("closure cell of {owner}"),
                None => "closure cell".to_owned(),
            };
            return make(ReferrerKind::ClosureCell, description, full);
        }
        if ty == known.frame {
            let frame = self.frame_name(known, source);
            let locals: Vec<String> = labels
                .iter()
                .filter_map(|l| {
                    if let Label::Local(n) = l {
                        Some(n.clone())
                    } else {
                        None
                    }
                })
                .collect();
            if !locals.is_empty() {
                return make(
                    ReferrerKind::Local,
                    format!(
                        "{} {} of {frame}",
                        plural(locals.len(), "local", "locals"),
                        locals.join(", ")
                    ),
                    full,
                );
            }
            return make(ReferrerKind::Frame, format!("frame of {frame}"), full);
        }
        if known.is_generator_like(source) {
            let name = self.generator_name(known, source);
            return make(
                ReferrerKind::Frame,
                format!("frame of suspended {short} {name}"),
                full,
            );
        }
        if ty == known.method && labels.contains(&Label::SelfOf) {
            let method = known.bound(source);
            let name = method
                .getattr("__func__")
                .and_then(|f| f.getattr("__qualname__"))
                .map(|n| text(&n))
                .unwrap_or_else(|_| "?".to_owned());
            let where_ = self.method_whereabouts(known, referrer);
            return make(
                ReferrerKind::BoundMethod,
                format!("bound method {name}{where_}"),
                full,
            );
        }
        if ty == known.function {
            let function_name = self.function_name(known, source);
            let fields: Vec<&str> = labels
                .iter()
                .filter_map(|l| {
                    if let Label::FunctionField(f) = l {
                        Some(*f)
                    } else {
                        None
                    }
                })
                .collect();
            let fields = if fields.is_empty() {
                "a field".to_owned()
            } else {
                fields.join(", ")
            };
            return make(
                ReferrerKind::Function,
                format!("{fields} of {function_name}"),
                full,
            );
        }
        if known.is_module(source) {
            let module_name = self.module_name(known, source);
            return make(
                ReferrerKind::Other,
                format!("referenced by module {module_name}"),
                full,
            );
        }
        if known.is_type_object(source) {
            let class_name = known
                .bound(source)
                .getattr("__qualname__")
                .map(|n| text(&n))
                .unwrap_or_default();
            return make(
                ReferrerKind::Other,
                format!("referenced by class {class_name}"),
                full,
            );
        }
        let path = self.path_or_address(known, referrer);
        if !attributes.is_empty() {
            return make(
                ReferrerKind::Attribute,
                format!(
                    "{} {} of {short} instance {path}",
                    plural(attributes.len(), "attribute", "attributes"),
                    attributes.join(", ")
                ),
                full,
            );
        }
        make(
            ReferrerKind::Other,
            format!("referenced by {short} {path}"),
            full,
        )
    }

    /// Where a bound method is kept: ` in list handlers`, ` registered in atexit`, or nothing.
    fn method_whereabouts(&mut self, known: &Known<'_>, method: u32) -> String {
        let holders: Vec<u32> = self.graph.predecessors(method).to_vec();
        for holder in holders {
            if self.graph.agent[holder as usize] {
                continue;
            }
            let holder_ptr = self.graph.object(holder);
            let ty = known.ty(holder_ptr);
            if ty == known.list || ty == known.dict || ty == known.set {
                let short = self.short_type(known, holder_ptr);
                let path = self.path_or_address(known, holder);
                return format!(" in {short} {path}");
            }
            // 3.14 keeps atexit callbacks as `(func, args, kwargs)` tuples the heap does not
            // otherwise reach.
            if ty == known.tuple && self.graph.predecessors(holder).is_empty() {
                let items = sequence_items(holder_ptr, false);
                if items.len() == 3
                    && items[0] == self.graph.object(method)
                    && known.ty(items[1]) == known.tuple
                {
                    return " registered in atexit".to_owned();
                }
            }
        }
        if self.graph.outside_references[method as usize] > 0 {
            let callbacks = known
                .py
                .import("atexit")
                .and_then(|atexit| atexit.call_method0("_ncallbacks"))
                .and_then(|n| n.extract::<i64>())
                .unwrap_or(0);
            if callbacks > 0 {
                return " held from outside the heap (registered in atexit, or C code)".to_owned();
            }
        }
        String::new()
    }

    /// A repr that never runs user code: built here for plain builtins (at most 8 items,
    /// strings cut at 80 characters, 2 levels deep), `<Type at 0x...>` for anything else.
    pub fn short_repr(&mut self, known: &Known<'_>, object: Ptr, limit: usize) -> String {
        let mut out = String::new();
        if known.is_plain_builtin(object) {
            self.builtin_repr(known, object, 0, &mut out);
        } else {
            let short = self.short_type(known, object);
            let _ = write!(out, "<{short} at {:#x}>", object as usize);
        }
        truncate(out, limit)
    }

    /// The repr for `ObjectFacts`: built here for plain builtins, else the object's own
    /// `repr()` (user code: any exception gives the type's default repr and its name).
    pub fn bounded_repr(&mut self, known: &Known<'_>, object: Ptr) -> String {
        if known.is_plain_builtin(object) {
            return self.short_repr(known, object, 300);
        }
        let bound = known.bound(object);
        match bound.repr() {
            Ok(repr) => truncate(text(repr.as_any()), 300),
            Err(err) => {
                let short = self.short_type(known, object);
                let error = err
                    .get_type(known.py)
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| "Exception".into());
                truncate(
                    format!(
                        "<{short} object at {:#x}> (repr raised {error})",
                        object as usize
                    ),
                    300,
                )
            }
        }
    }

    fn builtin_repr(&mut self, known: &Known<'_>, object: Ptr, depth: usize, out: &mut String) {
        let ty = known.ty(object);
        let bound = known.bound(object);
        if ty == known.str_ || ty == known.bytes {
            let length = bound.len().unwrap_or(0);
            if length > 80 {
                // SAFETY: slicing an exact str/bytes is C code.
                let head = unsafe {
                    Bound::from_owned_ptr_or_opt(known.py, ffi::PySequence_GetSlice(object, 0, 80))
                };
                match head.and_then(|h| h.repr().ok()) {
                    Some(repr) => {
                        let _ = write!(out, "{}... ({length} characters)", text(repr.as_any()));
                    }
                    None => out.push_str("<string>"),
                }
            } else {
                match bound.repr() {
                    Ok(repr) => out.push_str(&text(repr.as_any())),
                    Err(_) => out.push_str("<string>"),
                }
            }
            return;
        }
        if ty == known.int || ty == known.float || ty == known.bool_ || ty == known.none {
            match bound.repr() {
                Ok(repr) => out.push_str(&truncate(text(repr.as_any()), 80)),
                Err(_) => {
                    // SAFETY: clearing the error of a huge int's repr.
                    unsafe { ffi::PyErr_Clear() };
                    out.push_str("<huge int>");
                }
            }
            return;
        }
        let (open, close) = if ty == known.list {
            ("[", "]")
        } else if ty == known.tuple {
            ("(", ")")
        } else if ty == known.dict || ty == known.set {
            ("{", "}")
        } else {
            ("frozenset({", "})")
        };
        let length = bound.len().unwrap_or(0);
        if length == 0 {
            out.push_str(match () {
                _ if ty == known.set => "set()",
                _ if ty == known.frozenset => "frozenset()",
                _ if ty == known.list => "[]",
                _ if ty == known.tuple => "()",
                _ => "{}",
            });
            return;
        }
        if depth >= 2 {
            out.push_str(open);
            out.push_str("...");
            out.push_str(close);
            return;
        }
        out.push_str(open);
        let mut shown = 0;
        if ty == known.dict {
            for (key, value) in dict_items(object) {
                if shown == 8 || out.len() > 220 {
                    break;
                }
                if shown > 0 {
                    out.push_str(", ");
                }
                self.item_repr(known, key, depth, out);
                out.push_str(": ");
                self.item_repr(known, value, depth, out);
                shown += 1;
            }
        } else {
            let items: Vec<Ptr> = if ty == known.list || ty == known.tuple {
                sequence_items(object, ty == known.list)
                    .into_iter()
                    .take(8)
                    .collect()
            } else {
                match bound.try_iter() {
                    Ok(iter) => iter.take(8).flatten().map(|item| item.as_ptr()).collect(),
                    Err(_) => Vec::new(),
                }
            };
            for item in items {
                if out.len() > 220 {
                    break;
                }
                if shown > 0 {
                    out.push_str(", ");
                }
                self.item_repr(known, item, depth, out);
                shown += 1;
            }
        }
        if length > shown {
            let _ = write!(out, ", ... ({length} items)");
        } else if ty == known.tuple && length == 1 {
            out.push(',');
        }
        out.push_str(close);
    }

    /// An item inside a container: at most 60 characters.
    fn item_repr(&mut self, known: &Known<'_>, item: Ptr, depth: usize, out: &mut String) {
        if known.is_plain_builtin(item) {
            let mut inner = String::new();
            self.builtin_repr(known, item, depth + 1, &mut inner);
            out.push_str(&truncate(inner, 60));
        } else {
            let short = self.short_type(known, item);
            let _ = write!(out, "<{short} at {:#x}>", item as usize);
        }
    }
}

/// Cuts `text` to at most `limit` characters, marking the cut.
pub fn truncate(text: String, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text;
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(3)).collect();
    cut.push_str("...");
    cut
}
