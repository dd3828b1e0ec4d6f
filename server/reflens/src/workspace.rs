//! The workspace index's I/O half: which module a file is, and the facts of many files read
//! from disk in parallel. The facts themselves come from `reflens_analysis::workspace`; the CLI
//! and the language server both build them here, so they see the same workspace.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use reflens_analysis::workspace::{ModuleFacts, extract};

/// A file's dotted module name and whether it is a package's `__init__.py`: the directories
/// above it that hold an `__init__.py` are its packages (`src/pkg/sub/mod.py` → `pkg.sub.mod`).
pub fn module_name(path: &Path) -> (String, bool) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let is_package = stem == "__init__";
    let mut parts: Vec<String> = if is_package { Vec::new() } else { vec![stem] };
    let mut dir = path.parent();
    while let Some(current) = dir {
        if !current.join("__init__.py").is_file() {
            break;
        }
        match current.file_name() {
            Some(name) => parts.push(name.to_string_lossy().into_owned()),
            None => break,
        }
        dir = current.parent();
    }
    parts.reverse();
    if parts.is_empty() {
        // A top-level `__init__.py` outside any package: name it after its directory.
        parts.push(
            path.parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "__main__".to_owned()),
        );
    }
    (parts.join("."), is_package)
}

/// [`module_name`] for the many files of a tree that does not change meanwhile (`reflens
/// check`): each directory is asked for its `__init__.py` once, not once per file below it.
#[derive(Default)]
pub struct ModuleNames {
    /// Directory → its dotted package name (`None`: not a package).
    packages: std::sync::Mutex<rustc_hash::FxHashMap<PathBuf, Option<String>>>,
}

impl ModuleNames {
    pub fn module_name(&self, path: &Path) -> (String, bool) {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_package = stem == "__init__";
        let package = path.parent().and_then(|dir| self.package(dir));
        let module = match (package, is_package) {
            (Some(package), true) => package,
            (Some(package), false) => format!("{package}.{stem}"),
            (None, false) => stem,
            // A top-level `__init__.py` outside any package: named after its directory.
            (None, true) => path
                .parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "__main__".to_owned()),
        };
        (module, is_package)
    }

    /// The dotted name of the package `dir` is, if it holds an `__init__.py`.
    fn package(&self, dir: &Path) -> Option<String> {
        if let Some(known) = self.lock().get(dir) {
            return known.clone();
        }
        let package = match dir.file_name() {
            Some(name) if dir.join("__init__.py").is_file() => {
                let name = name.to_string_lossy();
                Some(match dir.parent().and_then(|parent| self.package(parent)) {
                    Some(parent) => format!("{parent}.{name}"),
                    None => name.into_owned(),
                })
            }
            _ => None,
        };
        self.lock().insert(dir.to_owned(), package.clone());
        package
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, rustc_hash::FxHashMap<PathBuf, Option<String>>> {
        self.packages.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The facts of one file on disk (none if it cannot be read or decoded).
pub fn facts_of_file(path: &Path) -> ModuleFacts {
    let (module, is_package) = module_name(path);
    match std::fs::read(path).ok().and_then(|bytes| {
        reflens_analysis::source::decode(&bytes)
            .ok()
            .map(|d| d.text.into_owned())
    }) {
        Some(text) => extract(&text, &module, is_package),
        None => ModuleFacts {
            module,
            ..ModuleFacts::default()
        },
    }
}

/// The facts of many files, in parallel (on the caller's rayon pool).
pub fn facts_of_files(paths: &[PathBuf]) -> Vec<(PathBuf, ModuleFacts)> {
    paths
        .par_iter()
        .map(|path| (path.clone(), facts_of_file(path)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_follow_packages() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("src/pkg/sub");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(dir.path().join("src/pkg/__init__.py"), "").unwrap();
        std::fs::write(pkg.join("__init__.py"), "").unwrap();
        assert_eq!(
            module_name(&pkg.join("mod.py")),
            ("pkg.sub.mod".to_owned(), false)
        );
        assert_eq!(
            module_name(&pkg.join("__init__.py")),
            ("pkg.sub".to_owned(), true)
        );
        assert_eq!(
            module_name(&dir.path().join("src/app.py")),
            ("app".to_owned(), false)
        );
        std::fs::write(dir.path().join("src/__init__.py"), "").unwrap();
        let cached = ModuleNames::default();
        for path in [
            pkg.join("mod.py"),
            pkg.join("__init__.py"),
            dir.path().join("src/pkg/other.py"),
            dir.path().join("src/app.py"),
            dir.path().join("src/__init__.py"),
            dir.path().join("top.py"),
        ] {
            assert_eq!(cached.module_name(&path), module_name(&path), "{path:?}");
        }
        assert_eq!(cached.module_name(&pkg.join("mod.py")).0, "src.pkg.sub.mod");
    }
}
