//! The `Heap` class (one walk, many questions) and the `growth` and `garbage` functions of
//! `reflens_agent._native`. Results are `reflens_protocol` types serialized to JSON.

use std::time::Instant;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use reflens_protocol::{HeapStats, ObjectFacts, Refcount, Referrer, ReferrerKind, TensorFacts};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::evaluate::{apply_step, lookup_name};
use crate::index::State;
use crate::known::Known;
use crate::raw::{Ptr, Traverser, is_immortal, refcount};
use crate::walk::walk;

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Heap>()?;
    module.add_function(wrap_pyfunction!(crate::growth::growth, module)?)?;
    module.add_function(wrap_pyfunction!(crate::garbage::garbage, module)?)?;
    Ok(())
}

/// Named roots, in order of preference.
pub type NamedRoots<'py> = Vec<(String, Bound<'py, PyAny>)>;

/// Named roots and excluded objects as the Python caller passed them: `roots` is a list of
/// `(name, object)` tuples; the lists and tuples themselves are the caller's, so they are
/// excluded too.
pub fn parse_roots_and_exclude<'py>(
    roots: &Bound<'py, PyAny>,
    exclude: &Bound<'py, PyAny>,
) -> PyResult<(NamedRoots<'py>, Vec<Bound<'py, PyAny>>)> {
    let mut named = Vec::new();
    let mut excluded: Vec<Bound<'py, PyAny>> = vec![roots.clone(), exclude.clone()];
    for item in roots.try_iter()? {
        let item = item?;
        let tuple = item
            .cast::<PyTuple>()
            .map_err(|_| PyValueError::new_err("roots must be (name, object) tuples"))?;
        if tuple.len() != 2 {
            return Err(PyValueError::new_err("roots must be (name, object) tuples"));
        }
        let name: String = tuple
            .get_item(0)?
            .cast::<PyString>()?
            .to_cow()?
            .into_owned();
        named.push((name, tuple.get_item(1)?));
        excluded.push(item.clone());
    }
    for item in exclude.try_iter()? {
        excluded.push(item?);
    }
    Ok((named, excluded))
}

/// One walk of the heap and the index built from it. Holds a strong reference to every
/// indexed object until `close()`, so that the index stays valid while Python code runs
/// between queries.
///
/// The agent builds a heap on one thread and may drop it on another (a paused program's main
/// thread answers requests too), so the class is not `unsendable`: pyo3 would panic on that.
#[pyclass(module = "reflens_agent._native")]
pub struct Heap {
    state: Option<State>,
}

// SAFETY: the object pointers a `State` holds are only read, and only released, while the
// thread holds the GIL (every method of `Heap` and its deallocation run attached to the
// interpreter, and the extension is built for the GIL-enabled abi3 only), so no two threads
// touch them at once; pyo3's runtime borrow flag keeps `&mut self` exclusive.
unsafe impl Send for Heap {}
unsafe impl Sync for Heap {}

#[pymethods]
impl Heap {
    #[new]
    fn new(py: Python<'_>, roots: &Bound<'_, PyAny>, exclude: &Bound<'_, PyAny>) -> PyResult<Self> {
        let known = Known::new(py)?;
        let (named, excluded) = parse_roots_and_exclude(roots, exclude)?;
        let graph = walk(&known, &named, &excluded)?;
        Ok(Heap {
            state: Some(State::new(graph)),
        })
    }

    /// Releases every reference the index holds (idempotent).
    fn close(&mut self) {
        // Dropping the graph releases its references.
        self.state = None;
    }

    /// `{"objects": int, "edges": int, "index_ms": float}`.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dict = pyo3::types::PyDict::new(py);
        let (objects, edges, index_ms) = match &self.state {
            Some(state) => (
                state.graph.len(),
                state.graph.edge_count(),
                state.graph.index_ms,
            ),
            None => (0, 0, 0.0),
        };
        dict.set_item("objects", objects)?;
        dict.set_item("edges", edges)?;
        dict.set_item("index_ms", index_ms)?;
        Ok(dict.into_any())
    }

    /// The facts about `container[key]` followed by `steps`, as JSON of `ObjectFacts`.
    /// Raises `LookupError` when a name, attribute, index or key is not there, `TypeError`
    /// when reading it would run user code.
    fn inspect(
        &mut self,
        py: Python<'_>,
        container: &Bound<'_, PyAny>,
        key: &str,
        steps: &Bound<'_, PyAny>,
        expression: &str,
        scope: &str,
    ) -> PyResult<String> {
        let started = Instant::now();
        let known = Known::new(py)?;
        let state = self
            .state
            .as_mut()
            .ok_or_else(|| PyRuntimeError::new_err("the heap index is closed"))?;
        let mut target = lookup_name(&known, container, key)?;
        for step in steps.try_iter()? {
            target = apply_step(&known, target, &step?)?;
        }
        let mut facts = facts_of(state, &known, target)?;
        facts.expression = expression.to_owned();
        facts.scope = scope.to_owned();
        facts.heap.query_ms = started.elapsed().as_secs_f64() * 1000.0;
        serde_json::to_string(&facts).map_err(|err| PyRuntimeError::new_err(err.to_string()))
    }

    /// JSON list of `Refcount` for each of `names` present in `container` (module globals).
    fn refcounts(
        &mut self,
        py: Python<'_>,
        container: &Bound<'_, PyAny>,
        names: Vec<String>,
    ) -> PyResult<String> {
        let known = Known::new(py)?;
        let state = self
            .state
            .as_mut()
            .ok_or_else(|| PyRuntimeError::new_err("the heap index is closed"))?;
        let mut out = Vec::new();
        for name in names {
            let Ok(value) = lookup_name(&known, container, &name) else {
                continue;
            };
            let target = value.as_ptr();
            let (count, _) = program_refcount(state, &known, target);
            let type_name = state.full_type(&known, target);
            drop(value);
            out.push(Refcount {
                name,
                refcount: count,
                type_name,
            });
        }
        serde_json::to_string(&out).map_err(|err| PyRuntimeError::new_err(err.to_string()))
    }
}

