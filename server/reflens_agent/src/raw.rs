//! The few raw C-API operations the heap walk needs, each in a small commented function:
//! reading reference counts (which changed layout in 3.12 and 3.14), and listing an object's
//! direct references through its type's `tp_traverse` (what the cyclic GC itself uses).

use std::ffi::{c_int, c_void};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;
use rustc_hash::FxHashMap;

/// A borrowed or owned `PyObject*`; who owns it is said where it is stored.
pub type Ptr = *mut ffi::PyObject;

/// The running interpreter's `(major, minor)`, read once per walk (an abi3 module serves several).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u8, pub u8);

impl Version {
    pub fn of(py: Python<'_>) -> Version {
        let info = py.version_info();
        Version(info.major, info.minor)
    }
}

/// The reference count, as `sys.getrefcount` would report it (without its own argument).
///
/// abi3 code compiled for 3.9 reads `ob_refcnt` as a full `Py_ssize_t`; from 3.12 on the field
/// is split and only its low 32 bits are the count (3.14 keeps flags in the high bits), so the
/// low half is read there.
pub fn refcount(version: Version, object: Ptr) -> i64 {
    // SAFETY: `object` is a live object (the caller holds a reference); `ob_refcnt` is the first
    // field of every `PyObject` in every CPython version this module supports (non-free-threaded).
    unsafe {
        if version >= Version(3, 12) {
            let low: u32 = if cfg!(target_endian = "little") {
                *(object as *const u32)
            } else {
                *((object as *const u32).add(1))
            };
            i64::from(low)
        } else {
            *(object as *const isize) as i64
        }
    }
}

/// Immortal objects (3.12+) have a reference count that means nothing: 2**30 or more in the low
/// 32 bits (CPython sets bit 31 or `3 << 30` for them).
pub fn is_immortal(version: Version, object: Ptr) -> bool {
    version >= Version(3, 12) && refcount(version, object) >= (1 << 30)
}

/// `Py_TYPE(object)`.
pub fn type_of(object: Ptr) -> *mut ffi::PyTypeObject {
    // SAFETY: every live object has its type at the same offset in the stable ABI.
    unsafe { ffi::Py_TYPE(object) }
}

/// Takes a strong reference (works for immortal objects too: the call is the API function).
pub fn incref(object: Ptr) {
    // SAFETY: the caller passes a live object.
    unsafe { ffi::Py_IncRef(object) }
}

/// Releases a strong reference taken with [`incref`].
pub fn decref(object: Ptr) {
    // SAFETY: the caller owns one reference to `object`.
    unsafe { ffi::Py_DecRef(object) }
}

/// How to list the references of objects of one type.
#[derive(Clone, Copy)]
enum TraverseKind {
    /// Not a GC type: holds no references the collector knows of.
    Leaf,
    /// The type's `tp_traverse`, and its `tp_is_gc` if it has one (types of types: a static
    /// type object must not be traversed).
    Slot(ffi::traverseproc, Option<ffi::inquiry>),
    /// `PyType_GetSlot` refused (static types on 3.9): ask `gc.get_referents`.
    Fallback,
}

/// Lists direct references of objects, with the traverse function of each type looked up once.
pub struct Traverser<'py> {
    kinds: FxHashMap<usize, TraverseKind>,
    get_referents: Bound<'py, PyAny>,
}

/// The `visitproc` handed to `tp_traverse`: appends each visited object to the `Vec<Ptr>`
/// passed as `arg`.
unsafe extern "C" fn push_child(child: *mut ffi::PyObject, arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `&mut Vec<Ptr>` that `Traverser::children` passed to `tp_traverse`.
    let out = unsafe { &mut *(arg as *mut Vec<Ptr>) };
    if !child.is_null() {
        out.push(child);
    }
    0
}

impl<'py> Traverser<'py> {
    pub fn new(py: Python<'py>) -> PyResult<Self> {
        Ok(Traverser {
            kinds: FxHashMap::default(),
            get_referents: py.import("gc")?.getattr("get_referents")?,
        })
    }

