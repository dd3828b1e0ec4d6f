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
            assert!(
                doc.contains(section),
                "{rule}'s doc comment lacks `{section}`"
            );
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

/// `docs/rules/README.md`: the catalog table, generated from the registry.
fn index_page() -> String {
    let mut page = String::from(
        "# Rules\n\n\
         Every rule reflens knows, with the pattern it finds and whether it can fix it. Each page\n\
         is generated from the rule's doc comment (`reflens rule <CODE>` prints the same text).\n\n\
         | code | name | finds | fix |\n|---|---|---|---|\n",
    );
    for rule in Rule::ALL {
        page.push_str(&format!(
            "| [{code}]({code}.md) | `{name}` | {summary} | {fix} |\n",
            code = rule.code(),
            name = rule.name(),
            summary = rule.summary(),
            fix = rule.fix_availability().describe(),
        ));
    }
    page
}

#[test]
fn rule_table_in_docs_index_lists_every_rule() {
    let path = docs_dir().join("README.md");
    let expected = index_page();
    if std::env::var_os("REFLENS_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, expected,
        "docs/rules/README.md is out of date; regenerate with REFLENS_UPDATE_DOCS=1 cargo test -p reflens_analysis --test docs"
    );
}
