//! One walk of the heap: every object the cyclic GC tracks plus everything reachable from them
//! and from the named roots through `tp_traverse` (so strings, ints and untracked tuples/dicts
//! are indexed too), into a compact graph: object address → dense id, forward and reverse
//! adjacency in CSR form, with one edge per reference (a list holding x twice has two).
//!
//! Running frames hold their locals without the GC seeing it (their `tp_traverse` visits only
//! `f_back`), so the walk adds those references itself, read through `frame.f_locals`; a
//! generator's locals are attributed to its frame object when one exists, so that a local of a
//! paused generator is "local x of gen()" either way.

use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::known::{CO_GENERATOR_KINDS, CO_OPTIMIZED, Known};
use crate::raw::{Ptr, Traverser, decref, incref, is_immortal, refcount};

/// Marks an excluded address in [`Graph::ids`].
const EXCLUDED: u32 = u32::MAX;
/// No parent / not reached.
pub const NONE: u32 = u32::MAX;

/// The local variables of one frame, by name, as the walk read them (borrowed pointers: each
/// value is indexed, hence kept alive, when it is used).
pub type FrameLocals = Vec<(String, Ptr)>;

/// The indexed heap. Owns one strong reference to every indexed and every excluded object,
/// released by [`Graph::release`].
pub struct Graph {
    pub objects: Vec<Ptr>,
    pub ids: FxHashMap<usize, u32>,
    pub forward_offsets: Vec<u32>,
    pub forward: Vec<u32>,
    pub reverse_offsets: Vec<u32>,
    pub reverse: Vec<u32>,
    /// The named roots that were indexed, in the caller's order of preference.
    pub roots: Vec<(String, u32)>,
    /// Objects never traversed nor reported (the caller's, and the `f_locals` snapshot dicts
    /// this walk made on 3.12 and older), each with a strong reference.
    pub excluded_objects: Vec<Ptr>,
    /// Indexed objects that belong to the agent: snapshot dicts that were already indexed when
    /// found, and objects reachable only through excluded ones. Never reported, never crossed.
    pub agent: Vec<bool>,
    /// References to each object from excluded objects and agent objects at walk time.
    pub agent_references: Vec<u32>,
    /// References from outside the indexed heap at walk time (refcount minus every reference
    /// found minus ours); `i64::MAX` for immortal objects.
    pub outside_references: Vec<i64>,
    /// Locals of frames, read during the walk or later (keyed by frame address).
    pub frame_locals: FxHashMap<usize, FrameLocals>,
    pub index_ms: f64,
}

impl Drop for Graph {
    fn drop(&mut self) {
        self.release();
    }
}

