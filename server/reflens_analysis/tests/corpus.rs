//! The precision corpus: realistic leaky modules written for the project, each beside its fixed
//! version (`tests/corpus/<CODE>/leaky_<name>.py` and `fixed_<name>.py`, at least three pairs
//! per rule). Every marked line of a leaky module (`# expect: RL401` or `# expect: RL401, RL301`)
//! must be flagged by those rules, nothing else may be flagged, and the fixed modules must be
//! clean under the whole catalog.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use reflens_analysis::{DiagnosticKind, Rule, Settings, analyze};
use ruff_source_file::LineIndex;
use ruff_text_size::Ranged;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// (line, code) pairs marked in a file.
fn marked(source: &str) -> BTreeSet<(usize, String)> {
    let mut out = BTreeSet::new();
    for (number, line) in source.lines().enumerate() {
        if let Some((_, codes)) = line.split_once("# expect:") {
            for code in codes.split([',', ' ']).filter(|c| !c.is_empty()) {
                out.insert((number + 1, code.trim().to_owned()));
            }
        }
    }
    out
}

fn flagged(source: &str) -> BTreeSet<(usize, String)> {
    let index = LineIndex::from_source_text(source);
    analyze(source, &Settings::default())
        .iter()
        .map(|d| {
            let code = match d.kind {
                DiagnosticKind::Rule(rule) => rule.code().to_owned(),
                _ => format!("{:?}: {}", d.kind, d.message),
            };
            (index.line_index(d.start()).get(), code)
        })
        .collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "py"));
    files.sort();
    files
}

#[test]
fn corpus_leaky_found_fixed_clean() {
    let mut failures = Vec::new();
    let mut too_few = Vec::new();
    for rule in Rule::ALL {
        let dir = corpus_dir().join(rule.code());
        let files = files(&dir);
        let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
        let leaky: Vec<_> = files
            .iter()
            .filter(|p| name(p).starts_with("leaky_"))
            .collect();
        let fixed: Vec<_> = files
            .iter()
            .filter(|p| name(p).starts_with("fixed_"))
            .collect();
        if leaky.len() < 3 || fixed.len() < 3 {
            too_few.push(format!(
                "{rule}: {} leaky, {} fixed",
                leaky.len(),
                fixed.len()
            ));
        }
        for path in leaky {
            let source = std::fs::read_to_string(path).unwrap();
            let expected = marked(&source);
            if !expected.iter().any(|(_, code)| code == rule.code()) {
                failures.push(format!("{}: no `# expect: {rule}` marker", path.display()));
            }
            let actual = flagged(&source);
            let missed: Vec<_> = expected.difference(&actual).collect();
            let spurious: Vec<_> = actual.difference(&expected).collect();
            if !missed.is_empty() || !spurious.is_empty() {
                failures.push(format!(
                    "{}: missed {missed:?}, unexpected {spurious:?}",
                    path.display()
                ));
            }
        }
        for path in fixed {
            let source = std::fs::read_to_string(path).unwrap();
            let actual = flagged(&source);
            if !actual.is_empty() {
                failures.push(format!(
                    "{}: fixed version flagged {actual:?}",
                    path.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty() && too_few.is_empty(),
        "corpus failures:\n{}\nrules with fewer than three pairs:\n{}",
        failures.join("\n"),
        too_few.join("\n")
    );
}
