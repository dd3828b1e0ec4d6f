//! Evaluating `name.attr[0]['k']` against a live scope without running user code:
//! `inspect.getattr_static` semantics for attributes (properties and other Python-level
//! descriptors are refused), indexes on exact lists and tuples, keys on exact dicts (and
//! `OrderedDict`/`defaultdict`, read as dicts: a missing key never inserts one).

use pyo3::exceptions::{PyLookupError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::known::Known;
use crate::raw::module_dict;

/// `container[key]` for the first name: a dict (module globals, an `f_locals` snapshot) or a
/// FrameLocalsProxy (3.13+).
pub fn lookup_name<'py>(
    known: &Known<'py>,
    container: &Bound<'py, PyAny>,
    key: &str,
) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(dict) = container.cast::<PyDict>() {
        return dict_get(dict, &PyString::new(known.py, key).into_any())
            .ok_or_else(|| PyLookupError::new_err(format!("no name `{key}` in this scope")));
    }
    if known.ty(container.as_ptr()) == known.frame_locals_proxy {
        return container
            .get_item(key)
            .map_err(|_| PyLookupError::new_err(format!("no name `{key}` in this scope")));
    }
    Err(PyTypeError::new_err(format!(
        "cannot read names from a {} without running its code",
        container.get_type().name()?
    )))
}

/// `dict[key]` through the C API: no `__missing__`, no `__getitem__` override.
fn dict_get<'py>(dict: &Bound<'py, PyDict>, key: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    // SAFETY: PyDict_GetItemWithError returns a borrowed reference, taken at once.
    unsafe {
        let value = ffi::PyDict_GetItemWithError(dict.as_ptr(), key.as_ptr());
        if value.is_null() {
            ffi::PyErr_Clear();
            None
        } else {
            Some(Bound::from_borrowed_ptr(dict.py(), value))
        }
    }
}

/// Applies one protocol step (`{"kind": "attribute"|"index"|"key", ...}`).
pub fn apply_step<'py>(
    known: &Known<'py>,
    object: Bound<'py, PyAny>,
    step: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let kind: String = step.get_item("kind")?.extract()?;
    match kind.as_str() {
        "attribute" => {
            let name: String = step.get_item("name")?.extract()?;
            attribute(known, &object, &name)
        }
        "index" => {
            let index: i64 = step.get_item("index")?.extract()?;
            let ty = known.ty(object.as_ptr());
            let items: Vec<Bound<'py, PyAny>> = if ty == known.list {
                object.cast::<PyList>()?.iter().collect()
            } else if ty == known.tuple {
                object.cast::<PyTuple>()?.iter().collect()
            } else {
                return Err(PyTypeError::new_err(format!(
                    "indexing a {} would run its __getitem__",
                    object.get_type().name()?
                )));
            };
            let length = items.len() as i64;
            let position = if index < 0 { index + length } else { index };
            if position < 0 || position >= length {
                return Err(PyLookupError::new_err(format!(
                    "index {index} out of range (length {length})"
                )));
            }
            Ok(items[position as usize].clone())
        }
        "key" => {
            let key = step.get_item("key")?;
            let ty = known.ty(object.as_ptr());
            if ty != known.dict && ty != known.ordered_dict && ty != known.default_dict {
                return Err(PyTypeError::new_err(format!(
                    "subscripting a {} would run its __getitem__",
                    object.get_type().name()?
                )));
            }
            dict_get(object.cast::<PyDict>()?, &key).ok_or_else(|| {
                PyLookupError::new_err(format!(
                    "no key {} in the dict",
                    key.repr().map(|r| r.to_string()).unwrap_or_default()
                ))
            })
        }
        other => Err(PyTypeError::new_err(format!("unknown step kind `{other}`"))),
    }
}

