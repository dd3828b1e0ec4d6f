//! `reflens check`: find the files, analyse them in parallel, apply fixes, print the findings.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use rayon::prelude::*;
use reflens_analysis::fix::fix_all_in;
use reflens_analysis::{
    Applicability, Diagnostic, FileContext, ModuleFacts, Pending, Settings, WorkspaceFacts,
    analyze_bytes_in, analyze_collecting, analyze_in,
};
use reflens_config::{Overrides, Resolver};

use crate::output;
use crate::positions::IndexedText;
use crate::{CheckArgs, OutputFormat};

/// What checking one file produced.
#[derive(Debug)]
pub struct FileResult {
    /// The path as the user should read it (relative to the working directory when inside it).
    pub display: String,
    pub absolute: PathBuf,
    /// The decoded text, if the file could be decoded.
    pub text: Option<IndexedText>,
    /// The findings left after fixing.
    pub diagnostics: Vec<Diagnostic>,
    /// How many fixes were applied to the file.
    pub fixed: usize,
    /// A problem reading or writing the file (exit status 2).
    pub error: Option<String>,
    /// Something the user should know that is not a failure (fixes skipped).
    pub warning: Option<String>,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    // Analyses want a deep stack; give the workers one instead of mapping one per file. (Before
    // anything uses rayon's pool, which would then be built with the default stack.)
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(reflens_analysis::ANALYSIS_STACK)
        .build_global();
    let overrides = Overrides {
        select: args.select.clone(),
        extend_select: args.extend_select.clone(),
        ignore: args.ignore.clone(),
    };
    let resolver = Arc::new(match &args.config {
        Some(path) => Resolver::with_config_file(overrides, path)?,
        None => Resolver::new(overrides),
    });
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let (files, missing) = discover(&paths, &resolver);

    // Resolve every file's settings first: a broken configuration is an error, not a finding.
    let jobs: Vec<(PathBuf, Settings)> = files
        .into_par_iter()
        .map(|path| {
            let settings = resolver.settings_for_file(&path)?;
            Ok((path, settings))
        })
        .collect::<Result<_, reflens_config::ConfigError>>()?;

    let threshold = if args.unsafe_fixes {
        Applicability::Unsafe
    } else {
        Applicability::Safe
    };
    // The files being checked are the workspace. Without `--fix`, each file is parsed once:
    // the rules run while the facts are collected, and the few findings that depend on other
    // files' facts are decided once every file's facts are known (`Pending`). `--fix` rewrites
    // files, so it wants the workspace first.
    let mut results: Vec<FileResult> = if args.fix {
        let paths: Vec<PathBuf> = jobs.iter().map(|(path, _)| path.clone()).collect();
        let facts = crate::workspace::facts_of_files(&paths);
        let workspace = WorkspaceFacts::from_modules(facts.iter().map(|(_, facts)| facts));
        jobs.par_iter()
            .zip(facts.par_iter())
            .map(|((path, settings), (_, facts))| {
                let context = FileContext {
                    module: &facts.module,
                    is_package: is_package(path),
                    workspace: Some(&workspace),
                };
                fix_file(path, settings, &context, &cwd, threshold)
            })
            .collect()
    } else {
        // Each worker files the facts of the files it analysed as it goes, and the workers'
        // indexes are merged pairwise: no serial merge of every file's facts at the end.
        // (`fold` runs over contiguous runs of files and `reduce` joins them left to right, so
        // passes and facts stay in the files' order, as `WorkspaceFacts::from_modules` keeps it.)
        let names = crate::workspace::ModuleNames::default();
        let (first, workspace) = jobs
            .par_iter()
            .map(|(path, settings)| first_pass(path, settings, &cwd, &names))
            .fold(
                || (Vec::new(), WorkspaceFacts::default()),
                |(mut passes, mut workspace), mut pass: FirstPass| {
                    let module = pass.facts.module.clone();
                    let facts = std::mem::replace(
                        &mut pass.facts,
                        ModuleFacts {
                            module,
                            ..ModuleFacts::default()
                        },
                    );
                    workspace.add_owned(facts);
                    passes.push(pass);
                    (passes, workspace)
                },
            )
            .reduce(
                || (Vec::new(), WorkspaceFacts::default()),
                |(mut passes, mut workspace), (later, later_facts)| {
                    passes.extend(later);
                    workspace.append(later_facts);
                    (passes, workspace)
                },
            );
        first
            .into_par_iter()
            .map(|pass| decide_pending(pass, &workspace))
            .collect()
    };
    results.sort_by(|a, b| a.display.cmp(&b.display));

