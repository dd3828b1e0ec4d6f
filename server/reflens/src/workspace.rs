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
    }
}
