//! `reflens`: the command line and the language server, thin adapters around
//! `reflens_analysis` (the rules) and `reflens_config` (the settings).

mod check;
mod live;
mod lsp;
mod output;
mod positions;
mod workspace;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

// Parsing allocates many small nodes; mimalloc is markedly faster at that than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use reflens_analysis::{Rule, RuleSelector};

#[derive(Debug, Parser)]
#[command(
    name = "reflens",
    version,
    about = "Find out why a Python object is never freed",
    long_about = "reflens finds the Python patterns that keep objects (and the memory, files, sockets \
                  and GPU buffers behind them) alive longer than their author thinks, and offers fixes \
                  that rewrite them to weak references or context managers."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check files or directories for leak patterns.
    Check(CheckArgs),
    /// Run the language server over stdin/stdout.
    Server(ServerArgs),
    /// Print the directory to put on PYTHONPATH so that a program can `import reflens_agent`
    /// (to accept live sessions with `reflens_agent.listen()`).
    AgentPath,
    /// Print a rule's documentation (`reflens rule RL101`), or list every rule.
    Rule {
        /// A rule code or name; omit with `--all`.
        rule: Option<String>,
        /// Print the table of every rule.
        #[arg(long, conflicts_with = "rule")]
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Each finding with a code frame, like ruff.
    Text,
    /// A JSON array in the shape of `ruff check --output-format json`.
    Json,
    /// SARIF 2.1.0, for code-scanning services.
    Sarif,
    /// GitHub Actions workflow commands (annotations on pull requests).
    Github,
    /// One line per finding: `path:row:col: CODE message`.
    Concise,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Files or directories to check [default: .]
    pub paths: Vec<PathBuf>,
    /// How to print the findings.
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "REFLENS_OUTPUT_FORMAT"
    )]
    pub output_format: OutputFormat,
    /// Rules to enable, replacing the configuration's `select` (codes, prefixes, names or ALL).
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    pub select: Option<Vec<RuleSelector>>,
    /// Rules to enable on top of the configuration's selection.
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    pub extend_select: Vec<RuleSelector>,
    /// Rules to disable.
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    pub ignore: Vec<RuleSelector>,
    /// Apply the safe fixes to the files.
    #[arg(long)]
    pub fix: bool,
    /// Also apply unsafe fixes (with `--fix`), and count them as fixable.
    #[arg(long)]
    pub unsafe_fixes: bool,
    /// Exit with status 0 even when findings remain.
    #[arg(long)]
    pub exit_zero: bool,
    /// Use this configuration file for every file instead of discovering them.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only the findings, not the summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Colour output: auto (a terminal and no NO_COLOR), always or never.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Accepted for editors that pass it; the server always talks over stdin/stdout.
    #[arg(long)]
    pub stdio: bool,
    /// Write the server's log to this file instead of stderr.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

/// Keeps a check's memory in ordinary pages. mimalloc asks for transparent huge pages; a fault
/// in one makes the kernel find (and, with memory fragmented by other processes, compact) 2 MiB
/// of contiguous memory and zero it all. On the standard library that made a check's time swing
/// by a tenth from run to run and its peak RSS 65 MiB instead of 43. Only for `check`: the flag
/// is inherited by child processes, and the server starts the user's Python for live sessions.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: a plain prctl on the calling process; its result is not needed (an old kernel
    // without the option leaves huge pages on).
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// `mi_option_purge_delay` of mimalloc v2's `mimalloc.h` (the -sys crate names the options
/// around it, 14 and 16, but not this one).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // mimalloc gives freed pages back to the OS 10 ms after they are freed. A check frees a
    // file's syntax tree and parses the next one at once, and an editor sends the next edit
    // later than 10 ms: either way the pages would be faulted in (and zeroed) again. Keep them
    // for a second instead (on the standard library this halves a check's system time).
    // SAFETY: sets a plain integer option before any thread starts.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
    }
    let cli = Cli::parse();
    if matches!(cli.command, Command::Check(_)) {
        disable_transparent_huge_pages();
    }
    match cli.command {
        Command::Check(args) => match check::run(&args) {
            Ok(status) => status,
            Err(err) => {
                let _ = writeln!(std::io::stderr(), "reflens: error: {err:#}");
                ExitCode::from(2)
            }
        },
        Command::Server(args) => lsp::run(&args),
        Command::Rule { rule, all } => print_rule(rule.as_deref(), all),
        Command::AgentPath => match live::assets::stage() {
            Ok(path) => {
                println!("{}", path.display());
                ExitCode::SUCCESS
            }
            Err(err) => {
                let _ = writeln!(std::io::stderr(), "reflens: error: {err}");
                ExitCode::from(2)
            }
        },
    }
}

fn print_rule(rule: Option<&str>, all: bool) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if all || rule.is_none() {
        let _ = writeln!(out, "| code | name | finds | fix |\n|---|---|---|---|");
        for rule in Rule::ALL {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                rule.code(),
                rule.name(),
                rule.summary(),
                rule.fix_availability().describe()
            );
        }
        return ExitCode::SUCCESS;
    }
    let query = rule.unwrap_or_default();
    match Rule::from_code(query).or_else(|| Rule::from_name(query)) {
        Some(rule) => {
            let _ = write!(out, "{}", rule.docs_page());
            ExitCode::SUCCESS
        }
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "reflens: error: no rule `{query}`; `reflens rule --all` lists them"
            );
            ExitCode::from(2)
        }
    }
}
