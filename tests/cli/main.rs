//! End-to-end tests of `reflens check` and `reflens rule`: the real binary on real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn reflens() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_reflens"));
    command
        .env_remove("REFLENS_OUTPUT_FORMAT")
        .env("NO_COLOR", "1");
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    let output = reflens()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("reflens runs");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("panicked"),
        "reflens panicked: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

const LEAKY: &str = "\
import functools


def read_config(path):
    f = open(path)
    return f.read()


class Store:
    def __init__(self, rows):
        self.rows = rows

    @functools.lru_cache(maxsize=None)
    def total(self, column):
        return sum(row[column] for row in self.rows)
";

const CLEAN: &str = "\
def read_config(path):
    with open(path) as f:
        return f.read()
";

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        write(dir.path(), name, text);
    }
    dir
}

#[test]
fn text_output_has_location_code_name_message_frame_and_fix() {
    let dir = project(&[("app/config.py", LEAKY)]);
    let output = run(dir.path(), &["check"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("app/config.py:5:9"), "{text}");
    assert!(
        text.contains(
            "RL401 [*]: file `f` opened by `open(...)` is never closed in `read_config()`"
        ),
        "{text}"
    );
    assert!(text.contains("unclosed-resource"), "{text}");
    assert!(text.contains("5 |     f = open(path)"), "{text}");
    assert!(
        text.contains("help: Open `f` in a `with` block (safe fix: `--fix`)"),
        "{text}"
    );
    assert!(text.contains("+     with open(path) as f:"), "{text}");
    assert!(text.contains("app/config.py:13:5"), "{text}");
    assert!(text.contains("method-cache"), "{text}");
    assert!(text.contains("Found 2 problems."), "{text}");
    assert!(text.contains("[*] 1 fixable with `--fix`."), "{text}");
}

#[test]
fn exit_status_clean_findings_and_errors() {
    let clean = project(&[("a.py", CLEAN)]);
    let output = run(clean.path(), &["check", "."]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("All checks passed!"));

    let leaky = project(&[("a.py", LEAKY)]);
    assert_eq!(run(leaky.path(), &["check"]).status.code(), Some(1));
    assert_eq!(
        run(leaky.path(), &["check", "--exit-zero"]).status.code(),
        Some(0)
    );

    let missing = run(clean.path(), &["check", "does-not-exist.py"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("does-not-exist.py: no such file or directory"));

    let broken = project(&[("a.py", LEAKY), ("reflens.toml", "select = [\"RL999\"]\n")]);
    let output = run(broken.path(), &["check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("reflens.toml") && stderr(&output).contains("RL999"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn json_output_has_ruffs_shape() {
    let dir = project(&[("config.py", LEAKY)]);
    let output = run(dir.path(), &["check", "--output-format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let value: Value = serde_json::from_str(&stdout(&output)).expect("valid JSON");
    let items = value.as_array().expect("an array");
    assert_eq!(items.len(), 2);
    let first = &items[0];
    let mut keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "cell",
            "code",
            "end_location",
            "filename",
            "fix",
            "location",
            "message",
            "noqa_row",
            "url"
        ]
    );
    assert_eq!(first["code"], "RL401");
    assert_eq!(
        first["location"],
        serde_json::json!({"row": 5, "column": 9})
    );
    assert_eq!(
        first["end_location"],
        serde_json::json!({"row": 5, "column": 13})
    );
    assert_eq!(first["noqa_row"], 5);
    assert!(first["filename"].as_str().unwrap().ends_with("config.py"));
    assert!(Path::new(first["filename"].as_str().unwrap()).is_absolute());
    assert!(first["url"].as_str().unwrap().ends_with("RL401.md"));
    let fix = &first["fix"];
    assert_eq!(fix["applicability"], "safe");
    assert_eq!(fix["message"], "Open `f` in a `with` block");
    let edit = &fix["edits"][0];
    assert_eq!(edit["location"], serde_json::json!({"row": 5, "column": 1}));
    assert!(
        edit["content"]
            .as_str()
            .unwrap()
            .contains("with open(path) as f:")
    );
    assert_eq!(items[1]["code"], "RL101");
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    let dir = project(&[
        ("config.py", LEAKY),
        ("broken.py", "def f(:\n    x = open(p)\n"),
    ]);
    let output = run(dir.path(), &["check", "--output-format", "sarif"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let value: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(value["version"], "2.1.0");
    let run0 = &value["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "reflens");
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|rule| rule["id"] == "RL401"));
    let results = run0["results"].as_array().unwrap();
    assert!(results.iter().all(|result| result["ruleId"].is_string()));
    let leak = results.iter().find(|r| r["ruleId"] == "RL401").unwrap();
    let location = &leak["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "config.py");
    assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(location["region"]["startLine"], 5);
    assert_eq!(location["region"]["startColumn"], 9);
    assert!(leak["fixes"][0]["artifactChanges"][0]["replacements"].is_array());

    // The reference validator (Microsoft's SARIF multitool), installed by tests/setup.sh.
    match std::env::var_os("REFLENS_SARIF_VALIDATOR") {
        Some(validator) => {
            let file = dir.path().join("out.sarif");
            std::fs::write(&file, &text).unwrap();
            let check = Command::new(validator)
                .args([
                    "validate",
                    file.to_str().unwrap(),
                    "--level",
                    "Error",
                    "Warning",
                ])
                .output()
                .expect("the SARIF validator runs");
            let report = String::from_utf8_lossy(&check.stdout);
            assert!(
                report.contains("Analysis completed successfully")
                    && !report.contains(": error ")
                    && !report.contains(": warning "),
                "the SARIF validator rejects the output:\n{report}"
            );
        }
        None => eprintln!(
            "note: REFLENS_SARIF_VALIDATOR is not set; checked the SARIF structure only (tests/run.sh sets it)"
        ),
    }
}

#[test]
fn github_output_is_workflow_commands() {
    let dir = project(&[("config.py", LEAKY)]);
    let output = run(dir.path(), &["check", "--output-format", "github"]);
    let text = stdout(&output);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("::warning title=reflens (RL401),file=config.py,line=5,col=9,endLine=5,endColumn=13::config.py:5:9: RL401 file `f`"),
        "{first}"
    );
    assert_eq!(text.lines().count(), 2);
}

#[test]
fn fix_applies_safe_fixes_and_unsafe_only_when_asked() {
    let dir = project(&[("config.py", LEAKY)]);
    let output = run(dir.path(), &["check", "--fix"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the unsafe RL101 fix is not applied"
    );
    assert!(
        stdout(&output).contains("Fixed 1 problem; 1 remaining."),
        "{}",
        stdout(&output)
    );
    let fixed = std::fs::read_to_string(dir.path().join("config.py")).unwrap();
    assert!(
        fixed.contains("    with open(path) as f:\n        return f.read()\n"),
        "{fixed}"
    );
    assert!(fixed.contains("@functools.lru_cache(maxsize=None)"));

    let output = run(dir.path(), &["check", "--fix", "--unsafe-fixes"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let fixed = std::fs::read_to_string(dir.path().join("config.py")).unwrap();
    assert!(
        fixed.contains("self.total = functools.lru_cache(maxsize=None)(self.total)"),
        "{fixed}"
    );
    assert!(!fixed.contains("@functools.lru_cache"));
}

#[test]
fn fixes_are_not_written_to_files_in_other_encodings() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n\n\ndef read(path):\n    f = open(path)\n    return f.read()\n".to_vec();
    std::fs::write(dir.path().join("legacy.py"), &bytes).unwrap();
    let output = run(dir.path(), &["check", "--fix"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("fixes not applied"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(dir.path().join("legacy.py")).unwrap(), bytes);
    // The diagnostics themselves are found in the decoded text.
    bytes.clear();
    assert!(
        stdout(&output).contains("legacy.py:6:9"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn undecodable_and_syntax_errors_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.py"), b"x = 1\ny = '\xe9'\n").unwrap();
    write(
        dir.path(),
        "partial.py",
        "def broken(:\n    pass\n\n\ndef leak(path):\n    f = open(path)\n    return f.read()\n",
    );
    let output = run(dir.path(), &["check", "--output-format", "concise"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("bad.py:1:1: source-error cannot read the file as text: the file is not valid UTF-8 (byte 0xE9 at line 2, column 6)"),
        "{text}"
    );
    assert!(
        text.contains("partial.py:1:12: syntax-error SyntaxError:"),
        "{text}"
    );
    assert!(text.contains("partial.py:6:9: RL401"), "{text}");
}

#[test]
fn suppression_comments() {
    let dir = project(&[(
        "a.py",
        "\
def one(p):
    f = open(p)  # reflens: ignore[RL401]
    return f.read()


def two(p):
    f = open(p)  # noqa: RL401
    return f.read()


def three(p):
    f = open(p)  # noqa: E501
    return f.read()


def four(p):
    f = open(p)  # reflens: ignore[RL101]
    return f.read()


def five(p):
    f = open(p)  # noqa
    return f.read()
",
    )]);
    let output = run(dir.path(), &["check", "--output-format", "concise", "-q"]);
    let text = stdout(&output);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows,
        [
            "a.py:12:9: RL401 file `f` opened by `open(...)` is never closed in `three()`: it stays open until it is garbage-collected",
            "a.py:17:9: RL401 file `f` opened by `open(...)` is never closed in `four()`: it stays open until it is garbage-collected"
        ]
    );
}

#[test]
fn selection_from_flags_and_configuration() {
    let dir = project(&[("a.py", LEAKY)]);
    let codes = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["check", "--output-format", "json"];
        full.extend_from_slice(args);
        let value: Value = serde_json::from_str(&stdout(&run(dir.path(), &full))).unwrap();
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(codes(&["--select", "RL101"]), ["RL101"]);
    assert_eq!(codes(&["--ignore", "RL101"]), ["RL401"]);
    assert_eq!(codes(&["--select", "unclosed-resource"]), ["RL401"]);
    assert_eq!(
        codes(&["--select", "RL4", "--extend-select", "RL1"]),
        ["RL401", "RL101"]
    );

    write(
        dir.path(),
        "pyproject.toml",
        "[project]\nname = \"demo\"\n\n[tool.reflens]\nignore = [\"RL101\"]\n\n[tool.reflens.per-file-ignores]\n\"tests/*.py\" = [\"RL401\"]\n",
    );
    write(dir.path(), "tests/test_a.py", LEAKY);
    let value: Value = serde_json::from_str(&stdout(&run(
        dir.path(),
        &["check", "--output-format", "json"],
    )))
    .unwrap();
    let found: Vec<(String, String)> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let file = Path::new(d["filename"].as_str().unwrap())
                .strip_prefix(dir.path().canonicalize().unwrap_or(dir.path().to_owned()))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| d["filename"].as_str().unwrap().to_owned());
            (file, d["code"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].0.ends_with("a.py") && !found[0].0.contains("tests"),
        "{found:?}"
    );
    assert_eq!(found[0].1, "RL401");
}

#[test]
fn walking_honours_gitignore_and_default_excludes() {
    let dir = project(&[
        ("src/a.py", LEAKY),
        ("build_out/gen.py", LEAKY),
        (".gitignore", "build_out/\n"),
        (".venv/lib/x.py", LEAKY),
        ("node_modules/y.py", LEAKY),
    ]);
    let output = run(dir.path(), &["check", "--output-format", "concise", "-q"]);
    let text = stdout(&output);
    assert!(text.contains("src/a.py"), "{text}");
    assert!(
        !text.contains("gen.py") && !text.contains(".venv") && !text.contains("node_modules"),
        "{text}"
    );
    // A file named on the command line is checked even where walking would skip it.
    let output = run(
        dir.path(),
        &[
            "check",
            "--output-format",
            "concise",
            "-q",
            ".venv/lib/x.py",
        ],
    );
    assert!(
        stdout(&output).contains(".venv/lib/x.py:5:9: RL401"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn rule_prints_the_docs_page() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["rule", "RL101"]);
    assert_eq!(output.status.code(), Some(0));
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/rules/RL101.md"
    ))
    .unwrap();
    assert_eq!(stdout(&output), page);
    let by_name = run(dir.path(), &["rule", "method-cache"]);
    assert_eq!(stdout(&by_name), page);
    let unknown = run(dir.path(), &["rule", "RL999"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("no rule `RL999`"));
    let all = run(dir.path(), &["rule", "--all"]);
    assert!(stdout(&all).contains("| RL401 | `unclosed-resource` |"));
}

/// The whole CPython standard library of this machine's `python3`: no panic, no internal
/// error, and every file reported as unreadable or syntactically broken is one that CPython
/// itself refuses to compile.
#[test]
fn standard_library_has_no_internal_errors() {
    let python = std::env::var("REFLENS_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let stdlib = match Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
    {
        Ok(output) if output.status.success() => {
            String::from_utf8(output.stdout).unwrap().trim().to_owned()
        }
        _ => {
            eprintln!("skipped: no `{python}` on this machine to locate the standard library");
            return;
        }
    };
    let output = reflens()
        .args(["check", &stdlib, "--output-format", "json", "--exit-zero"])
        .output()
        .expect("reflens runs");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked") && !err.contains("error"), "{err}");
    let findings: Vec<Value> = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert!(
        findings.len() > 50,
        "suspiciously few findings over the standard library"
    );
    let internal: Vec<&Value> = findings
        .iter()
        .filter(|d| {
            d["message"]
                .as_str()
                .unwrap_or_default()
                .contains("internal error")
        })
        .collect();
    assert!(internal.is_empty(), "internal errors: {internal:#?}");

    let mut broken: Vec<&str> = findings
        .iter()
        .filter(|d| d["code"].is_null())
        .map(|d| d["filename"].as_str().unwrap())
        .collect();
    broken.sort_unstable();
    broken.dedup();
    // Ask CPython which of those it compiles; it must compile none of them.
    let script = "import sys\nfor path in sys.stdin.read().split('\\n'):\n    if not path: continue\n    try:\n        compile(open(path, 'rb').read(), path, 'exec')\n        print(path)\n    except (SyntaxError, ValueError, UnicodeDecodeError):\n        pass\n";
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), broken.join("\n").as_bytes()).unwrap();
    drop(child.stdin.take());
    let compiled = child.wait_with_output().unwrap();
    let compiled = String::from_utf8_lossy(&compiled.stdout);
    assert!(
        compiled.trim().is_empty(),
        "reflens reports syntax or decoding errors in files CPython compiles:\n{compiled}"
    );
    eprintln!(
        "standard library: {} findings, {} files CPython also rejects",
        findings.len(),
        broken.len()
    );
}

/// Popular third-party packages (installed by `tests/setup.sh`, pinned in
/// `tests/precision/requirements.txt`): no panic, no internal error, and no syntax error in code
/// that CPython compiles (these packages are all valid Python).
#[test]
fn popular_packages_have_no_internal_errors() {
    let Some(site) = std::env::var_os("REFLENS_PRECISION_SITE") else {
        eprintln!(
            "skipped: REFLENS_PRECISION_SITE is not set (tests/setup.sh installs the packages)"
        );
        return;
    };
    let site = PathBuf::from(site);
    for package in ["django", "sqlalchemy", "requests", "rich"] {
        let dir = site.join(package);
        assert!(dir.is_dir(), "{} is missing", dir.display());
        let output = reflens()
            .args(["check", "--output-format", "json", "--exit-zero"])
            .arg(&dir)
            .output()
            .expect("reflens runs");
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(0), "{package}: {err}");
        assert!(!err.contains("panicked"), "{package}: {err}");
        let findings: Vec<Value> = serde_json::from_slice(&output.stdout).expect("valid JSON");
        let problems: Vec<&Value> = findings
            .iter()
            .filter(|d| {
                d["code"].is_null()
                    && !d["filename"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("/templates/")
                    || d["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("internal error")
            })
            .collect();
        assert!(problems.is_empty(), "{package}: {problems:#?}");
        eprintln!("{package}: {} findings", findings.len());
    }
}

/// The example application under `examples/` shows every rule on realistic code: reflens reports
/// exactly the findings `examples/README.md` documents, none missed and none extra (the example's
/// correct code must stay unreported).
#[test]
fn examples_are_reported_as_documented() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let examples = root
        .join("examples")
        .canonicalize()
        .expect("examples/ exists");
    let output = run(
        root,
        &[
            "check",
            examples.to_str().unwrap(),
            "--output-format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let value: Value = serde_json::from_str(&stdout(&output)).expect("valid JSON");
    let mut found: Vec<(String, u64, String)> = value
        .as_array()
        .expect("an array")
        .iter()
        .map(|d| {
            let file = Path::new(d["filename"].as_str().unwrap());
            let file = file
                .strip_prefix(&examples)
                .unwrap_or(file)
                .to_string_lossy()
                .replace('\\', "/");
            let code = d["code"].as_str().unwrap_or("<no code>").to_owned();
            (file, d["location"]["row"].as_u64().unwrap(), code)
        })
        .collect();
    found.sort();
    let mut expected: Vec<(String, u64, String)> = [
        ("shop/app.py", 68, "RL301"),
        ("shop/app.py", 71, "RL301"),
        ("shop/catalogue.py", 46, "RL101"),
        ("shop/db.py", 61, "RL401"),
        ("shop/pricing.py", 6, "RL104"),
        ("shop/reports.py", 19, "RL401"),
        ("shop/reports.py", 31, "RL401"),
        ("shop/reports.py", 50, "RL401"),
        ("shop/sessions.py", 37, "RL103"),
        ("shop/sessions.py", 52, "RL104"),
        ("shop/spool.py", 20, "RL202"),
        ("shop/spool.py", 31, "RL201"),
        ("shop/templates.py", 12, "RL401"),
    ]
    .iter()
    .map(|(file, row, code)| ((*file).to_owned(), *row, (*code).to_owned()))
    .collect();
    expected.sort();
    assert_eq!(
        found,
        expected,
        "the findings in examples/ differ from those documented in examples/README.md:\n{}",
        stdout(&run(
            root,
            &[
                "check",
                examples.to_str().unwrap(),
                "--output-format",
                "concise"
            ]
        ))
    );
}