/// The refcount the program itself would see (`sys.getrefcount(x) - 1` in its code): the
/// count minus the caller's one reference to `target`, minus ours if it is indexed, minus the
/// references held by excluded objects and the agent's own. `None` for immortal objects.
pub fn program_refcount(state: &State, known: &Known<'_>, target: Ptr) -> (Option<i64>, bool) {
    if is_immortal(known.version, target) {
        return (None, true);
    }
    let mut count = refcount(known.version, target) - 1;
    let graph = &state.graph;
    if let Some(id) = graph.id_of(target) {
        count -= 1;
        count -= graph
            .predecessors(id)
            .iter()
            .filter(|&&source| graph.agent[source as usize])
            .count() as i64;
    }
    if let Ok(mut traverser) = Traverser::new(known.py) {
        let mut children = Vec::new();
        for &object in &graph.excluded_objects {
            children.clear();
            traverser.children(object, &mut children);
            count -= children.iter().filter(|&&child| child == target).count() as i64;
        }
    }
    (Some(count), false)
}

/// Everything `ObjectFacts` says about `target` (expression, scope and query time are the
/// caller's to fill in).
fn facts_of(
    state: &mut State,
    known: &Known<'_>,
    target: Bound<'_, PyAny>,
) -> PyResult<ObjectFacts> {
    let target_ptr = target.as_ptr();
    // First, while only the one reference of ours exists: the refcount.
    let (refcount, immortal) = program_refcount(state, known, target_ptr);
    let id = state.graph.id_of(target_ptr);

    let mut referrers: Vec<Referrer> = Vec::new();
    let mut found = 0i64;
    if let Some(id) = id {
        let mut counts: Vec<(u32, u32)> = Vec::new();
        let mut position: FxHashMap<u32, usize> = FxHashMap::default();
        for &source in state.graph.predecessors(id) {
            if state.graph.agent[source as usize] {
                continue;
            }
            match position.get(&source) {
                Some(&index) => counts[index].1 += 1,
                None => {
                    position.insert(source, counts.len());
                    counts.push((source, 1));
                }
            }
        }
        for (source, count) in counts {
            found += i64::from(count);
            referrers.push(state.describe_referrer(known, source, target_ptr, count));
        }
    }
    if let Some(refcount) = refcount
        && refcount > found
    {
        let outside = refcount - found;
        referrers.push(Referrer {
            kind: ReferrerKind::Other,
            description: format!(
                "{outside} {} from outside the Python heap (C code or the interpreter)",
                if outside == 1 {
                    "reference"
                } else {
                    "references"
                }
            ),
            type_name: String::new(),
            count: outside as u32,
        });
    }

    let chain = match id {
        Some(id) => state
            .chain(known, id)
            .map(|hops| hops.into_iter().map(|hop| hop.step).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let size = known.size_of(target_ptr);
    let (deep_size, retained_size, in_cycle) = match id {
        Some(id) => (
            deep_size(state, known, id),
            retained_size(state, known, id),
            in_cycle(state, id),
        ),
        None => (size, size, false),
    };
    let uncollectable = known
        .py
        .import("gc")
        .and_then(|gc| gc.getattr("garbage"))
        .map(|garbage| {
            garbage
                .cast::<PyList>()
                .map(|list| list.iter().any(|item| item.is(&target)))
                .unwrap_or(false)
        })
        .unwrap_or(false);
    let weakrefable = target
        .get_type()
        .getattr("__weakrefoffset__")
        .and_then(|offset| offset.extract::<i64>())
        .map(|offset| offset != 0)
        .unwrap_or(false);
    let tensor = tensor_facts(&target);
    let type_name = state.full_type(known, target_ptr);
    let repr = state.bounded_repr(known, target_ptr);
    let index_ms = if std::mem::take(&mut state.index_ms_unreported) {
        state.graph.index_ms
    } else {
        0.0
    };
    Ok(ObjectFacts {
        expression: String::new(),
        scope: String::new(),
        type_name,
        repr,
        refcount,
        immortal,
        referrers,
        chain,
        size,
        deep_size,
        retained_size,
        in_cycle,
        uncollectable,
        weakrefable,
        tensor,
        heap: HeapStats {
            objects: state.graph.len() as u64,
            edges: state.graph.edge_count() as u64,
            index_ms,
            query_ms: 0.0,
        },
    })
}

/// Whether the walk does not descend into (nor count) an object for deep sizes: classes,
/// modules, functions, code objects and frames are shared program structure, not data.
fn is_structure(known: &Known<'_>, object: Ptr) -> bool {
    let ty = known.ty(object);
    known.is_type_object(object)
        || known.is_module(object)
        || ty == known.function
        || ty == known.code
        || ty == known.frame
        || ty == known.method
}

/// The object plus everything reachable from it, not descending into classes, modules,
/// functions, methods, code objects or frames (they are neither counted nor followed).
fn deep_size(state: &State, known: &Known<'_>, id: u32) -> u64 {
    let graph = &state.graph;
    let mut seen: FxHashSet<u32> = FxHashSet::default();
    seen.insert(id);
    let mut queue = vec![id];
    let mut total = 0u64;
    while let Some(node) = queue.pop() {
        total += known.size_of(graph.object(node));
        for &child in graph.successors(node) {
            if graph.agent[child as usize] || is_structure(known, graph.object(child)) {
                continue;
            }
            if seen.insert(child) {
                queue.push(child);
            }
        }
    }
    total
}

/// Sum of the sizes of what `id` dominates (what only it keeps alive), itself included.
fn retained_size(state: &mut State, known: &Known<'_>, id: u32) -> u64 {
    let members = state.dominators().subtree(id);
    members
        .into_iter()
        .map(|member| known.size_of(state.graph.object(member)))
        .sum()
}

/// Whether `id` can reach itself.
fn in_cycle(state: &State, id: u32) -> bool {
    let graph = &state.graph;
    let mut seen = vec![false; graph.len()];
    let mut stack: Vec<u32> = Vec::new();
    for &child in graph.successors(id) {
        if child == id {
            return true;
        }
        if !graph.agent[child as usize] && !seen[child as usize] {
            seen[child as usize] = true;
            stack.push(child);
        }
    }
    while let Some(node) = stack.pop() {
        for &child in graph.successors(node) {
            if child == id {
                return true;
            }
            if !graph.agent[child as usize] && !seen[child as usize] {
                seen[child as usize] = true;
                stack.push(child);
            }
        }
    }
    false
}

/// Device, dtype, shape and bytes of a `torch` tensor (these read torch's own code, which is
/// fine); `None` for anything else, or when any step fails.
fn tensor_facts(target: &Bound<'_, PyAny>) -> Option<TensorFacts> {
    let class = target.get_type();
    let module = class.module().ok()?.to_string();
    if !module.starts_with("torch") {
        return None;
    }
    for name in [
        "element_size",
        "numel",
        "device",
        "dtype",
        "shape",
        "requires_grad",
        "grad_fn",
    ] {
        if !target.hasattr(name).unwrap_or(false) {
            return None;
        }
    }
    let element_size: u64 = target.call_method0("element_size").ok()?.extract().ok()?;
    let numel: u64 = target.call_method0("numel").ok()?.extract().ok()?;
    let device = target.getattr("device").ok()?.str().ok()?.to_string();
    let dtype = target.getattr("dtype").ok()?.str().ok()?.to_string();
    let shape: Vec<i64> = target
        .getattr("shape")
        .ok()?
        .try_iter()
        .ok()?
        .filter_map(|dimension| dimension.ok().and_then(|d| d.extract::<i64>().ok()))
        .collect();
    let requires_grad: bool = target.getattr("requires_grad").ok()?.is_truthy().ok()?;
    let has_grad_fn = !target.getattr("grad_fn").ok()?.is_none();
    let py = target.py();
    let cuda_memory_allocated = (|| -> PyResult<Option<u64>> {
        let cuda = py.import("torch.cuda")?;
        if cuda.call_method0("is_available")?.is_truthy()? {
            Ok(Some(cuda.call_method0("memory_allocated")?.extract()?))
        } else {
            Ok(None)
        }
    })()
    .unwrap_or(None);
    Some(TensorFacts {
        device,
        dtype,
        shape,
        bytes: element_size * numel,
        requires_grad,
        has_grad_fn,
        cuda_memory_allocated,
    })
}