    /// How objects of `ty` are traversed.
    fn kind(&mut self, ty: *mut ffi::PyTypeObject) -> TraverseKind {
        if let Some(kind) = self.kinds.get(&(ty as usize)) {
            return *kind;
        }
        // SAFETY: `ty` is the live type of a live object; PyType_GetSlot is in the stable ABI.
        let kind = unsafe {
            if ffi::PyType_GetFlags(ty) & ffi::Py_TPFLAGS_HAVE_GC == 0 {
                TraverseKind::Leaf
            } else {
                let traverse = ffi::PyType_GetSlot(ty, ffi::Py_tp_traverse);
                if traverse.is_null() {
                    if !ffi::PyErr_Occurred().is_null() {
                        ffi::PyErr_Clear();
                        TraverseKind::Fallback
                    } else {
                        TraverseKind::Leaf
                    }
                } else {
                    let is_gc = ffi::PyType_GetSlot(ty, ffi::Py_tp_is_gc);
                    if is_gc.is_null() && !ffi::PyErr_Occurred().is_null() {
                        ffi::PyErr_Clear();
                        TraverseKind::Fallback
                    } else {
                        TraverseKind::Slot(
                            std::mem::transmute::<*mut c_void, ffi::traverseproc>(traverse),
                            if is_gc.is_null() {
                                None
                            } else {
                                Some(std::mem::transmute::<*mut c_void, ffi::inquiry>(is_gc))
                            },
                        )
                    }
                }
            }
        };
        self.kinds.insert(ty as usize, kind);
        kind
    }

    /// Appends the objects `object` refers to (one entry per reference) to `out`. The pointers
    /// are borrowed: they stay valid while `object` is alive and unchanged (the GIL is held).
    pub fn children(&mut self, object: Ptr, out: &mut Vec<Ptr>) {
        match self.kind(type_of(object)) {
            TraverseKind::Leaf => {}
            TraverseKind::Slot(traverse, is_gc) => {
                // SAFETY: the collector calls these two slots exactly like this, with the GIL.
                unsafe {
                    if let Some(is_gc) = is_gc
                        && is_gc(object) == 0
                    {
                        return;
                    }
                    traverse(object, push_child, out as *mut Vec<Ptr> as *mut c_void);
                }
            }
            TraverseKind::Fallback => {
                // SAFETY: `object` is alive; the Bound takes its own reference.
                let object = unsafe { Bound::from_borrowed_ptr(self.get_referents.py(), object) };
                if let Ok(list) = self.get_referents.call1((object,)) {
                    if let Ok(list) = list.cast::<PyList>() {
                        // The referents stay alive through `object` after the list is dropped.
                        out.extend(list.iter().map(|child| child.as_ptr()));
                    }
                } else {
                    // SAFETY: clearing the error of the failed call above.
                    unsafe { ffi::PyErr_Clear() };
                }
            }
        }
    }
}

/// The `(key, value)` pairs of an exact or subclassed dict, borrowed (valid while the dict is
/// unchanged and the GIL is held).
pub fn dict_items(dict: Ptr) -> Vec<(Ptr, Ptr)> {
    let mut out = Vec::new();
    let mut position: ffi::Py_ssize_t = 0;
    let mut key: Ptr = std::ptr::null_mut();
    let mut value: Ptr = std::ptr::null_mut();
    // SAFETY: `dict` is a live dict (callers check the type); PyDict_Next returns borrowed refs.
    unsafe {
        while ffi::PyDict_Next(dict, &mut position, &mut key, &mut value) != 0 {
            out.push((key, value));
        }
    }
    out
}

/// The items of an exact list or tuple, borrowed.
pub fn sequence_items(sequence: Ptr, is_list: bool) -> Vec<Ptr> {
    // SAFETY: callers check the exact type; the Get* functions return borrowed refs.
    unsafe {
        let size = if is_list {
            ffi::PyList_Size(sequence)
        } else {
            ffi::PyTuple_Size(sequence)
        };
        (0..size.max(0))
            .map(|index| {
                if is_list {
                    ffi::PyList_GetItem(sequence, index)
                } else {
                    ffi::PyTuple_GetItem(sequence, index)
                }
            })
            .collect()
    }
}

/// `PyModule_GetDict(module)` (borrowed).
pub fn module_dict(module: Ptr) -> Ptr {
    // SAFETY: callers pass a module object.
    unsafe { ffi::PyModule_GetDict(module) }
}
