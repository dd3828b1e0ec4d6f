//! The workspace index of the language server: every Python file's cross-file facts, kept in
//! a `DashMap` and merged into one snapshot that analyses read.
//!
//! It is filled in the background when the workspace opens (with `$/progress`), and kept up to
//! date from open buffers (each analysis files its document's facts from the same parse),
//! watched-file events and file operations. When a change alters the merged facts, the
//! generation is bumped and open documents are analysed again, so a finding that depends on
//! another module follows that module's edits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;
use reflens_analysis::{ModuleFacts, WorkspaceFacts};

#[derive(Default)]
pub struct WorkspaceIndex {
    files: DashMap<PathBuf, ModuleFacts>,
    merged: RwLock<Arc<WorkspaceFacts>>,
    /// Serialises rebuilds of `merged`.
    rebuild: Mutex<()>,
    generation: AtomicU64,
}

impl WorkspaceIndex {
    /// The merged facts and their generation, read together.
    pub fn snapshot_with_generation(&self) -> (Arc<WorkspaceFacts>, u64) {
        let merged = self.merged.read().unwrap_or_else(|e| e.into_inner());
        (merged.clone(), self.generation.load(Ordering::SeqCst))
    }

    /// Bumped whenever the merged facts change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// How many files are indexed.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Files one module's facts; returns whether the workspace's facts changed.
    pub fn update(&self, path: &Path, facts: ModuleFacts) -> bool {
        let unchanged = self.files.get(path).is_some_and(|old| *old == facts);
        if unchanged {
            return false;
        }
        // Empty facts contribute nothing: forgetting them cannot change the merge either.
        let empty = is_empty(&facts);
        let was_empty = self.files.get(path).is_none_or(|old| is_empty(&old));
        self.files.insert(path.to_owned(), facts);
        if empty && was_empty {
            return false;
        }
        self.rebuild();
        true
    }

    /// Forgets a deleted file; returns whether the workspace's facts changed.
    pub fn remove(&self, path: &Path) -> bool {
        match self.files.remove(path) {
            Some((_, facts)) if !is_empty(&facts) => {
                self.rebuild();
                true
            }
            _ => false,
        }
    }

    /// Files many modules at once (the initial scan); `keep` says which entries already
    /// there are newer (open buffers) and must not be replaced. Returns whether the facts
    /// changed.
    pub fn load(&self, entries: Vec<(PathBuf, ModuleFacts)>, keep: impl Fn(&Path) -> bool) -> bool {
        let mut changed = false;
        for (path, facts) in entries {
            if keep(&path) {
                continue;
            }
            let same = self.files.get(&path).is_some_and(|old| *old == facts);
            if !same {
                changed |=
                    !is_empty(&facts) || self.files.get(&path).is_some_and(|old| !is_empty(&old));
                self.files.insert(path, facts);
            }
        }
        if changed {
            self.rebuild();
        }
        changed
    }

    fn rebuild(&self) {
        let _guard = self.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        let mut merged = WorkspaceFacts::default();
        for entry in &self.files {
            merged.add(entry.value());
        }
        // Bumped under the write lock, so that a snapshot and its generation always match.
        let mut slot = self.merged.write().unwrap_or_else(|e| e.into_inner());
        *slot = Arc::new(merged);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

fn is_empty(facts: &ModuleFacts) -> bool {
    facts.classes.is_empty()
        && facts.weakly_referenced.is_empty()
        && facts.shrunk_containers.is_empty()
        && facts.closers.is_empty()
}
