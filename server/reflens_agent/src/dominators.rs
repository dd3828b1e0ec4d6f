//! Retained sizes: the dominator tree of the heap graph (Lengauer–Tarjan with path compression,
//! iterative, O(E log V)) from a virtual root connected to the named roots and to every object
//! referenced from outside the indexed heap. An object dominates what every path from the
//! virtual root to it passes through, so what it dominates is what would be freed with it.

use crate::walk::{Graph, NONE};

/// The dominator tree: `children` of each object in CSR form; the virtual root is id `len`.
pub struct DominatorTree {
    pub child_offsets: Vec<u32>,
    pub children: Vec<u32>,
}

impl DominatorTree {
    /// Every object `id` dominates, itself included.
    pub fn subtree(&self, id: u32) -> Vec<u32> {
        let mut out = vec![id];
        let mut next = 0;
        while next < out.len() {
            let node = out[next] as usize;
            out.extend_from_slice(
                &self.children
                    [self.child_offsets[node] as usize..self.child_offsets[node + 1] as usize],
            );
            next += 1;
        }
        out
    }
}

/// Builds the tree. `entry` lists the virtual root's children in order; objects reached from
/// none of them (unreachable cycles) are attached to the virtual root too. Agent objects are
/// left out of the graph.
pub fn dominator_tree(graph: &Graph, entry: &[u32]) -> DominatorTree {
    let count = graph.len();
    let root = count as u32;
    let total = count + 1;
    // dfs number (1-based, 0 = not visited) and its inverse.
    let mut number = vec![0u32; total];
    let mut vertex: Vec<u32> = Vec::with_capacity(total);
    let mut parent = vec![NONE; total];
    let mut from_root = vec![false; total];
    number[root as usize] = 1;
    vertex.push(root);

    let mut stack: Vec<(u32, u32)> = Vec::new();
    let mut visit_from =
        |start: u32, number: &mut Vec<u32>, vertex: &mut Vec<u32>, parent: &mut Vec<u32>| {
            if number[start as usize] != 0 || graph.agent[start as usize] {
                return;
            }
            parent[start as usize] = root;
            vertex.push(start);
            number[start as usize] = vertex.len() as u32;
            stack.push((start, graph.forward_offsets[start as usize]));
            while let Some(top) = stack.last_mut() {
                let node = top.0 as usize;
                if top.1 < graph.forward_offsets[node + 1] {
                    let child = graph.forward[top.1 as usize];
                    top.1 += 1;
                    if number[child as usize] == 0 && !graph.agent[child as usize] {
                        parent[child as usize] = node as u32;
                        vertex.push(child);
                        number[child as usize] = vertex.len() as u32;
                        stack.push((child, graph.forward_offsets[child as usize]));
                    }
                } else {
                    stack.pop();
                }
            }
        };
    for &start in entry {
        from_root[start as usize] = true;
        visit_from(start, &mut number, &mut vertex, &mut parent);
    }
    for start in 0..count as u32 {
        if number[start as usize] == 0 && !graph.agent[start as usize] {
            from_root[start as usize] = true;
            visit_from(start, &mut number, &mut vertex, &mut parent);
        }
    }

    let mut semi = number.clone();
    let mut label: Vec<u32> = (0..total as u32).collect();
    let mut ancestor = vec![NONE; total];
    let mut idom = vec![NONE; total];
    let mut bucket_head = vec![NONE; total];
    let mut bucket_next = vec![NONE; total];
    let mut path: Vec<u32> = Vec::new();

    // eval(v): the vertex of least semi-dominator on the compressed path to v's forest root.
    let eval = |node: u32,
                ancestor: &mut Vec<u32>,
                label: &mut Vec<u32>,
                semi: &Vec<u32>,
                path: &mut Vec<u32>| {
        if ancestor[node as usize] == NONE {
            return node;
        }
        let mut x = node;
        while ancestor[ancestor[x as usize] as usize] != NONE {
            path.push(x);
            x = ancestor[x as usize];
        }
        while let Some(y) = path.pop() {
            let a = ancestor[y as usize];
            if semi[label[a as usize] as usize] < semi[label[y as usize] as usize] {
                label[y as usize] = label[a as usize];
            }
            ancestor[y as usize] = ancestor[a as usize];
        }
        label[node as usize]
    };

    for index in (1..vertex.len()).rev() {
        let w = vertex[index];
        let wu = w as usize;
        for &v in graph.predecessors(w) {
            if number[v as usize] == 0 {
                continue;
            }
            let u = eval(v, &mut ancestor, &mut label, &semi, &mut path);
            if semi[u as usize] < semi[wu] {
                semi[wu] = semi[u as usize];
            }
        }
        if from_root[wu] {
            semi[wu] = 1;
        }
        let semi_vertex = vertex[semi[wu] as usize - 1] as usize;
        bucket_next[wu] = bucket_head[semi_vertex];
        bucket_head[semi_vertex] = w;
        let p = parent[wu];
        ancestor[wu] = p;
        let mut v = bucket_head[p as usize];
        bucket_head[p as usize] = NONE;
        while v != NONE {
            let next = bucket_next[v as usize];
            let u = eval(v, &mut ancestor, &mut label, &semi, &mut path);
            idom[v as usize] = if semi[u as usize] < semi[v as usize] {
                u
            } else {
                p
            };
            v = next;
        }
    }
    for index in 1..vertex.len() {
        let w = vertex[index] as usize;
        if idom[w] != vertex[semi[w] as usize - 1] {
            idom[w] = idom[idom[w] as usize];
        }
    }

    let mut child_offsets = vec![0u32; total + 1];
    for &dominator in idom.iter().take(count) {
        if dominator != NONE {
            child_offsets[dominator as usize + 1] += 1;
        }
    }
    for index in 0..total {
        child_offsets[index + 1] += child_offsets[index];
    }
    let mut fill = child_offsets.clone();
    let mut children = vec![0u32; child_offsets[total] as usize];
    for (node, &dominator) in idom.iter().enumerate().take(count) {
        if dominator != NONE {
            children[fill[dominator as usize] as usize] = node as u32;
            fill[dominator as usize] += 1;
        }
    }
    DominatorTree {
        child_offsets,
        children,
    }
}
