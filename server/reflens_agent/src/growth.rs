//! `growth`: call a function repeatedly and report what grows on every call — counted over a
//! full walk (untracked objects included, which `gc.get_objects()`-based tools miss), with the
//! allocation sites (tracemalloc) and the old objects that retain the new ones.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use reflens_protocol::{GrowthReport, ReferrerKind, Retainer, SiteGrowth, TypeGrowth};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::index::{State, reachable_from_roots};
use crate::known::Known;
use crate::walk::{Graph, NONE, walk};

/// The roots a walk starts from when the caller gives none: every module in `sys.modules`
/// (but the agent's), the frames of every thread (each `f_back` chain, skipping excluded
/// frames) and the `threading.Thread` objects.
pub fn default_roots<'py>(
    py: Python<'py>,
    excluded: &FxHashSet<usize>,
) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    let mut roots = Vec::new();
    let modules = py
        .import("sys")?
        .getattr("modules")?
        .cast::<PyDict>()?
        .copy()?;
    for (name, module) in modules.iter() {
        let name = name.str()?.to_cow()?.into_owned();
        if name.starts_with("reflens_agent") || excluded.contains(&(module.as_ptr() as usize)) {
            continue;
        }
        if module.is_instance_of::<pyo3::types::PyModule>() {
            roots.push((format!("module {name}"), module));
        }
    }
    let frames = py.import("sys")?.call_method0("_current_frames")?;
    for frame in frames.cast::<PyDict>()?.values().iter() {
        let mut frame = frame;
        while !frame.is_none() {
            if !excluded.contains(&(frame.as_ptr() as usize)) {
                let code = frame.getattr("f_code")?;
                let name = code.getattr("co_name")?.str()?.to_cow()?.into_owned();
                let file = code.getattr("co_filename")?.str()?.to_cow()?.into_owned();
                let file = file.rsplit(['/', '\\']).next().unwrap_or("").to_owned();
                let line = frame.getattr("f_lineno")?;
                roots.push((format!("frame of {name}() at {file}:{line}"), frame.clone()));
            }
            frame = frame.getattr("f_back")?;
        }
    }
    for thread in py
        .import("threading")?
        .call_method0("enumerate")?
        .try_iter()?
    {
        let thread = thread?;
        if excluded.contains(&(thread.as_ptr() as usize)) {
            continue;
        }
        let name = thread
            .getattr("name")
            .and_then(|n| n.str().map(|s| s.to_string()))
            .unwrap_or_default();
        roots.push((format!("thread {name}"), thread));
    }
    Ok(roots)
}

/// One walk after `gc.collect()`, with the default roots.
fn walk_now<'py>(
    known: &Known<'py>,
    exclude: &[Bound<'py, PyAny>],
    excluded: &FxHashSet<usize>,
) -> PyResult<Graph> {
    known.py.import("gc")?.call_method0("collect")?;
    let roots = default_roots(known.py, excluded)?;
    walk(known, &roots, exclude)
}

/// Live objects reachable from the roots, per type name. (Objects reached only through
/// references from outside the heap are left out: the interpreter frees some of them lazily,
/// which would make counts drop between walks for no reason of the program's.)
fn count_types(state: &mut State, known: &Known<'_>, reachable: &[bool]) -> FxHashMap<String, u64> {
    let mut by_type: FxHashMap<usize, (u64, usize)> = FxHashMap::default();
    for (id, _) in reachable
        .iter()
        .enumerate()
        .filter(|(_, reached)| **reached)
    {
        let object = state.graph.objects[id];
        let entry = by_type.entry(known.ty(object)).or_insert((0, id));
        entry.0 += 1;
    }
    by_type
        .into_values()
        .map(|(count, sample)| (state.full_type(known, state.graph.objects[sample]), count))
        .fold(FxHashMap::default(), |mut names, (name, count)| {
            *names.entry(name).or_default() += count;
            names
        })
}

