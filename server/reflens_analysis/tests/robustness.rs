//! Bad input gets a clear diagnostic, never a panic: deep nesting, odd bytes, broken code.
//! The mutation test feeds every rule thousands of half-broken variants of the fixtures (the
//! parser recovers from errors, so rules see unusual trees) and requires no rule to fail.

use reflens_analysis::triggers::comment_with_every_word;
use reflens_analysis::{DiagnosticKind, Settings, analyze, analyze_bytes};

fn internal_errors(source: &str) -> Vec<String> {
    analyze(source, &Settings::default())
        .into_iter()
        .filter(|d| d.kind == DiagnosticKind::SourceError && d.message.contains("internal error"))
        .map(|d| d.message)
        .collect()
}

#[test]
fn long_operator_chains_do_not_overflow_the_stack() {
    // CPython's parser gives up long before these; ours must not crash on them either.
    for source in [
        format!("def f():\n    x = 1{}\n", " + 1".repeat(100_000)),
        format!("def f():\n    x = a{}\n", ".b".repeat(100_000)),
        format!("def f():\n    x = {}1\n", "-".repeat(100_000)),
        format!("def f():\n    x = {}1\n", "not ".repeat(50_000)),
        format!("def f():\n    x = f{}\n", "()".repeat(50_000)),
        format!("def f():\n    x = {}1\n", "lambda: ".repeat(20_000)),
    ] {
        // With every rule's words in the file, every rule walks the chains.
        let source = comment_with_every_word() + &source;
        let diagnostics = analyze(&source, &Settings::default());
        assert!(
            diagnostics
                .iter()
                .all(|d| !d.message.contains("internal error")),
            "{diagnostics:?}"
        );
    }
}

#[test]
fn nesting_deeper_than_cpython_allows_is_reported() {
    let source = format!("x = {}1{}\n", "(".repeat(300), ")".repeat(300));
    let diagnostics = analyze(&source, &Settings::default());
    assert!(
        diagnostics
            .iter()
            .any(|d| d.kind == DiagnosticKind::SourceError
                && d.message.contains("nested more than 200 deep")),
        "{diagnostics:?}"
    );
    let mut blocks = String::new();
    for depth in 0..150 {
        blocks.push_str(&" ".repeat(depth));
        blocks.push_str("if x:\n");
    }
    blocks.push_str(&" ".repeat(150));
    blocks.push_str("pass\n");
    let diagnostics = analyze(&blocks, &Settings::default());
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message.contains("nested more than 100 deep"))
    );
}

#[test]
fn odd_text() {
    for source in [
        "",
        "\n\n\n",
        "\r\r\r",
        "x = 1\rdef f(p):\r    f = open(p)\r    return f.read()\r",
        "def f(p):\r\n    f = open(p)\r\n    return f.read()",
        "\u{feff}x = 1\n",
        "x = '\0'\n",
        "\0\0\0",
        "def f(:\n",
        "class C:\n    def __del__(self):\n",
        "@functools.cache\n",
        "with open(p) as :\n",
        "try:\n",
        "f = open(\n",
        "def f(x=[]): x.append(",
        "lambda",
        "\u{1F600}\u{1F600} = open(p)\n",
    ] {
        assert!(internal_errors(source).is_empty(), "{source:?}");
    }
}

#[test]
fn files_over_the_size_limit_get_one_diagnostic() {
    let huge = "x = 1\n".repeat(reflens_analysis::MAX_SOURCE_BYTES / 6 + 1);
    let diagnostics = analyze(&huge, &Settings::default());
    assert_eq!(diagnostics.len(), 1);
    assert!(diagnostics[0].message.contains("over reflens's limit"));
}

/// A tiny deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    for _ in 0..2_000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
        let analysis = analyze_bytes(&bytes, &Settings::default());
        assert!(
            analysis
                .diagnostics
                .iter()
                .all(|d| !d.message.contains("internal error"))
        );
    }
}

#[test]
fn mutated_fixtures_never_make_a_rule_fail() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut fixtures: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .collect();
    fixtures.sort();
    let pieces = [
        "",
        "(",
        ")",
        ":",
        "\n",
        "    ",
        "=",
        "with ",
        "try:\n",
        "except",
        "return ",
        "del ",
        "self",
        "open(p)",
        "lambda: ",
        "yield ",
        "[",
        "]",
        "#",
        "\"\"\"",
        "if x:\n",
        "else:\n",
        "finally:\n",
        ".close()",
        "global x\n",
    ];
    let mut rng = XorShift(0x0dd_ba11_f00d_cafe);
    for fixture in &fixtures {
        for _ in 0..150 {
            let mut text = fixture.clone();
            for _ in 0..1 + rng.below(4) {
                // Cut a slice out and/or splice a piece in, at a character boundary.
                let mut at = rng.below(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let mut end = (at + rng.below(40)).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                let piece = pieces[rng.below(pieces.len())];
                text.replace_range(at..end, piece);
            }
            let errors = internal_errors(&text);
            assert!(errors.is_empty(), "{errors:?}\n--- input ---\n{text}");
        }
    }
}

/// Python reads `ｗｅａｋｒｅｆ` (fullwidth letters) as `weakref`, and so does the parser; the
/// rules' trigger words, read in the text as written, must not keep the rule from running.
#[test]
fn names_written_outside_ascii_still_trigger_their_rules() {
    let plain = "import weakref\n\ndef local(registry):\n    r = weakref.ref(registry.current)\n    print(r().value)\n";
    let wide = plain.replace(
        "weakref",
        "\u{ff57}\u{ff45}\u{ff41}\u{ff4b}\u{ff52}\u{ff45}\u{ff46}",
    );
    assert!(!wide.contains("weakref"));
    let codes = |source: &str| -> Vec<String> {
        analyze(source, &Settings::default())
            .iter()
            .filter_map(|d| d.rule().map(|rule| rule.code().to_owned()))
            .collect()
    };
    assert_eq!(codes(plain), vec!["RL206"]);
    assert_eq!(codes(&wide), codes(plain));
}