    let errors: Vec<String> = missing
        .into_iter()
        .chain(
            results
                .iter()
                .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.display))),
        )
        .collect();
    output::print(
        args.output_format,
        &results,
        &output::Summary {
            fix_mode: args.fix,
            unsafe_fixes: args.unsafe_fixes,
            quiet: args.quiet || args.output_format != OutputFormat::Text,
            color: args.color,
        },
    )?;
    for result in &results {
        if let Some(warning) = &result.warning {
            eprintln!("reflens: warning: {}: {warning}", result.display);
        }
    }
    for error in &errors {
        eprintln!("reflens: error: {error}");
    }

    let findings: usize = results.iter().map(|r| r.diagnostics.len()).sum();
    Ok(if !errors.is_empty() {
        ExitCode::from(2)
    } else if findings > 0 && !args.exit_zero {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The Python files under `paths` (directories are walked honouring `.gitignore` and the
/// configured excludes; files named explicitly are always included), and the paths that do
/// not exist.
pub(crate) fn discover(paths: &[PathBuf], resolver: &Arc<Resolver>) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for path in paths {
        if path.is_file() {
            files.push(path.clone());
            continue;
        }
        if !path.is_dir() {
            missing.push(format!("{}: no such file or directory", path.display()));
            continue;
        }
        let filter_resolver = resolver.clone();
        let root = path.clone();
        // In parallel, as ruff does: on a cold tree the walk waits on the file system.
        let walker = ignore::WalkBuilder::new(path)
            .hidden(false)
            .git_ignore(true)
            .git_global(false)
            .git_exclude(true)
            .require_git(false)
            .parents(true)
            .filter_entry(move |entry| {
                if entry.path() == root {
                    return true;
                }
                // The walker knows what the entry is: no extra `stat` per file.
                let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                let dir = if is_dir {
                    entry.path()
                } else {
                    entry.path().parent().unwrap_or(entry.path())
                };
                match filter_resolver.configuration_for_directory(dir) {
                    Ok(configuration) => !configuration.is_excluded(entry.path()),
                    Err(_) => true, // reported when the file's settings are resolved
                }
            })
            .build_parallel();
        let found = std::sync::Mutex::new((Vec::new(), Vec::new()));
        walker.run(|| {
            Box::new(|entry| {
                let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
                match entry {
                    Ok(entry) => {
                        let is_file = entry.file_type().is_some_and(|t| t.is_file());
                        let is_python = entry
                            .path()
                            .extension()
                            .is_some_and(|ext| ext == "py" || ext == "pyi");
                        if is_file && is_python {
                            found.0.push(entry.into_path());
                        }
                    }
                    Err(err) => found.1.push(err.to_string()),
                }
                ignore::WalkState::Continue
            })
        });
        let (walked, mut errors) = found.into_inner().unwrap_or_else(|e| e.into_inner());
        errors.sort();
        files.extend(walked);
        missing.extend(errors);
    }
    files.sort();
    files.dedup();
    (files, missing)
}

fn display_path(path: &Path, cwd: &Path) -> String {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        cwd.join(path)
    };
    let shown = absolute.strip_prefix(cwd).unwrap_or(&absolute);
    let text = shown.display().to_string();
    text.strip_prefix("./").map(str::to_owned).unwrap_or(text)
}

fn is_package(path: &Path) -> bool {
    path.file_stem().is_some_and(|stem| stem == "__init__")
}

/// A file after the first pass: its findings, its facts, and the findings that the other
/// files' facts decide.
struct FirstPass {
    result: FileResult,
    facts: ModuleFacts,
    pending: Vec<Pending>,
    /// The text, while findings may need it.
    text: Option<String>,
}

fn first_pass(
    path: &Path,
    settings: &Settings,
    cwd: &Path,
    names: &crate::workspace::ModuleNames,
) -> FirstPass {
    let (module, package) = names.module_name(path);
    let empty = |module: String| ModuleFacts {
        module,
        ..ModuleFacts::default()
    };
    let mut result = new_result(path, cwd);
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            result.error = Some(format!("cannot read the file: {err}"));
            return FirstPass {
                result,
                facts: empty(module),
                pending: Vec::new(),
                text: None,
            };
        }
    };
    let text = match (bytes.len() <= reflens_analysis::MAX_SOURCE_BYTES)
        .then(|| reflens_analysis::source::decode(&bytes))
    {
        Some(Ok(decoded)) => match decoded.text {
            // UTF-8 without a BOM (most files): the bytes are the text, no copy needed.
            Cow::Borrowed(text) if text.len() == bytes.len() => String::from_utf8(bytes)
                .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()),
            text => text.into_owned(),
        },
        // Too large or undecodable: say so, the way a single analysis does.
        _ => {
            result.diagnostics =
                analyze_bytes_in(&bytes, settings, &FileContext::STANDALONE).diagnostics;
            return FirstPass {
                result,
                facts: empty(module),
                pending: Vec::new(),
                text: None,
            };
        }
    };
    let collected = analyze_collecting(&text, settings, &module, package);
    result.diagnostics = collected.diagnostics;
    let keep = !result.diagnostics.is_empty() || !collected.pending.is_empty();
    FirstPass {
        result,
        facts: collected.facts,
        pending: collected.pending,
        text: keep.then_some(text),
    }
}