impl Graph {
    /// A graph with nothing in it (for describing objects outside any walk).
    pub fn empty() -> Graph {
        Graph {
            objects: Vec::new(),
            ids: FxHashMap::default(),
            forward_offsets: vec![0],
            forward: Vec::new(),
            reverse_offsets: vec![0],
            reverse: Vec::new(),
            roots: Vec::new(),
            excluded_objects: Vec::new(),
            agent: Vec::new(),
            agent_references: Vec::new(),
            outside_references: Vec::new(),
            frame_locals: FxHashMap::default(),
            index_ms: 0.0,
        }
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn edge_count(&self) -> usize {
        self.forward.len()
    }

    pub fn id_of(&self, object: Ptr) -> Option<u32> {
        self.ids
            .get(&(object as usize))
            .copied()
            .filter(|&id| id != EXCLUDED)
    }

    pub fn is_excluded(&self, object: Ptr) -> bool {
        self.ids.get(&(object as usize)) == Some(&EXCLUDED)
    }

    pub fn successors(&self, id: u32) -> &[u32] {
        let id = id as usize;
        &self.forward[self.forward_offsets[id] as usize..self.forward_offsets[id + 1] as usize]
    }

    pub fn predecessors(&self, id: u32) -> &[u32] {
        let id = id as usize;
        &self.reverse[self.reverse_offsets[id] as usize..self.reverse_offsets[id + 1] as usize]
    }

    pub fn object(&self, id: u32) -> Ptr {
        self.objects[id as usize]
    }

    /// Marks an object as the agent's after the walk (a snapshot dict read by a later query):
    /// it is no longer reported or crossed.
    pub fn hide(&mut self, object: Ptr) {
        if let Some(id) = self.id_of(object) {
            if !self.agent[id as usize] {
                self.agent[id as usize] = true;
                for &child in &self.forward[self.forward_offsets[id as usize] as usize
                    ..self.forward_offsets[id as usize + 1] as usize]
                {
                    self.agent_references[child as usize] += 1;
                }
            }
        } else if !self.is_excluded(object) {
            incref(object);
            self.excluded_objects.push(object);
            self.ids.insert(object as usize, EXCLUDED);
        }
    }

    /// Releases every strong reference the graph holds (idempotent).
    pub fn release(&mut self) {
        for object in self.objects.drain(..) {
            decref(object);
        }
        for object in self.excluded_objects.drain(..) {
            decref(object);
        }
        self.ids.clear();
        self.ids.shrink_to_fit();
        self.forward = Vec::new();
        self.forward_offsets = vec![0];
        self.reverse = Vec::new();
        self.reverse_offsets = vec![0];
        self.roots.clear();
        self.agent = Vec::new();
        self.agent_references = Vec::new();
        self.outside_references = Vec::new();
        self.frame_locals.clear();
    }
}

/// Reads the local variables of `frame` that live in the frame itself (not cells): through
/// `f_locals`, a FrameLocalsProxy on 3.13+ (holds nothing) or, up to 3.12, the frame's
/// snapshot dict, which then holds one more reference to each local: that dict is returned
/// so that the caller treats it as the agent's. Empty for module-level and class-body frames.
pub fn read_frame_locals<'py>(
    known: &Known<'py>,
    frame: &Bound<'py, PyAny>,
) -> PyResult<(FrameLocals, Option<Bound<'py, PyAny>>)> {
    let code = frame.getattr("f_code")?;
    let flags: i64 = code.getattr("co_flags")?.extract()?;
    if flags & CO_OPTIMIZED == 0 {
        return Ok((Vec::new(), None));
    }
    let cells: FxHashSet<String> = code
        .getattr("co_cellvars")?
        .cast::<PyTuple>()?
        .iter()
        .filter_map(|name| {
            name.cast::<PyString>()
                .ok()
                .and_then(|s| s.to_cow().ok().map(|s| s.into_owned()))
        })
        .collect();
    let mapping = frame.getattr("f_locals")?;
    let mut locals = Vec::new();
    for name in code.getattr("co_varnames")?.cast::<PyTuple>()?.iter() {
        let Ok(text) = name.cast::<PyString>() else {
            continue;
        };
        let text = text.to_cow()?.into_owned();
        if cells.contains(&text) {
            continue;
        }
        let value = if let Ok(dict) = mapping.cast::<PyDict>() {
            dict.get_item(&name)?
        } else {
            mapping.get_item(&name).ok()
        };
        if let Some(value) = value {
            // The value stays alive through the frame (and is indexed before it is used).
            locals.push((text, value.as_ptr()));
        }
    }
    let snapshot = if known.ty(mapping.as_ptr()) == known.dict {
        Some(mapping)
    } else {
        None
    };
    Ok((locals, snapshot))
}