/// Calls `call()` once to warm up, then `iterations` times, walking the heap after each call;
/// returns JSON of `GrowthReport`. Exceptions raised by `call()` propagate.
#[pyfunction]
#[pyo3(signature = (call, iterations, target, exclude, skip_prefixes))]
pub fn growth(
    py: Python<'_>,
    call: &Bound<'_, PyAny>,
    iterations: u32,
    target: String,
    exclude: &Bound<'_, PyAny>,
    skip_prefixes: Vec<String>,
) -> PyResult<String> {
    let known = Known::new(py)?;
    let mut exclude_list: Vec<Bound<'_, PyAny>> = vec![exclude.clone()];
    for item in exclude.try_iter()? {
        exclude_list.push(item?);
    }
    let excluded: FxHashSet<usize> = exclude_list.iter().map(|o| o.as_ptr() as usize).collect();

    let mut history: FxHashMap<String, Vec<u64>> = FxHashMap::default();
    let mut previous_objects: FxHashSet<(usize, usize)> = FxHashSet::default();
    let mut last: Option<(State, Vec<bool>)> = None;
    for round in 0..=iterations {
        call.call0()?;
        let mut state = State::new(walk_now(&known, &exclude_list, &excluded)?);
        let reachable = reachable_from_roots(&state.graph);
        let counts = count_types(&mut state, &known, &reachable);
        for (name, count) in &counts {
            history
                .entry(name.clone())
                .or_insert_with(|| vec![0; round as usize])
                .push(*count);
        }
        for (name, series) in history.iter_mut() {
            if !counts.contains_key(name) {
                series.push(0);
            }
        }
        if round + 1 == iterations {
            previous_objects = (0..state.graph.len())
                .filter(|&id| reachable[id])
                .map(|id| {
                    let object = state.graph.objects[id];
                    (object as usize, known.ty(object))
                })
                .collect();
        }
        if round == iterations {
            last = Some((state, reachable));
        }
    }
    let mut report = GrowthReport {
        target,
        iterations,
        ..GrowthReport::default()
    };
    let (mut state, reachable) = last.expect("at least the warm-up walk ran");
    if iterations == 0 {
        return serde_json::to_string(&report)
            .map_err(|err| pyo3::exceptions::PyRuntimeError::new_err(err.to_string()));
    }

    // Types that grew on every call after the warm-up.
    let mut growing: FxHashMap<String, usize> = FxHashMap::default();
    let mut types: Vec<TypeGrowth> = Vec::new();
    for (name, counts) in &history {
        let increases: Vec<i64> = counts
            .windows(2)
            .map(|pair| pair[1] as i64 - pair[0] as i64)
            .collect();
        if !increases.is_empty() && increases.iter().all(|&increase| increase > 0) {
            let per_call = *increases.iter().min().unwrap() as u64;
            growing.insert(name.clone(), types.len());
            types.push(TypeGrowth {
                type_name: name.clone(),
                counts: counts.clone(),
                per_call,
                gc_tracked: false,
            });
        }
    }

    // The objects of growing types that are new since the previous walk.
    let mut new_objects: Vec<u32> = Vec::new();
    let mut is_new = vec![false; state.graph.len()];
    let mut tracked_seen: FxHashMap<usize, bool> = FxHashMap::default();
    for id in 0..state.graph.len() {
        let object = state.graph.objects[id];
        if !reachable[id] || previous_objects.contains(&(object as usize, known.ty(object))) {
            continue;
        }
        is_new[id] = true;
        let name = state.full_type(&known, object);
        if let Some(&index) = growing.get(&name) {
            new_objects.push(id as u32);
            // SAFETY: asking the GC whether it tracks a live object.
            let tracked = unsafe { pyo3::ffi::PyObject_GC_IsTracked(object) } != 0;
            let seen = tracked_seen.entry(index).or_insert(false);
            *seen |= tracked;
        }
    }
    for (index, tracked) in tracked_seen {
        types[index].gc_tracked = tracked;
    }
    types.sort_by(|a, b| {
        b.per_call
            .cmp(&a.per_call)
            .then(a.type_name.cmp(&b.type_name))
    });
    report.types = types;

    // Allocation sites: the innermost frame outside the skipped prefixes.
    let tracemalloc = py.import("tracemalloc")?;
    let mut sites: FxHashMap<(String, u32, String), u64> = FxHashMap::default();
    if tracemalloc.call_method0("is_tracing")?.is_truthy()? {
        for &id in &new_objects {
            let object = known.bound(state.graph.object(id));
            let Ok(traceback) = tracemalloc.call_method1("get_object_traceback", (object,)) else {
                continue;
            };
            if traceback.is_none() {
                continue;
            }
            let frames: Vec<Bound<'_, PyAny>> =
                traceback.try_iter()?.filter_map(Result::ok).collect();
            // Oldest first (3.7+): the innermost frame is the last one.
            for frame in frames.iter().rev() {
                let file: String = frame.getattr("filename")?.extract()?;
                if skip_prefixes
                    .iter()
                    .any(|prefix| !prefix.is_empty() && file.starts_with(prefix.as_str()))
                {
                    continue;
                }
                let line: u32 = frame.getattr("lineno")?.extract()?;
                let type_name = state.full_type(&known, state.graph.object(id));
                *sites.entry((file, line, type_name)).or_default() += 1;
                break;
            }
        }
    }
    let mut sites: Vec<SiteGrowth> = sites
        .into_iter()
        .map(|((file, line, type_name), per_call)| SiteGrowth {
            file,
            line,
            type_name,
            per_call,
        })
        .collect();
    sites.sort_by(|a, b| {
        b.per_call
            .cmp(&a.per_call)
            .then(a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
    });
    report.sites = sites;

    // Retainers: the first old object on each new object's shortest chain from a root.
    let parent = state.shortest().parent.clone();
    let mut held: FxHashMap<u32, u64> = FxHashMap::default();
    for &id in &new_objects {
        let mut node = id;
        loop {
            if !is_new[node as usize] {
                *held.entry(node).or_default() += 1;
                break;
            }
            let up = parent[node as usize];
            if up == NONE || up == node {
                break;
            }
            node = up;
        }
    }
    let mut held: Vec<(u32, u64)> = held.into_iter().collect();
    held.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (retainer, count) in held.into_iter().take(20) {
        let hops = state.chain(&known, retainer).unwrap_or_default();
        let description = retainer_description(&mut state, &known, retainer, &hops);
        report.retainers.push(Retainer {
            description,
            chain: hops.into_iter().map(|hop| hop.step).collect(),
            new_objects: count,
        });
    }
    drop(state);
    serde_json::to_string(&report)
        .map_err(|err| pyo3::exceptions::PyRuntimeError::new_err(err.to_string()))
}

/// `global LOG in module app`, `attribute items of Foo instance registry[0]`, `list at 0x...`.
fn retainer_description(
    state: &mut State,
    known: &Known<'_>,
    id: u32,
    hops: &[crate::describe::Hop],
) -> String {
    if let (Some(first), Some(last)) = (hops.first(), hops.last())
        && hops.len() == 2
        && last.step.kind == ReferrerKind::Global
    {
        let module = first
            .step
            .description
            .strip_prefix("module ")
            .unwrap_or(&first.step.description);
        return format!("{} in module {module}", last.step.description);
    }
    let (_, short) = state.type_names(known, state.graph.object(id));
    let path = state.path_or_address(known, id);
    let _ = PyList::empty(known.py);
    format!("{short} {path}")
}
