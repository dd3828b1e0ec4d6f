//! `garbage`: what `gc.collect()` found unreachable (kept in `gc.garbage` under
//! `DEBUG_SAVEALL` by the caller), grouped by type, with the reference cycles among them
//! (strongly connected components, Tarjan) and the objects with finalizers.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use reflens_protocol::{Cycle, GarbageReport};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::index::State;
use crate::known::Known;
use crate::raw::{Ptr, Traverser};
use crate::walk::Graph;

/// Addresses of the objects a `weakref.finalize` is registered for.
fn finalized_objects(py: Python<'_>) -> FxHashSet<usize> {
    let mut out = FxHashSet::default();
    let registry = py
        .import("weakref")
        .and_then(|weakref| weakref.getattr("finalize"))
        .and_then(|finalize| finalize.getattr("_registry"));
    if let Ok(registry) = registry
        && let Ok(registry) = registry.cast::<PyDict>()
    {
        for info in registry.values().iter() {
            if let Ok(object) = info
                .getattr("weakref")
                .and_then(|reference| reference.call0())
                && !object.is_none()
            {
                out.insert(object.as_ptr() as usize);
            }
        }
    }
    out
}

/// Strongly connected components of the graph `successors` (iterative Tarjan).
fn components(successors: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let count = successors.len();
    let mut index = vec![u32::MAX; count];
    let mut low = vec![0u32; count];
    let mut on_stack = vec![false; count];
    let mut stack: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    let mut next_index = 0u32;
    for start in 0..count as u32 {
        if index[start as usize] != u32::MAX {
            continue;
        }
        let mut calls: Vec<(u32, usize)> = vec![(start, 0)];
        index[start as usize] = next_index;
        low[start as usize] = next_index;
        next_index += 1;
        stack.push(start);
        on_stack[start as usize] = true;
        while let Some(&mut (node, ref mut position)) = calls.last_mut() {
            if let Some(&child) = successors[node as usize].get(*position) {
                *position += 1;
                if index[child as usize] == u32::MAX {
                    index[child as usize] = next_index;
                    low[child as usize] = next_index;
                    next_index += 1;
                    stack.push(child);
                    on_stack[child as usize] = true;
                    calls.push((child, 0));
                } else if on_stack[child as usize] {
                    low[node as usize] = low[node as usize].min(index[child as usize]);
                }
            } else {
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    low[parent as usize] = low[parent as usize].min(low[node as usize]);
                }
                if low[node as usize] == index[node as usize] {
                    let mut component = Vec::new();
                    loop {
                        let member = stack.pop().unwrap();
                        on_stack[member as usize] = false;
                        component.push(member);
                        if member == node {
                            break;
                        }
                    }
                    out.push(component);
                }
            }
        }
    }
    out
}

/// Returns JSON of `GarbageReport` for `objects` (`list(gc.garbage)`), leaving out `exclude`.
#[pyfunction]
pub fn garbage(
    py: Python<'_>,
    objects: &Bound<'_, PyAny>,
    exclude: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let known = Known::new(py)?;
    let mut excluded: FxHashSet<usize> = FxHashSet::default();
    for item in exclude.try_iter()? {
        excluded.insert(item?.as_ptr() as usize);
    }
    let mut members: Vec<Bound<'_, PyAny>> = Vec::new();
    let mut ids: FxHashMap<usize, u32> = FxHashMap::default();
    for item in objects.try_iter()? {
        let item = item?;
        let address = item.as_ptr() as usize;
        if excluded.contains(&address) || ids.contains_key(&address) {
            continue;
        }
        ids.insert(address, members.len() as u32);
        members.push(item);
    }
    let mut traverser = Traverser::new(py)?;
    let mut successors: Vec<Vec<u32>> = Vec::with_capacity(members.len());
    let mut children: Vec<Ptr> = Vec::new();
    for member in &members {
        children.clear();
        traverser.children(member.as_ptr(), &mut children);
        successors.push(
            children
                .iter()
                .filter_map(|child| ids.get(&(*child as usize)).copied())
                .collect(),
        );
    }

    let finalized = finalized_objects(py);
    let has_finalizer = |object: &Bound<'_, PyAny>| {
        finalized.contains(&(object.as_ptr() as usize))
            || known
                .class_lookup(&object.get_type().into_any(), "__del__")
                .is_some()
    };
    let mut describer = State::new(Graph::empty());
    let mut describe = |object: &Bound<'_, PyAny>| {
        let type_name = describer.full_type(&known, object.as_ptr());
        let repr = describer.short_repr(&known, object.as_ptr(), 120);
        format!("{type_name}: {repr}")
    };

    let mut by_type: FxHashMap<String, u64> = FxHashMap::default();
    let mut with_finalizers = Vec::new();
    for member in &members {
        let description = describe(member);
        let type_name = description.split(": ").next().unwrap_or("").to_owned();
        *by_type.entry(type_name).or_default() += 1;
        if has_finalizer(member) {
            with_finalizers.push(description);
        }
    }
    let mut by_type: Vec<(String, u64)> = by_type.into_iter().collect();
    by_type.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    let mut cycles = Vec::new();
    for mut component in components(&successors) {
        let is_cycle =
            component.len() > 1 || successors[component[0] as usize].contains(&component[0]);
        if !is_cycle {
            continue;
        }
        component.sort_unstable();
        let has_finalizer = component
            .iter()
            .any(|&id| has_finalizer(&members[id as usize]));
        cycles.push(Cycle {
            members: component
                .iter()
                .take(20)
                .map(|&id| describe(&members[id as usize]))
                .collect(),
            size: component.len() as u64,
            has_finalizer,
        });
    }
    cycles.sort_by(|a, b| {
        b.has_finalizer
            .cmp(&a.has_finalizer)
            .then(b.size.cmp(&a.size))
    });
    let report = GarbageReport {
        unreachable: members.len() as u64,
        by_type,
        cycles,
        with_finalizers,
    };
    serde_json::to_string(&report)
        .map_err(|err| pyo3::exceptions::PyRuntimeError::new_err(err.to_string()))
}