/// Walks the heap from `roots` and every gc-tracked object, never entering `exclude`.
pub fn walk<'py>(
    known: &Known<'py>,
    roots: &[(String, Bound<'py, PyAny>)],
    exclude: &[Bound<'py, PyAny>],
) -> PyResult<Graph> {
    let py = known.py;
    let started = Instant::now();
    let mut traverser = Traverser::new(py)?;
    let mut graph = Graph::empty();
    for object in exclude {
        graph.hide(object.as_ptr());
    }
    // Snapshot dicts (3.12 and older) of the root frames, made before the walk so that none of
    // them is indexed as if it were the program's.
    for (_, root) in roots {
        if known.ty(root.as_ptr()) == known.frame
            && let Ok((locals, snapshot)) = read_frame_locals(known, root)
        {
            if let Some(snapshot) = snapshot {
                graph.hide(snapshot.as_ptr());
            }
            graph.frame_locals.insert(root.as_ptr() as usize, locals);
        }
    }
    let mut hidden_late: Vec<Ptr> = Vec::new();

    fn add(graph: &mut Graph, object: Ptr) -> Option<u32> {
        use std::collections::hash_map::Entry;
        match graph.ids.entry(object as usize) {
            Entry::Occupied(entry) => {
                let id = *entry.get();
                (id != EXCLUDED).then_some(id)
            }
            Entry::Vacant(entry) => {
                let id = graph.objects.len() as u32;
                entry.insert(id);
                incref(object);
                graph.objects.push(object);
                Some(id)
            }
        }
    }

    for (name, root) in roots {
        if let Some(id) = add(&mut graph, root.as_ptr()) {
            graph.roots.push((name.clone(), id));
        }
    }
    {
        let tracked = py.import("gc")?.call_method0("get_objects")?;
        let tracked = tracked.cast::<PyList>()?;
        for object in tracked.iter() {
            add(&mut graph, object.as_ptr());
        }
    }

    let mut children: Vec<Ptr> = Vec::new();
    let mut next = 0usize;
    while next < graph.objects.len() {
        let object = graph.objects[next];
        children.clear();
        traverser.children(object, &mut children);
        let ty = known.ty(object);
        if ty == known.frame {
            add_frame_locals(known, &mut graph, object, &mut children, &mut hidden_late);
        } else if known.is_generator_like(object) {
            drop_generator_locals(known, &mut graph, &mut children, &mut hidden_late);
        }
        for &child in &children {
            if let Some(id) = add(&mut graph, child) {
                graph.forward.push(id);
            }
        }
        graph.forward_offsets.push(graph.forward.len() as u32);
        next += 1;
    }

    let count = graph.objects.len();
    graph.agent = vec![false; count];
    build_reverse(&mut graph);
    // References held by excluded objects (which were not traversed).
    let mut excluded_references = vec![0u32; count];
    let mut excluded_children = Vec::new();
    let mut buffer = Vec::new();
    for index in 0..graph.excluded_objects.len() {
        buffer.clear();
        traverser.children(graph.excluded_objects[index], &mut buffer);
        for &child in &buffer {
            if let Some(id) = graph.id_of(child) {
                excluded_references[id as usize] += 1;
                excluded_children.push(id);
            }
        }
    }
    // References from outside: what the refcount says minus what the walk found.
    let version = known.version;
    graph.outside_references = (0..count)
        .map(|id| {
            let object = graph.objects[id];
            if is_immortal(version, object) {
                return i64::MAX;
            }
            let found = i64::from(graph.reverse_offsets[id + 1] - graph.reverse_offsets[id]);
            refcount(version, object) - 1 - found - i64::from(excluded_references[id])
        })
        .collect();
    graph.agent_references = excluded_references;
    for object in hidden_late {
        graph.hide(object);
    }
    mark_agent_only(&mut graph, &excluded_children);
    graph.index_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(graph)
}

/// Adds the references a running (or generator-owned) frame holds to its locals, which its
/// `tp_traverse` does not report. A frame that owns its data (finished, e.g. in a traceback)
/// already reports them (its code object is among its references then).
fn add_frame_locals(
    known: &Known<'_>,
    graph: &mut Graph,
    frame: Ptr,
    children: &mut Vec<Ptr>,
    hidden_late: &mut Vec<Ptr>,
) {
    if children.iter().any(|&child| known.ty(child) == known.code) {
        return;
    }
    if let Some(locals) = frame_locals_cached(known, graph, frame, hidden_late) {
        children.extend(locals.iter().map(|(_, value)| *value));
    }
}

/// A generator reports its frame's locals itself; when its frame object exists they are moved
/// to the frame (see [`add_frame_locals`]) so that each reference is counted once.
fn drop_generator_locals(
    known: &Known<'_>,
    graph: &mut Graph,
    children: &mut Vec<Ptr>,
    hidden_late: &mut Vec<Ptr>,
) {
    let Some(&frame) = children
        .iter()
        .find(|&&child| known.ty(child) == known.frame)
    else {
        return;
    };
    let Some(locals) = frame_locals_cached(known, graph, frame, hidden_late) else {
        return;
    };
    let mut pending: FxHashMap<usize, u32> = FxHashMap::default();
    for (_, value) in locals {
        *pending.entry(*value as usize).or_default() += 1;
    }
    children.retain(|&child| match pending.get_mut(&(child as usize)) {
        Some(left) if *left > 0 => {
            *left -= 1;
            false
        }
        _ => true,
    });
}

/// The locals of `frame` (a frame of a function or generator), read once per graph.
fn frame_locals_cached<'g>(
    known: &Known<'_>,
    graph: &'g mut Graph,
    frame: Ptr,
    hidden_late: &mut Vec<Ptr>,
) -> Option<&'g FrameLocals> {
    if !graph.frame_locals.contains_key(&(frame as usize)) {
        let bound = known.bound(frame);
        let is_function = bound
            .getattr("f_code")
            .and_then(|code| code.getattr("co_flags"))
            .and_then(|flags| flags.extract::<i64>())
            .map(|flags| flags & CO_OPTIMIZED != 0 || flags & CO_GENERATOR_KINDS != 0)
            .unwrap_or(false);
        let locals = if is_function {
            match read_frame_locals(known, &bound) {
                Ok((locals, snapshot)) => {
                    if let Some(snapshot) = snapshot {
                        // Indexed later or already: hidden once the walk is over.
                        hidden_late.push(snapshot.as_ptr());
                        // Keep it out of the walk if it is not indexed yet.
                        if graph.id_of(snapshot.as_ptr()).is_none() {
                            graph.hide(snapshot.as_ptr());
                        }
                    }
                    locals
                }
                Err(_) => Vec::new(),
            }
        } else {
            Vec::new()
        };
        graph.frame_locals.insert(frame as usize, locals);
    }
    graph.frame_locals.get(&(frame as usize))
}