/// Types whose `__get__` is C code that runs nothing of the user's.
fn is_builtin_descriptor(known: &Known<'_>, value: &Bound<'_, PyAny>) -> bool {
    let ty = known.ty(value.as_ptr());
    if ty == known.member_descriptor || ty == known.getset_descriptor || ty == known.function {
        return true;
    }
    let name = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    let module = value
        .get_type()
        .module()
        .map(|n| n.to_string())
        .unwrap_or_default();
    module == "builtins"
        && matches!(
            name.as_str(),
            "classmethod"
                | "staticmethod"
                | "method_descriptor"
                | "wrapper_descriptor"
                | "builtin_function_or_method"
                | "classmethod_descriptor"
        )
}

/// `getattr_static`-like attribute read.
fn attribute<'py>(
    known: &Known<'py>,
    object: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let py = known.py;
    let missing = || PyLookupError::new_err(format!("no attribute `{name}`"));
    if known.is_module(object.as_ptr()) {
        // SAFETY: the module's dict is borrowed for the lookup only.
        let dict = unsafe { Bound::from_borrowed_ptr(py, module_dict(object.as_ptr())) };
        return dict_get(dict.cast::<PyDict>()?, &PyString::new(py, name).into_any())
            .ok_or_else(missing);
    }
    if known.is_type_object(object.as_ptr()) {
        return known.class_lookup(object, name).ok_or_else(missing);
    }
    let class = object.get_type().into_any();
    let class_attribute = known.class_lookup(&class, name);
    if let Some(attribute) = &class_attribute {
        let attribute_class = attribute.get_type().into_any();
        let is_data = known.class_lookup(&attribute_class, "__set__").is_some()
            || known.class_lookup(&attribute_class, "__delete__").is_some();
        let has_get = known.class_lookup(&attribute_class, "__get__").is_some();
        if is_data {
            let ty = known.ty(attribute.as_ptr());
            if ty == known.member_descriptor || ty == known.getset_descriptor {
                return attribute
                    .call_method1("__get__", (object, &class))
                    .map_err(|_| missing());
            }
            let what = if attribute_class.as_ptr() as usize == property_type(py) {
                "a property"
            } else {
                "a data descriptor"
            };
            return Err(PyTypeError::new_err(format!(
                "`{name}` is {what} of {}: reading it would run user code",
                class
                    .getattr("__qualname__")
                    .map(|q| q.to_string())
                    .unwrap_or_default()
            )));
        }
        if has_get && !is_builtin_descriptor(known, attribute) {
            return Err(PyTypeError::new_err(format!(
                "`{name}` is a descriptor of {}: reading it would run user code",
                class
                    .getattr("__qualname__")
                    .map(|q| q.to_string())
                    .unwrap_or_default()
            )));
        }
    }
    // The instance's own storage first (no descriptor of the user's is involved any more).
    // SAFETY: PyObject_GenericGetAttr is object.__getattribute__; it returns a new reference.
    let found = unsafe {
        let name_object = PyString::new(py, name);
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyObject_GenericGetAttr(object.as_ptr(), name_object.as_ptr()),
        )
    };
    match found {
        Ok(value) => {
            // A method read through its function's __get__: report the function (getattr_static).
            if let Some(attribute) = &class_attribute
                && known.ty(attribute.as_ptr()) != known.member_descriptor
                && known.ty(value.as_ptr()) == known.method
                && value
                    .getattr("__func__")
                    .map(|f| f.is(attribute))
                    .unwrap_or(false)
            {
                return Ok(attribute.clone());
            }
            Ok(value)
        }
        Err(_) => {
            if known.class_lookup(&class, "__getattr__").is_some() {
                return Err(PyTypeError::new_err(format!(
                    "no attribute `{name}` is stored; the class's __getattr__ would run user code"
                )));
            }
            Err(missing())
        }
    }
}

fn property_type(py: Python<'_>) -> usize {
    py.import("builtins")
        .and_then(|b| b.getattr("property"))
        .map(|p| p.as_ptr() as usize)
        .unwrap_or(0)
}
