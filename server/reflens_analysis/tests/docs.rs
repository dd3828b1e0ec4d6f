//! The docs pages under `docs/rules/` are generated from the rules' doc comments; this test
//! fails when they drift apart. Regenerate with `REFLENS_UPDATE_DOCS=1 cargo test -p reflens_analysis --test docs`.

use std::path::PathBuf;

use reflens_analysis::Rule;

const SECTIONS: &[&str] = &[
    "## What it finds",
    "## Why it keeps memory alive",
    "## Example",
    "## Fix",
    "## Fix safety",
];

fn docs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules")
}

#[test]
fn every_rule_documents_every_section() {
    for rule in Rule::ALL {
        let doc = rule.doc();
        for section in SECTIONS {
            assert!(doc.contains(section), "{rule}'s doc comment lacks `{section}`");
        }
        assert!(!doc.contains("TODO"), "{rule}'s doc comment is unfinished");
    }
}

#[test]
fn docs_pages_match_doc_comments() {
    let dir = docs_dir();
    let update = std::env::var_os("REFLENS_UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for rule in Rule::ALL {
        let path = dir.join(format!("{}.md", rule.code()));
        let expected = rule.docs_page();
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &expected).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(actual) if actual == expected => {}
            _ => stale.push(path.display().to_string()),
        }
    }
    assert!(
        stale.is_empty(),
        "docs pages out of date with the doc comments: {stale:?}\nregenerate with REFLENS_UPDATE_DOCS=1 cargo test -p reflens_analysis --test docs"
    );
}

#[test]
fn rule_table_in_docs_index_lists_every_rule() {
    let index = std::fs::read_to_string(docs_dir().join("README.md")).expect("docs/rules/README.md");
    for rule in Rule::ALL {
        assert!(
            index.contains(&format!("[{}]({}.md)", rule.code(), rule.code())),
            "docs/rules/README.md does not link {rule}"
        );
    }
}
