//! A walked heap and what queries compute from it once and keep: the breadth-first tree from
//! the roots (shortest chains), the dominator tree (retained sizes), names of types.

use rustc_hash::FxHashMap;

use crate::dominators::{DominatorTree, dominator_tree};
use crate::walk::{Graph, NONE};

/// Breadth-first parents: from all named roots at once (in the caller's order of preference),
/// then, for what they do not reach, from objects referenced from outside the heap.
pub struct Shortest {
    /// Parent of each object on a shortest chain; a start points to itself; `NONE` if unreached.
    pub parent: Vec<u32>,
}

impl Shortest {
    pub fn compute(graph: &Graph) -> Shortest {
        let count = graph.len();
        let mut parent = vec![NONE; count];
        let mut queue: Vec<u32> = Vec::with_capacity(count);
        let mut head = 0usize;
        let run = |queue: &mut Vec<u32>, head: &mut usize, parent: &mut Vec<u32>| {
            while *head < queue.len() {
                let node = queue[*head];
                *head += 1;
                for &child in graph.successors(node) {
                    if parent[child as usize] == NONE && !graph.agent[child as usize] {
                        parent[child as usize] = node;
                        queue.push(child);
                    }
                }
            }
        };
        for &(_, root) in &graph.roots {
            if parent[root as usize] == NONE && !graph.agent[root as usize] {
                parent[root as usize] = root;
                queue.push(root);
            }
        }
        run(&mut queue, &mut head, &mut parent);
        for (id, slot) in parent.iter_mut().enumerate().take(count) {
            if *slot == NONE && !graph.agent[id] && graph.outside_references[id] > 0 {
                *slot = id as u32;
                queue.push(id as u32);
            }
        }
        run(&mut queue, &mut head, &mut parent);
        Shortest { parent }
    }

    /// The objects from the start of the chain to `id`, or `None` if nothing reaches it.
    pub fn path(&self, id: u32) -> Option<Vec<u32>> {
        if self.parent[id as usize] == NONE {
            return None;
        }
        let mut path = vec![id];
        let mut node = id;
        while self.parent[node as usize] != node {
            node = self.parent[node as usize];
            path.push(node);
        }
        path.reverse();
        Some(path)
    }
}

/// Which objects the named roots reach (agent objects are neither reached nor crossed).
pub fn reachable_from_roots(graph: &Graph) -> Vec<bool> {
    let mut reached = vec![false; graph.len()];
    let mut stack: Vec<u32> = Vec::new();
    for &(_, root) in &graph.roots {
        if !reached[root as usize] && !graph.agent[root as usize] {
            reached[root as usize] = true;
            stack.push(root);
        }
    }
    while let Some(node) = stack.pop() {
        for &child in graph.successors(node) {
            if !reached[child as usize] && !graph.agent[child as usize] {
                reached[child as usize] = true;
                stack.push(child);
            }
        }
    }
    reached
}

/// The heap index with its lazily computed parts.
pub struct State {
    pub graph: Graph,
    pub shortest: Option<Shortest>,
    pub dominators: Option<DominatorTree>,
    pub root_names: FxHashMap<u32, String>,
    pub type_names: FxHashMap<usize, (String, String)>,
    /// The walk's time is reported by the first query only.
    pub index_ms_unreported: bool,
}

impl State {
    pub fn new(graph: Graph) -> State {
        let root_names = graph
            .roots
            .iter()
            .rev()
            .map(|(name, id)| (*id, name.clone()))
            .collect();
        State {
            graph,
            shortest: None,
            dominators: None,
            root_names,
            type_names: FxHashMap::default(),
            index_ms_unreported: true,
        }
    }

    pub fn shortest(&mut self) -> &Shortest {
        if self.shortest.is_none() {
            self.shortest = Some(Shortest::compute(&self.graph));
        }
        self.shortest.as_ref().unwrap()
    }

    pub fn dominators(&mut self) -> &DominatorTree {
        if self.dominators.is_none() {
            let graph = &self.graph;
            let mut entry: Vec<u32> = graph.roots.iter().map(|&(_, id)| id).collect();
            entry.extend((0..graph.len() as u32).filter(|&id| {
                graph.outside_references[id as usize] > 0 && !graph.agent[id as usize]
            }));
            self.dominators = Some(dominator_tree(graph, &entry));
        }
        self.dominators.as_ref().unwrap()
    }
}
