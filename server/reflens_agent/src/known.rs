//! The builtin types and functions the heap code recognises, looked up once per walk or query,
//! so that "is this a list" is a pointer comparison and no Python lookup runs per object.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::raw::{Ptr, Version, type_of};

/// `code.co_flags` bits: locals live in fast slots (functions), and the kinds of code whose
/// frames a generator, coroutine or async generator owns.
pub const CO_OPTIMIZED: i64 = 0x1;
pub const CO_GENERATOR_KINDS: i64 = 0x20 | 0x80 | 0x100 | 0x200;

/// Type objects of the interpreter, as pointers (they live as long as the interpreter).
pub struct Known<'py> {
    pub py: Python<'py>,
    pub version: Version,
    pub list: usize,
    pub tuple: usize,
    pub dict: usize,
    pub ordered_dict: usize,
    pub default_dict: usize,
    pub set: usize,
    pub frozenset: usize,
    pub frame: usize,
    pub code: usize,
    pub cell: usize,
    pub function: usize,
    pub method: usize,
    pub generator: usize,
    pub coroutine: usize,
    pub async_generator: usize,
    pub member_descriptor: usize,
    pub getset_descriptor: usize,
    pub str_: usize,
    pub bytes: usize,
    pub int: usize,
    pub float: usize,
    pub bool_: usize,
    pub none: usize,
    /// `FrameLocalsProxy` (3.13+), 0 before.
    pub frame_locals_proxy: usize,
    pub getsizeof: Bound<'py, PyAny>,
    /// `type.__dict__['__dict__']`: reads a class's namespace as a mappingproxy without
    /// going through a metaclass.
    pub type_dict_descriptor: Bound<'py, PyAny>,
    /// `type.__dict__['__mro__']`.
    pub type_mro_descriptor: Bound<'py, PyAny>,
}

fn type_ptr(object: &Bound<'_, PyAny>) -> usize {
    object.as_ptr() as usize
}

impl<'py> Known<'py> {
    pub fn new(py: Python<'py>) -> PyResult<Self> {
        let builtins = py.import("builtins")?;
        let types = py.import("types")?;
        let collections = py.import("collections")?;
        let b = |name: &str| builtins.getattr(name).map(|t| type_ptr(&t));
        let t = |name: &str| types.getattr(name).map(|t| type_ptr(&t));
        let version = Version::of(py);
        let frame_locals_proxy = if version >= Version(3, 13) {
            let frame = py.import("sys")?.call_method1("_getframe", (0,))?;
            type_ptr(&frame.getattr("f_locals")?.get_type().into_any())
        } else {
            0
        };
        let type_type = builtins.getattr("type")?;
        let type_namespace = type_type.getattr("__dict__")?;
        Ok(Known {
            py,
            version,
            list: b("list")?,
            tuple: b("tuple")?,
            dict: b("dict")?,
            ordered_dict: type_ptr(&collections.getattr("OrderedDict")?),
            default_dict: type_ptr(&collections.getattr("defaultdict")?),
            set: b("set")?,
            frozenset: b("frozenset")?,
            frame: t("FrameType")?,
            code: t("CodeType")?,
            cell: t("CellType")?,
            function: t("FunctionType")?,
            method: t("MethodType")?,
            generator: t("GeneratorType")?,
            coroutine: t("CoroutineType")?,
            async_generator: t("AsyncGeneratorType")?,
            member_descriptor: t("MemberDescriptorType")?,
            getset_descriptor: t("GetSetDescriptorType")?,
            str_: b("str")?,
            bytes: b("bytes")?,
            int: b("int")?,
            float: b("float")?,
            bool_: b("bool")?,
            none: type_ptr(&py.None().into_bound(py).get_type().into_any()),
            frame_locals_proxy,
            getsizeof: py.import("sys")?.getattr("getsizeof")?,
            type_dict_descriptor: type_namespace.get_item("__dict__")?,
            type_mro_descriptor: type_namespace.get_item("__mro__")?,
        })
    }

    /// The address of `object`'s exact type.
    pub fn ty(&self, object: Ptr) -> usize {
        type_of(object) as usize
    }

    pub fn is_type_object(&self, object: Ptr) -> bool {
        // SAFETY: reading the flags of a live type object.
        unsafe { ffi::PyType_GetFlags(type_of(object)) & ffi::Py_TPFLAGS_TYPE_SUBCLASS != 0 }
    }

    pub fn is_module(&self, object: Ptr) -> bool {
        // SAFETY: PyModule_Check only reads the type of a live object.
        unsafe { ffi::PyModule_Check(object) != 0 }
    }

    pub fn is_generator_like(&self, object: Ptr) -> bool {
        let ty = self.ty(object);
        ty == self.generator || ty == self.coroutine || ty == self.async_generator
    }

    /// Whether `object` is one of the builtin types whose repr is built here, bounded.
    pub fn is_plain_builtin(&self, object: Ptr) -> bool {
        let ty = self.ty(object);
        [
            self.int,
            self.float,
            self.str_,
            self.bytes,
            self.bool_,
            self.none,
            self.list,
            self.tuple,
            self.dict,
            self.set,
            self.frozenset,
        ]
        .contains(&ty)
    }

    pub fn bound(&self, object: Ptr) -> Bound<'py, PyAny> {
        // SAFETY: callers pass live objects (held by the index or by the caller).
        unsafe { Bound::from_borrowed_ptr(self.py, object) }
    }

    /// A class's own namespace (`vars(cls)`) as a mappingproxy, without running a metaclass.
    pub fn class_namespace(&self, class: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
        self.type_dict_descriptor
            .call_method1("__get__", (class,))
            .ok()
    }

    /// Looks `name` up in the namespaces of `type(object).__mro__`, like `inspect.getattr_static`
    /// does for the class part: no descriptor is called.
    pub fn class_lookup(&self, class: &Bound<'py, PyAny>, name: &str) -> Option<Bound<'py, PyAny>> {
        let mro = self
            .type_mro_descriptor
            .call_method1("__get__", (class,))
            .ok()?;
        let mro = mro.cast::<PyTuple>().ok()?.clone();
        for base in mro.iter() {
            if let Some(namespace) = self.class_namespace(&base)
                && let Ok(value) = namespace.get_item(name)
            {
                return Some(value);
            }
        }
        None
    }

    /// The instance `__dict__` of `object` when its class gets it from a C descriptor (no user
    /// code): the dict itself (3.11+ may create it from inline values; refcounts do not change).
    pub fn instance_dict(&self, object: &Bound<'py, PyAny>) -> Option<Bound<'py, PyDict>> {
        let ptr = object.as_ptr();
        if self.is_module(ptr) || self.is_type_object(ptr) {
            return None;
        }
        let class = object.get_type().into_any();
        let descriptor = self.class_lookup(&class, "__dict__")?;
        if self.ty(descriptor.as_ptr()) != self.getset_descriptor {
            return None;
        }
        let dict = descriptor.call_method1("__get__", (object, &class)).ok()?;
        dict.cast_into::<PyDict>().ok()
    }

    /// `sys.getsizeof(object)`, 0 if it raises.
    pub fn size_of(&self, object: Ptr) -> u64 {
        match self.getsizeof.call1((self.bound(object),)) {
            Ok(size) => size.extract::<u64>().unwrap_or(0),
            Err(_) => 0,
        }
    }
}