/// Adds the pending findings that the whole workspace's facts confirm.
fn decide_pending(pass: FirstPass, workspace: &WorkspaceFacts) -> FileResult {
    let mut result = pass.result;
    if !pass.pending.is_empty() {
        result.diagnostics.extend(
            pass.pending
                .into_iter()
                .filter(|pending| pending.holds_in(workspace))
                .map(|pending| pending.diagnostic),
        );
        reflens_analysis::sort_diagnostics(&mut result.diagnostics);
    }
    if !result.diagnostics.is_empty()
        && let Some(text) = pass.text
    {
        result.text = Some(IndexedText::new(text));
    }
    result
}

fn new_result(path: &Path, cwd: &Path) -> FileResult {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        cwd.join(path)
    };
    FileResult {
        display: display_path(path, cwd),
        absolute: normalize(&absolute),
        text: None,
        diagnostics: Vec::new(),
        fixed: 0,
        error: None,
        warning: None,
    }
}

/// Checks one file with `--fix`: analyses it in its workspace and writes the fixes at or
/// above `threshold` back.
fn fix_file(
    path: &Path,
    settings: &Settings,
    context: &FileContext,
    cwd: &Path,
    threshold: Applicability,
) -> FileResult {
    let mut result = new_result(path, cwd);
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            result.error = Some(format!("cannot read the file: {err}"));
            return result;
        }
    };
    let analysis = analyze_bytes_in(&bytes, settings, context);
    let Some(text) = analysis.text else {
        result.diagnostics = analysis.diagnostics;
        return result;
    };
    let mut text = text;
    let mut diagnostics = analysis.diagnostics;

    let fixable = diagnostics
        .iter()
        .any(|d| d.fix.as_ref().is_some_and(|f| f.applicability >= threshold));
    if fixable {
        match writable_encoding(&bytes) {
            Ok(bom) => {
                let fixed = fix_all_in(&text, settings, threshold, context);
                if let Some(error) = &fixed.error {
                    result.error = Some(error.clone());
                }
                if fixed.count() > 0 {
                    let mut out = Vec::with_capacity(fixed.source.len() + 3);
                    if bom {
                        out.extend_from_slice(b"\xEF\xBB\xBF");
                    }
                    out.extend_from_slice(fixed.source.as_bytes());
                    if let Err(err) = std::fs::write(path, out) {
                        result.error = Some(format!("cannot write the fixes: {err}"));
                    } else {
                        result.fixed = fixed.count();
                        text = fixed.source;
                        diagnostics = analyze_in(&text, settings, context);
                    }
                }
            }
            Err(reason) => result.warning = Some(reason),
        }
    }
    // The text is only needed to print findings; most files have none.
    if !diagnostics.is_empty() {
        result.text = Some(IndexedText::new(text));
    }
    result.diagnostics = diagnostics;
    result
}

/// Fixes are written back as UTF-8; files in another encoding are left alone. Returns whether
/// the file starts with a byte order mark (kept).
fn writable_encoding(bytes: &[u8]) -> Result<bool, String> {
    let bom = bytes.starts_with(b"\xEF\xBB\xBF");
    let body = if bom { &bytes[3..] } else { bytes };
    match reflens_analysis::source::coding_cookie(body) {
        Some(name) if !matches!(name.as_str(), "utf-8" | "utf8") => Err(format!(
            "fixes not applied: the file is encoded as `{name}` and reflens writes fixes only to UTF-8 files"
        )),
        _ => Ok(bom),
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