/// Reverse adjacency (who refers to each object) by counting sort of the forward edges.
fn build_reverse(graph: &mut Graph) {
    let count = graph.objects.len();
    let mut offsets = vec![0u32; count + 1];
    for &target in &graph.forward {
        offsets[target as usize + 1] += 1;
    }
    for index in 0..count {
        offsets[index + 1] += offsets[index];
    }
    let mut fill = offsets.clone();
    let mut reverse = vec![0u32; graph.forward.len()];
    for source in 0..count {
        for edge in graph.forward_offsets[source]..graph.forward_offsets[source + 1] {
            let target = graph.forward[edge as usize] as usize;
            reverse[fill[target] as usize] = source as u32;
            fill[target] += 1;
        }
    }
    graph.reverse_offsets = offsets;
    graph.reverse = reverse;
}

/// Marks as the agent's the objects reachable from excluded ones but not from the program:
/// the named roots and objects with references from outside the heap.
fn mark_agent_only(graph: &mut Graph, excluded_children: &[u32]) {
    let count = graph.len();
    let mut from_program = vec![false; count];
    let mut queue: Vec<u32> = Vec::new();
    for (id, reached) in from_program.iter_mut().enumerate() {
        let is_root = graph.outside_references[id] > 0;
        if is_root && !graph.agent[id] {
            *reached = true;
            queue.push(id as u32);
        }
    }
    for &(_, id) in &graph.roots {
        if !from_program[id as usize] && !graph.agent[id as usize] {
            from_program[id as usize] = true;
            queue.push(id);
        }
    }
    while let Some(id) = queue.pop() {
        for &child in graph.successors(id) {
            if !from_program[child as usize] && !graph.agent[child as usize] {
                from_program[child as usize] = true;
                queue.push(child);
            }
        }
    }
    let mut from_agent = vec![false; count];
    let mut queue: Vec<u32> = excluded_children.to_vec();
    queue.extend((0..count as u32).filter(|&id| graph.agent[id as usize]));
    for &id in &queue {
        from_agent[id as usize] = true;
    }
    while let Some(id) = queue.pop() {
        for &child in graph.successors(id) {
            if !from_agent[child as usize] {
                from_agent[child as usize] = true;
                queue.push(child);
            }
        }
    }
    let mut newly_agent = Vec::new();
    for id in 0..count {
        if from_agent[id] && !from_program[id] && !graph.agent[id] {
            newly_agent.push(id);
        }
    }
    for id in newly_agent {
        graph.agent[id] = true;
        for edge in graph.forward_offsets[id]..graph.forward_offsets[id + 1] {
            let child = graph.forward[edge as usize] as usize;
            graph.agent_references[child] += 1;
        }
    }
}
