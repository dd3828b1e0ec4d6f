//! Developer tool: runs selected rules over a directory tree and prints one line per finding,
//! for judging a rule's precision on real code (e.g. the CPython standard library).
//!
//! cargo run --release -p reflens_analysis --example scan -- /usr/lib/python3.11 RL101 [RL104 ...]

use std::path::Path;

use reflens_analysis::{RuleSelector, RuleSet, Settings, analyze_bytes};
use ruff_source_file::LineIndex;
use ruff_text_size::Ranged;

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().expect("usage: scan DIR [SELECTOR ...]");
    let selectors: Vec<String> = args.collect();
    let rules: RuleSet = if selectors.is_empty() {
        RuleSet::all()
    } else {
        selectors
            .iter()
            .map(|s| s.parse::<RuleSelector>().expect("selector").rules())
            .fold(RuleSet::empty(), RuleSet::union)
    };
    let settings = Settings::with_rules(rules);
    let mut files = Vec::new();
    walk(Path::new(&root), &mut files);
    files.sort();
    let mut total = 0;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let analysis = analyze_bytes(&bytes, &settings);
        let Some(text) = analysis.text else { continue };
        let index = LineIndex::from_source_text(&text);
        for d in analysis.diagnostics.iter().filter(|d| d.rule().is_some()) {
            total += 1;
            let at = index.line_column(d.start(), &text);
            println!(
                "{}:{}:{}: {} {}{}",
                path.display(),
                at.line,
                at.column,
                d.kind.code().unwrap_or(""),
                d.message,
                if d.fix.is_some() { " [fix]" } else { "" }
            );
        }
    }
    eprintln!("{total} findings in {} files", files.len());
}
