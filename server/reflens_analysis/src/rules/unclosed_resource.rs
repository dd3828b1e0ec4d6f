use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, packed};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::deep;
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// A resource bound to a local variable in a function and not released on every path
    /// through the function: files (`open`, `io.open`, `Path.open`, `gzip.open`, …), sockets,
    /// `sqlite3.connect` and other DB-API connections, `subprocess.Popen`, `tempfile` files and
    /// directories, `zipfile.ZipFile`, `tarfile.open`, `urllib.request.urlopen`,
    /// `http.client` connections, `cv2.VideoCapture`/`VideoWriter`, `concurrent.futures`
    /// executors, `multiprocessing` pools, `requests.Session`, `httpx.Client`, selectors and
    /// memory maps.
    ///
    /// It follows the function's control flow (branches, loops, `break`/`continue`, `return`,
    /// explicit `raise`, `try`/`except`/`else`/`finally`, `with`) the way a careful reviewer
    /// reads it. These are not leaks and are not reported:
    /// - closed (`close()`, `release()`, `shutdown()`, `terminate()`, `cleanup()`, or `wait()` /
    ///   `communicate()` for a process) on every path, including in a `finally`;
    /// - closed by a later `with name:` or `with contextlib.closing(name):`;
    /// - returned or yielded (the caller owns it), stored on `self`, another object, a container
    ///   or a global, captured by a nested function, or passed to a call that may take
    ///   ownership (any call not known to only borrow its argument; functions and methods of
    ///   the same module are looked into to see whether they close or keep it);
    /// - released with `del name` or `name = None`;
    /// - released under a condition with no `else` (`if f is not None: f.close()`,
    ///   `if close_source: source.close()`): a guarded close is taken as deliberate;
    /// - a bound release method handed to someone who will call it (`self.addCleanup(f.close)`,
    ///   `atexit.register(sock.close)`).
    ///
    /// Nor are these resources: an archive over a file object it does not own
    /// (`tarfile.open(fileobj=buffer)`, `zipfile.ZipFile(io.BytesIO(data))`); a process started
    /// in a new session
    /// (`start_new_session=True`, `process_group=...`), which is meant to outlive the function;
    /// a file opened with `closefd=False`, which does not own its descriptor; an `http.client`
    /// connection that the function never connects, or whose socket it supplies itself
    /// (`conn.sock = ...`).
    ///
    /// A path that ends by an exception raised inside a call is not counted (every call could
    /// raise); an explicit `raise` is. Code at module level is not checked: a script's globals
    /// live until it exits.
    ///
    /// `with sqlite3.connect(...) as conn:` is reported too: a sqlite3 connection's `with`
    /// commits or rolls back the transaction but does not close the connection (the same holds
    /// for `psycopg2` and `pyodbc` connections).
    ///
    /// ## Why it keeps memory alive
    /// An unreleased resource holds an operating-system handle (a file descriptor, a socket, a
    /// child process, a database connection with its caches) and the buffers behind it until the
    /// object is garbage-collected, which for objects caught in a reference cycle, kept by a
    /// traceback or running on another Python implementation can be much later, or never.
    /// Processes that open resources in a loop run out of file descriptors; unreaped children
    /// stay zombies; executors and pools keep their worker threads and processes.
    ///
    /// ## Example
    /// ```python
    /// def read_config(path):
    ///     f = open(path)
    ///     text = f.read()
    ///     if not text:
    ///         return None
    ///     f.close()
    ///     return parse(text)
    /// ```
    ///
    /// ## Fix
    /// Use a `with` block, which releases the resource on every path, including exceptions:
    /// ```python
    /// def read_config(path):
    ///     with open(path) as f:
    ///         text = f.read()
    ///         if not text:
    ///             return None
    ///     return parse(text)
    /// ```
    /// The quick fix moves the statements that use the resource (and what is derived from it,
    /// such as a `csv.reader` over a file) into the `with` block. For objects that release with
    /// `release()` and have no context manager (`cv2.VideoCapture`), it wraps the uses in
    /// `try`/`finally: name.release()`. For sqlite3, psycopg2 and pyodbc connections it uses
    /// `with contextlib.closing(connect(...)) as conn:` (and keeps `conn`'s own `with` so the
    /// transaction is still committed).
    ///
    /// ## Fix safety
    /// Offered when every use of the resource is in the same block as its binding. Safe for
    /// files, sockets, archives, temporary files, URL responses, sessions and connections: the
    /// only change is that the resource is released as soon as the block ends, and on
    /// exceptions. Unsafe for processes, executors and pools: leaving their `with` block waits
    /// for the process or the submitted work (a pool's `with` even terminates its workers),
    /// which the original code did not do.
    pub struct UnclosedResource {
        code: "RL401",
        name: "unclosed-resource",
        summary: "a resource bound to a local is not closed on every path through the function",
        fix: Sometimes,
    }
}

// ---- the resources ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cleanup {
    /// `with call as name:`
    With,
    /// `with contextlib.closing(call) as name:` (its own `with` does not close it).
    WithClosing,
    /// `async with call as name:`
    AsyncWith,
    /// `try: … finally: name.<method>()`
    TryFinally(&'static str),
}

#[derive(Debug)]
struct Kind {
    /// What it is, for messages: "file", "socket", …
    what: &'static str,
    /// Methods that release it.
    releases: &'static [&'static str],
    /// Whether `with name:` releases it.
    with_releases: bool,
    cleanup: Cleanup,
    /// Whether moving the uses into the fix's block keeps behaviour.
    safe_fix: bool,
    /// Methods that acquire the OS resource, for objects that acquire it lazily (an
    /// `HTTPConnection` connects on its first request); empty if the constructor acquires it.
    acquired_by: &'static [&'static str],
}

const FILE: Kind = Kind {
    what: "file",
    releases: &["close"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: true,
    acquired_by: &[],
};
const SOCKET: Kind = Kind {
    what: "socket",
    releases: &["close", "detach"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: true,
    acquired_by: &[],
};
const CONNECTION: Kind = Kind {
    what: "database connection",
    releases: &["close"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: true,
    acquired_by: &[],
};
/// sqlite3, psycopg2, pyodbc: `with conn:` is a transaction, not a close.
const TRANSACTIONAL_CONNECTION: Kind = Kind {
    what: "database connection",
    releases: &["close"],
    with_releases: false,
    cleanup: Cleanup::WithClosing,
    safe_fix: true,
    acquired_by: &[],
};
const PROCESS: Kind = Kind {
    what: "subprocess",
    releases: &["wait", "communicate", "kill", "terminate", "__exit__"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: false,
    acquired_by: &[],
};
const TEMPFILE: Kind = Kind {
    what: "temporary file",
    releases: &["close"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: true,
    acquired_by: &[],
};
const TEMPDIR: Kind = Kind {
    what: "temporary directory",
    releases: &["cleanup"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: true,
    acquired_by: &[],
};
const ARCHIVE: Kind = Kind {
    what: "archive",
    releases: &["close"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: true,
    acquired_by: &[],
};
const RESPONSE: Kind = Kind {
    what: "URL response",
    releases: &["close"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: true,
    acquired_by: &[],
};
const HTTP_CONNECTION: Kind = Kind {
    what: "HTTP connection",
    releases: &["close"],
    with_releases: false,
    cleanup: Cleanup::TryFinally("close"),
    safe_fix: true,
    acquired_by: &["connect", "request", "endheaders", "send"],
};
const VIDEO: Kind = Kind {
    what: "video capture",
    releases: &["release"],
    with_releases: false,
    cleanup: Cleanup::TryFinally("release"),
    safe_fix: true,
    acquired_by: &[],
};
const EXECUTOR: Kind = Kind {
    what: "executor",
    releases: &["shutdown"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: false,
    acquired_by: &[],
};
const POOL: Kind = Kind {
    what: "process pool",
    releases: &["close", "terminate"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: false,
    acquired_by: &[],
};
const SESSION: Kind = Kind {
    what: "HTTP session",
    releases: &["close"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: true,
    acquired_by: &[],
};
const ASYNC_SESSION: Kind = Kind {
    what: "HTTP session",
    releases: &["close", "aclose"],
    with_releases: true,
    cleanup: Cleanup::AsyncWith,
    safe_fix: true,
    acquired_by: &[],
};
const SELECTOR: Kind = Kind {
    what: "selector",
    releases: &["close"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: true,
    acquired_by: &[],
};
const MMAP: Kind = Kind {
    what: "memory map",
    releases: &["close"],
    with_releases: true,
    cleanup: Cleanup::With,
    safe_fix: true,
    acquired_by: &[],
};

/// Calls that create a resource, by qualified name.
const CONSTRUCTORS: &[(&str, &Kind)] = &[
    ("builtins.open", &FILE),
    ("io.open", &FILE),
    ("io.FileIO", &FILE),
    ("codecs.open", &FILE),
    ("gzip.open", &FILE),
    ("gzip.GzipFile", &FILE),
    ("bz2.open", &FILE),
    ("bz2.BZ2File", &FILE),
    ("lzma.open", &FILE),
    ("lzma.LZMAFile", &FILE),
    ("os.fdopen", &FILE),
    ("tokenize.open", &FILE),
    ("shelve.open", &FILE),
    ("dbm.open", &FILE),
    ("wave.open", &FILE),
    ("socket.socket", &SOCKET),
    ("socket.create_connection", &SOCKET),
    ("socket.create_server", &SOCKET),
    ("socket.fromfd", &SOCKET),
    ("sqlite3.connect", &TRANSACTIONAL_CONNECTION),
    ("sqlite3.dbapi2.connect", &TRANSACTIONAL_CONNECTION),
    ("psycopg2.connect", &TRANSACTIONAL_CONNECTION),
    ("pyodbc.connect", &TRANSACTIONAL_CONNECTION),
    ("psycopg.connect", &CONNECTION),
    ("pymysql.connect", &CONNECTION),
    ("MySQLdb.connect", &CONNECTION),
    ("mysql.connector.connect", &CONNECTION),
    ("cx_Oracle.connect", &CONNECTION),
    ("oracledb.connect", &CONNECTION),
    ("duckdb.connect", &CONNECTION),
    ("subprocess.Popen", &PROCESS),
    ("tempfile.TemporaryFile", &TEMPFILE),
    ("tempfile.NamedTemporaryFile", &TEMPFILE),
    ("tempfile.SpooledTemporaryFile", &TEMPFILE),
    ("tempfile.TemporaryDirectory", &TEMPDIR),
    ("zipfile.ZipFile", &ARCHIVE),
    ("tarfile.open", &ARCHIVE),
    ("tarfile.TarFile", &ARCHIVE),
    ("tarfile.TarFile.open", &ARCHIVE),
    ("urllib.request.urlopen", &RESPONSE),
    ("http.client.HTTPConnection", &HTTP_CONNECTION),
    ("http.client.HTTPSConnection", &HTTP_CONNECTION),
    ("cv2.VideoCapture", &VIDEO),
    ("cv2.VideoWriter", &VIDEO),
    ("concurrent.futures.ThreadPoolExecutor", &EXECUTOR),
    ("concurrent.futures.ProcessPoolExecutor", &EXECUTOR),
    ("concurrent.futures.thread.ThreadPoolExecutor", &EXECUTOR),
    ("concurrent.futures.process.ProcessPoolExecutor", &EXECUTOR),
    ("multiprocessing.Pool", &POOL),
    ("multiprocessing.pool.Pool", &POOL),
    ("multiprocessing.pool.ThreadPool", &POOL),
    ("requests.Session", &SESSION),
    ("requests.session", &SESSION),
    ("requests.sessions.Session", &SESSION),
    ("httpx.Client", &SESSION),
    ("httpx.AsyncClient", &ASYNC_SESSION),
    ("aiohttp.ClientSession", &ASYNC_SESSION),
    // `SelectSelector` and `PollSelector` hold no file descriptor of their own.
    ("selectors.DefaultSelector", &SELECTOR),
    ("selectors.EpollSelector", &SELECTOR),
    ("selectors.DevpollSelector", &SELECTOR),
    ("selectors.KqueueSelector", &SELECTOR),
    ("mmap.mmap", &MMAP),
];

/// Words one of which a file needs for RL401 and RL402 to run on it: every entry of
/// [`CONSTRUCTORS`] has one of them in one of its segments, and `Path.open` has `open`. A
/// qualified name is resolved through the file's imports and attribute chains, so each of its
/// segments is spelled in the file (`import socket as s; s.socket()` still spells `socket`),
/// except the `builtins` of a builtin, whose own name (`open`) is spelled instead. Module names
/// are used where they are rarer than the callee's (`tempfile` for its four constructors).
pub(crate) const RESOURCE_WORDS: &[&str] = &[
    "open",
    "FileIO",
    "gzip",
    "bz2",
    "lzma",
    "tempfile",
    "zipfile",
    "tarfile",
    "socket",
    "connect",
    "Popen",
    "HTTPConnection",
    "HTTPSConnection",
    "Video",
    "Executor",
    "multiprocessing",
    "requests",
    "httpx",
    "aiohttp",
    "Selector",
    "mmap",
];

/// Calls that use an argument without keeping it: passing a resource to them is not a
/// hand-over of ownership.
const BORROWS: &[&str] = &[
    "builtins.len",
    "builtins.isinstance",
    "builtins.hasattr",
    "builtins.getattr",
    "builtins.id",
    "builtins.repr",
    "builtins.str",
    "builtins.print",
    "builtins.callable",
    "builtins.type",
    "builtins.next",
    "builtins.list",
    "builtins.tuple",
    "builtins.sorted",
    "builtins.sum",
    "builtins.any",
    "builtins.all",
    "builtins.min",
    "builtins.max",
    "json.load",
    "json.dump",
    "pickle.load",
    "pickle.dump",
    "marshal.load",
    "marshal.dump",
    "tomllib.load",
    "plistlib.load",
    "plistlib.dump",
    "yaml.load",
    "yaml.safe_load",
    "yaml.full_load",
    "yaml.unsafe_load",
    "yaml.dump",
    "yaml.safe_dump",
    "shutil.copyfileobj",
    "os.fstat",
    "os.fsync",
    "os.set_inheritable",
    "os.set_blocking",
    "select.select",
    "fcntl.fcntl",
    "fcntl.flock",
    "fcntl.lockf",
    "fcntl.ioctl",
    "hashlib.file_digest",
];

/// Calls whose result refers to the resource: the result stands for it (closing or returning
/// the result counts as closing or returning the resource).
const HOLDERS: &[&str] = &[
    "builtins.iter",
    "builtins.enumerate",
    "builtins.zip",
    "builtins.map",
    "builtins.filter",
    "builtins.reversed",
    "csv.reader",
    "csv.writer",
    "csv.DictReader",
    "csv.DictWriter",
    "io.TextIOWrapper",
    "io.BufferedReader",
    "io.BufferedWriter",
    "io.BufferedRandom",
    "io.BufferedRWPair",
    "contextlib.closing",
    "itertools.islice",
    "itertools.chain",
];

/// Methods of a resource whose result refers to it (`sock.makefile()`).
const HOLDER_METHODS: &[&str] = &["makefile", "__enter__", "__iter__"];

// ---- entry point ------------------------------------------------------------------------

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(RESOURCE_WORDS);

pub(crate) fn check(checker: &mut Checker) {
    let functions = functions_with_resources(checker);
    let mut diagnostics = Vec::new();
    for function in functions {
        let mut flow = Flow::new(checker, function);
        flow.run();
        diagnostics.extend(flow.into_diagnostics());
    }
    for diagnostic in diagnostics {
        checker.report(diagnostic);
    }
}

/// A function to analyse and the class it is a method of.
#[derive(Clone, Copy)]
struct Function<'a> {
    def: &'a ast::StmtFunctionDef,
    class: Option<&'a ast::StmtClassDef>,
}

/// The functions whose own body (not nested functions) calls a resource constructor.
fn functions_with_resources<'a>(checker: &Checker<'a>) -> Vec<Function<'a>> {
    struct Finder<'c, 'a> {
        checker: &'c Checker<'a>,
        stack: Vec<(Function<'a>, bool)>,
        class: Option<&'a ast::StmtClassDef>,
        found: Vec<Function<'a>>,
        /// Whether a function body that spells no word of [`CONSTRUCTOR_WORDS`] may be
        /// skipped: not when an import binds a constructor under another name.
        skip_silent: bool,
        /// Whether an import seen may bind a constructor under another name
        /// (`from subprocess import Popen as P`), whose calls spell no word.
        alias_seen: bool,
        /// Callee names already resolved: whether the name stands for a constructor.
        names: FxHashMap<&'a str, bool>,
        /// Where the file spells a word of [`CONSTRUCTOR_WORDS`] (see [`ConstructorWords`]).
        words: ConstructorWords,
        /// While bodies are skipped (no import binds a constructor under another name) and
        /// the file is ASCII (an identifier is spelled as it reads, not NFKC-normalised):
        /// an expression that spells no word holds no call that may create a resource.
        prune: bool,
    }
    impl<'a> Finder<'_, 'a> {
        /// Whether `call` may create a resource, with the cheap tests first: a callee that is
        /// an attribute must be named like a constructor's last segment (a qualified name
        /// ends with the attribute it is read from), and a bare name must resolve to a
        /// constructor (resolved once per name: imports are the file's).
        fn may_create(&mut self, call: &'a ast::ExprCall) -> bool {
            match &*call.func {
                // `p.open()` is decided later, once the flow knows whether `p` is a Path.
                Expr::Attribute(attr) if attr.attr.as_str() == "open" => true,
                Expr::Attribute(attr) => {
                    constructor_last_segments().contains(attr.attr.as_str())
                        && is_resource_call(self.checker, call, None).is_some()
                }
                Expr::Name(name) => {
                    let checker = self.checker;
                    let constructor = *self.names.entry(name.id.as_str()).or_insert_with(|| {
                        checker
                            .semantic
                            .qualified_name(&call.func)
                            .is_some_and(|qualified| {
                                CONSTRUCTORS.iter().any(|(name, _)| *name == qualified)
                            })
                    });
                    constructor && is_resource_call(self.checker, call, None).is_some()
                }
                _ => false,
            }
        }
    }
    impl<'a> Visitor<'a> for Finder<'_, 'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(def) => {
                    for decorator in &def.decorator_list {
                        self.visit_decorator(decorator);
                    }
                    visitor::walk_parameters(self, &def.parameters);
                    // A body (nested functions included) whose text spells no constructor
                    // calls none.
                    // A docstring calls nothing: it is not searched.
                    if self.skip_silent {
                        let body = crate::helpers::body_without_docstring(&def.body);
                        let (Some(first), Some(last)) = (body.first(), body.last()) else {
                            return;
                        };
                        let body = TextRange::new(first.start(), last.end());
                        self.words.scan(self.checker.source, body);
                        if !self.words.spelled_in(body) {
                            return;
                        }
                    }
                    // Inside the function body, we are no longer directly in the class.
                    let outer_class = self.class.take();
                    self.stack.push((
                        Function {
                            def,
                            class: outer_class,
                        },
                        false,
                    ));
                    for stmt in &def.body {
                        self.visit_stmt(stmt);
                    }
                    let (function, has) = self.stack.pop().expect("pushed above");
                    if has {
                        self.found.push(function);
                    }
                    self.class = outer_class;
                }
                Stmt::ClassDef(class) => {
                    let outer = self.class.replace(class);
                    deep(|| visitor::walk_stmt(self, stmt));
                    self.class = outer;
                }
                Stmt::Import(ast::StmtImport { names, .. })
                | Stmt::ImportFrom(ast::StmtImportFrom { names, .. }) => {
                    self.alias_seen |= names.iter().any(|alias| {
                        alias.asname.is_some()
                            && constructor_last_segments().contains(
                                alias.name.as_str().rsplit('.').next().unwrap_or_default(),
                            )
                    });
                }
                _ => deep(|| visitor::walk_stmt(self, stmt)),
            }
        }

        fn visit_expr(&mut self, expr: &'a Expr) {
            // Outside functions (module and class level), and once the function is known to
            // have one, calls decide nothing; expressions hold no functions to find.
            if self.stack.last().is_none_or(|(_, has)| *has) {
                return;
            }
            if self.prune && self.skip_silent && !self.words.spelled_in(expr.range()) {
                return;
            }
            if let Expr::Call(call) = expr
                && self.may_create(call)
                && let Some((_, has)) = self.stack.last_mut()
            {
                *has = true;
                return;
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut finder = Finder {
        checker,
        stack: Vec::new(),
        class: None,
        found: Vec::new(),
        skip_silent: true,
        alias_seen: false,
        names: FxHashMap::default(),
        words: ConstructorWords::default(),
        prune: checker.source.is_ascii(),
    };
    finder.visit_body(checker.suite);
    // A skipped body spells no last segment of a constructor, so it holds no import of one:
    // every such import is seen. If one binds an alias, look again without skipping.
    if finder.alias_seen {
        finder.found.clear();
        finder.skip_silent = false;
        finder.visit_body(checker.suite);
    }
    finder.found
}

/// The last segments of the names in [`CONSTRUCTORS`], and `open` (`Path.open`).
pub(crate) fn constructor_last_segments() -> &'static FxHashSet<&'static str> {
    static SEGMENTS: LazyLock<FxHashSet<&'static str>> = LazyLock::new(|| {
        CONSTRUCTORS
            .iter()
            .map(|(name, _)| name.rsplit('.').next().unwrap_or(name))
            .chain(["open"])
            .collect()
    });
    &SEGMENTS
}

/// Words one of which each of [`constructor_last_segments`] contains (tested below): a call
/// that may create a resource spells one in its callee, the attribute it reads or the name it
/// calls (`open`, or a name imported without `as`). Few words keep the search fast.
const CONSTRUCTOR_WORDS: &[&str] = &[
    "open",
    "File",
    "socket",
    "connect",
    "create_server",
    "fromfd",
    "Popen",
    "TemporaryDirectory",
    "HTTPConnection",
    "HTTPSConnection",
    "Video",
    "Executor",
    "Pool",
    "ession",
    "Client",
    "Selector",
    "mmap",
];

/// Whether `text` contains one of [`CONSTRUCTOR_WORDS`] (a packed SIMD search, or an automaton
/// where that is unavailable).
pub(crate) fn spells_constructor(text: &str) -> bool {
    match &*CONSTRUCTOR_PACKED {
        Some(searcher) => searcher.find(text).is_some(),
        None => CONSTRUCTOR_AUTOMATON.is_match(text),
    }
}

static CONSTRUCTOR_PACKED: LazyLock<Option<packed::Searcher>> = LazyLock::new(|| {
    packed::Config::new()
        .match_kind(packed::MatchKind::LeftmostLongest)
        .builder()
        .extend(CONSTRUCTOR_WORDS)
        .build()
});

static CONSTRUCTOR_AUTOMATON: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .build(CONSTRUCTOR_WORDS)
        .expect("the constructors' words build an automaton")
});

/// Where a file's function bodies spell the words of [`CONSTRUCTOR_WORDS`]: each outermost
/// body is searched once (a packed SIMD search, or an automaton where that is unavailable),
/// so that whether a function body or an expression in one spells a word is a binary search.
/// Text outside functions is not searched: no call there is looked at.
#[derive(Default)]
struct ConstructorWords {
    /// The start and end of the word at each offset where one starts, in order (no word is a
    /// prefix of another, so one word at most starts at an offset).
    found: Vec<(TextSize, TextSize)>,
    /// The text searched last.
    scanned: TextRange,
}

impl ConstructorWords {
    /// Searches `range` unless it was searched already.
    fn scan(&mut self, source: &str, range: TextRange) {
        if self.scanned.contains_range(range) {
            return;
        }
        // Bodies are met in order, nested ones inside the last one searched; otherwise (not
        // expected) the range is searched again and the words kept in order, once each.
        let in_order = range.start() >= self.scanned.end();
        let mut at = range.start().to_usize();
        let end = range.end().to_usize();
        // Each search starts one byte after the previous match's start: every offset where
        // a word starts is found.
        while at < end {
            let span = aho_corasick::Span::from(at..end);
            let next = match &*CONSTRUCTOR_PACKED {
                Some(searcher) => searcher.find_in(source, span).map(|m| (m.start(), m.end())),
                None => CONSTRUCTOR_AUTOMATON
                    .find(aho_corasick::Input::new(source).span(span))
                    .map(|m| (m.start(), m.end())),
            };
            let Some((start, stop)) = next else {
                break;
            };
            self.found
                .push((TextSize::new(start as u32), TextSize::new(stop as u32)));
            at = start + 1;
        }
        if !in_order {
            self.found.sort_unstable();
            self.found.dedup();
        }
        self.scanned = range;
    }

    /// Whether the text of `range` contains one of the words.
    fn spelled_in(&self, range: TextRange) -> bool {
        let first = self
            .found
            .partition_point(|(start, _)| *start < range.start());
        self.found[first..]
            .iter()
            .take_while(|(start, _)| *start < range.end())
            .any(|(_, end)| *end <= range.end())
    }
}

/// The kind of resource a call creates, if it creates one.
fn is_resource_call(
    checker: &Checker,
    call: &ast::ExprCall,
    path_names: Option<&FxHashSet<&str>>,
) -> Option<&'static Kind> {
    // `open(fd, closefd=False)` wraps a descriptor someone else owns.
    if call
        .arguments
        .find_keyword("closefd")
        .is_some_and(|keyword| matches!(&keyword.value, Expr::BooleanLiteral(b) if !b.value))
    {
        return None;
    }
    if let Some(qualified) = checker.semantic.qualified_name(&call.func)
        && let Some((_, kind)) = CONSTRUCTORS.iter().find(|(name, _)| *name == qualified)
    {
        if std::ptr::eq(*kind, &PROCESS) && is_detached(call) {
            return None;
        }
        // `tarfile.open(fileobj=buffer)`, `ZipFile(io.BytesIO(...))`: an archive over a file
        // object it does not own holds no descriptor of its own.
        if std::ptr::eq(*kind, &ARCHIVE) && wraps_file_object(checker, call) {
            return None;
        }
        return Some(kind);
    }
    // `Path(...).open()`, `path.open()` for a local known to hold a Path.
    if let Expr::Attribute(attr) = &*call.func
        && attr.attr.as_str() == "open"
        && is_path_expr(checker, &attr.value, path_names)
    {
        return Some(&FILE);
    }
    None
}

/// For other rules (RL402): what a call creates, if it creates a resource this rule knows:
/// the resource's description ("file", "executor", ...), the methods that release it, and
/// whether `with resource:` releases it (not for sqlite3 connections).
pub(crate) fn resource_created_by(
    checker: &Checker,
    call: &ast::ExprCall,
) -> Option<(&'static str, &'static [&'static str], bool)> {
    is_resource_call(checker, call, None).map(|kind| (kind.what, kind.releases, kind.with_releases))
}

fn wraps_file_object(checker: &Checker, call: &ast::ExprCall) -> bool {
    if call.arguments.find_keyword("fileobj").is_some() {
        return true;
    }
    call.arguments.args.first().is_some_and(|first| {
        matches!(first, Expr::Call(inner) if checker.semantic.resolves_to(&inner.func, &["io.BytesIO", "io.StringIO"]))
    })
}

/// `Popen(..., start_new_session=True)` (or a new process group): a deliberately detached
/// background process, which the caller is not meant to wait for.
fn is_detached(call: &ast::ExprCall) -> bool {
    call.arguments.keywords.iter().any(|keyword| {
        match keyword.arg.as_ref().map(|arg| arg.as_str()) {
            Some("start_new_session") => matches!(&keyword.value, Expr::BooleanLiteral(b) if b.value),
            Some("process_group") => true,
            Some("preexec_fn") => matches!(&keyword.value, Expr::Attribute(attr) if matches!(attr.attr.as_str(), "setsid" | "setpgrp")),
            _ => false,
        }
    })
}

const PATH_TYPES: &[&str] = &[
    "pathlib.Path",
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "pathlib.PurePath",
];

fn is_path_expr(checker: &Checker, expr: &Expr, path_names: Option<&FxHashSet<&str>>) -> bool {
    match expr {
        Expr::Call(call) => {
            checker.semantic.resolves_to(&call.func, PATH_TYPES)
                || matches!(&*call.func, Expr::Attribute(attr)
                    if matches!(attr.attr.as_str(), "home" | "cwd" | "with_suffix" | "with_name" | "with_stem" | "joinpath" | "resolve" | "absolute" | "expanduser")
                        && is_path_expr(checker, &attr.value, path_names))
        }
        Expr::BinOp(binop) if binop.op == ast::Operator::Div => {
            is_path_expr(checker, &binop.left, path_names)
        }
        Expr::Attribute(attr) if attr.attr.as_str() == "parent" => {
            is_path_expr(checker, &attr.value, path_names)
        }
        Expr::Name(name) => path_names.is_some_and(|names| names.contains(name.id.as_str())),
        _ => false,
    }
}

// ---- the flow analysis ------------------------------------------------------------------

const OPEN: u8 = 1;
const CLOSED: u8 = 2;
const ESCAPED: u8 = 4;
/// Open on every path that reaches this point (with OPEN).
const SURELY: u8 = 8;

/// At most this many resources are tracked per function (a bit set).
const MAX_RESOURCES: usize = 64;

type Mask = u64;

/// What may be true at one point of the function, over all paths that reach it.
#[derive(Clone, Debug)]
struct State<'a> {
    /// Per resource: OPEN | CLOSED | ESCAPED, or 0 if not created on any path yet.
    flags: [u8; MAX_RESOURCES],
    /// Local names and the resources they may refer to.
    names: FxHashMap<&'a str, Mask>,
    reachable: bool,
}

impl<'a> State<'a> {
    fn entry() -> Self {
        Self {
            flags: [0; MAX_RESOURCES],
            names: FxHashMap::default(),
            reachable: true,
        }
    }

    fn unreachable() -> Self {
        Self {
            reachable: false,
            ..Self::entry()
        }
    }

    fn join(&mut self, other: &State<'a>) {
        if !other.reachable {
            return;
        }
        if !self.reachable {
            *self = other.clone();
            return;
        }
        for (mine, theirs) in self.flags.iter_mut().zip(other.flags.iter()) {
            let surely = *mine & *theirs & SURELY;
            *mine = ((*mine | *theirs) & !SURELY) | surely;
        }
        for (name, mask) in &other.names {
            *self.names.entry(name).or_default() |= mask;
        }
    }

    fn may_be_open(&self, id: usize) -> bool {
        self.flags[id] & OPEN != 0
    }

    /// Resources referred to by some name other than `except`.
    fn aliased(&self, except: &str) -> Mask {
        self.names
            .iter()
            .filter(|(name, _)| **name != except)
            .fold(0, |acc, (_, mask)| acc | mask)
    }
}

fn ids(mask: Mask) -> impl Iterator<Item = usize> {
    (0..MAX_RESOURCES).filter(move |id| mask & (1 << id) != 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Return,
    Raise,
    Break,
    Continue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeakKind {
    Return,
    Raise,
    End,
    /// The name was rebound while the resource was still open.
    Rebound,
    /// Opened again in the next loop iteration while the previous one was still open.
    Reopened,
}

#[derive(Debug, Clone, Copy)]
struct Leak {
    kind: LeakKind,
    at: TextSize,
}

#[derive(Clone, Copy)]
enum Binding<'a> {
    /// `name = call(...)` as statement `index` of `suite`.
    Assign { suite: &'a [Stmt], index: usize },
    /// `with call(...) as name:` for a resource whose `with` does not release it.
    WithItem {
        with: &'a ast::StmtWith,
        item: &'a ast::WithItem,
    },
}

struct Resource<'a> {
    kind: &'static Kind,
    name: &'a str,
    call: &'a ast::ExprCall,
    binding: Binding<'a>,
    leaks: Vec<Leak>,
    released_somewhere: bool,
    /// Whether some path hands it over (returns, stores, passes it on).
    escaped_somewhere: bool,
    /// How many release events the walk has seen (to tell which branch released it).
    releases: u32,
}

enum Frame<'a> {
    Loop {
        breaks: Vec<State<'a>>,
        continues: Vec<State<'a>>,
    },
    Finally(&'a [Stmt]),
    /// A `with` block that releases these resources when it is left.
    Releases(Mask),
    /// The body of a `try` with `except` handlers: explicit raises land here.
    Handlers(Vec<State<'a>>),
}

struct Flow<'c, 'a> {
    checker: &'c Checker<'a>,
    function: Function<'a>,
    resources: Vec<Resource<'a>>,
    /// Resource id by the start of its constructor call.
    by_site: FxHashMap<TextSize, usize>,
    frames: Vec<Frame<'a>>,
    /// Inside a `finally` replayed for an early exit: effects count, leaks are not recorded.
    detached: u32,
    loop_depth: usize,
    /// Names declared `global` or `nonlocal`: assigning them stores outside the function.
    outer_names: FxHashSet<&'a str>,
    /// Locals bound to `pathlib.Path` objects (for `p.open()`).
    path_names: FxHashSet<&'a str>,
    /// Ownership summaries of same-module callees: (def start, parameter) → takes ownership.
    summaries: FxHashMap<(TextSize, String), bool>,
    /// Parameters and other names bound in the function: they shadow builtins and imports.
    local_names: FxHashSet<&'a str>,
}

impl<'c, 'a> Flow<'c, 'a> {
    fn new(checker: &'c Checker<'a>, function: Function<'a>) -> Self {
        let mut outer_names = FxHashSet::default();
        let mut path_names = FxHashSet::default();
        for parameter in function.def.parameters.iter_non_variadic_params() {
            if let Some(annotation) = &parameter.parameter.annotation
                && checker.semantic.resolves_to(annotation, PATH_TYPES)
            {
                path_names.insert(parameter.parameter.name.as_str());
            }
        }
        collect_scope_facts(
            checker,
            &function.def.body,
            &mut outer_names,
            &mut path_names,
        );
        Self {
            checker,
            function,
            resources: Vec::new(),
            by_site: FxHashMap::default(),
            frames: Vec::new(),
            detached: 0,
            loop_depth: 0,
            outer_names,
            path_names,
            summaries: FxHashMap::default(),
            local_names: local_bindings(function.def),
        }
    }

    /// The kind of resource `call` creates, unless its callee is shadowed by a local name.
    fn resource_kind(&self, call: &ast::ExprCall) -> Option<&'static Kind> {
        let mut root = &*call.func;
        while let Expr::Attribute(attr) = root {
            root = &attr.value;
        }
        if let Expr::Name(name) = root
            && self.local_names.contains(name.id.as_str())
            && !self.path_names.contains(name.id.as_str())
        {
            return None;
        }
        is_resource_call(self.checker, call, Some(&self.path_names))
    }

    fn run(&mut self) {
        let mut state = State::entry();
        let body = &self.function.def.body;
        self.walk_body(body, &mut state);
        if state.reachable {
            let at = self.function.def.end();
            self.record_exit(LeakKind::End, at, &state);
        }
    }

    // ---- statements ----

    fn walk_body(&mut self, body: &'a [Stmt], state: &mut State<'a>) {
        for (index, stmt) in body.iter().enumerate() {
            if !state.reachable {
                break;
            }
            deep(|| self.walk_stmt(body, index, stmt, state));
        }
    }

    fn walk_stmt(
        &mut self,
        suite: &'a [Stmt],
        index: usize,
        stmt: &'a Stmt,
        state: &mut State<'a>,
    ) {
        match stmt {
            Stmt::Assign(assign) => {
                let single = match assign.targets.as_slice() {
                    [Expr::Name(name)] => Some(name.id.as_str()),
                    _ => None,
                };
                self.assign(
                    single,
                    &assign.targets,
                    &assign.value,
                    Some((suite, index)),
                    state,
                );
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    let single = match &*assign.target {
                        Expr::Name(name) => Some(name.id.as_str()),
                        _ => None,
                    };
                    self.assign(
                        single,
                        std::slice::from_ref(&*assign.target),
                        value,
                        Some((suite, index)),
                        state,
                    );
                }
            }
            Stmt::AugAssign(assign) => {
                self.scan(&assign.value, state);
                self.escape_held(&assign.value, state);
                self.scan(&assign.target, state);
            }
            Stmt::Expr(expr) => self.scan(&expr.value, state),
            Stmt::Return(ret) => {
                if let Some(value) = &ret.value {
                    self.scan(value, state);
                    self.escape_held(value, state);
                }
                self.exit(Exit::Return, stmt.start(), state);
            }
            Stmt::Raise(raise) => {
                if let Some(exc) = &raise.exc {
                    self.scan(exc, state);
                }
                if let Some(cause) = &raise.cause {
                    self.scan(cause, state);
                }
                self.exit(Exit::Raise, stmt.start(), state);
            }
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    match target {
                        Expr::Name(name) => self.drop_name(name.id.as_str(), state, true),
                        other => self.scan(other, state),
                    }
                }
            }
            Stmt::If(if_) => self.walk_if(if_, state),
            Stmt::While(while_) => {
                self.scan(&while_.test, state);
                let forever = matches!(&*while_.test, Expr::BooleanLiteral(b) if b.value)
                    || matches!(&*while_.test, Expr::NumberLiteral(n) if matches!(n.value, ast::Number::Int(ref i) if *i != ast::Int::ZERO));
                self.walk_loop(None, &while_.body, &while_.orelse, forever, state);
            }
            Stmt::For(for_) => {
                self.scan(&for_.iter, state);
                self.walk_loop(Some(&for_.target), &for_.body, &for_.orelse, false, state);
            }
            Stmt::With(with) => self.walk_with(with, state),
            Stmt::Try(try_) => self.walk_try(try_, state),
            Stmt::Match(match_) => {
                self.scan(&match_.subject, state);
                let entry = state.clone();
                let mut out = State::unreachable();
                let mut exhaustive = false;
                for case in &match_.cases {
                    let mut branch = entry.clone();
                    if let Some(guard) = &case.guard {
                        self.scan(guard, &mut branch);
                    }
                    self.walk_body(&case.body, &mut branch);
                    out.join(&branch);
                    if case.guard.is_none() && case.pattern.is_irrefutable() {
                        exhaustive = true;
                    }
                }
                if !exhaustive {
                    out.join(&entry);
                }
                *state = out;
            }
            Stmt::FunctionDef(def) => {
                // A nested function that refers to a resource may keep or close it later.
                let captured = self.names_used_in_stmt(stmt, state);
                self.escape(captured, state);
                self.drop_name(def.name.as_str(), state, false);
            }
            Stmt::ClassDef(class) => {
                let captured = self.names_used_in_stmt(stmt, state);
                self.escape(captured, state);
                self.drop_name(class.name.as_str(), state, false);
            }
            Stmt::Break(_) => self.exit(Exit::Break, stmt.start(), state),
            Stmt::Continue(_) => self.exit(Exit::Continue, stmt.start(), state),
            Stmt::Assert(assert) => {
                self.scan(&assert.test, state);
                if let Some(msg) = &assert.msg {
                    self.scan(msg, state);
                }
            }
            Stmt::Import(_) | Stmt::ImportFrom(_) => {
                for (name, _) in import_names(stmt) {
                    self.drop_name(name, state, false);
                }
            }
            Stmt::Global(_)
            | Stmt::Nonlocal(_)
            | Stmt::Pass(_)
            | Stmt::TypeAlias(_)
            | Stmt::IpyEscapeCommand(_) => {}
        }
    }

    fn assign(
        &mut self,
        single: Option<&'a str>,
        targets: &'a [Expr],
        value: &'a Expr,
        position: Option<(&'a [Stmt], usize)>,
        state: &mut State<'a>,
    ) {
        let local = single.filter(|name| !self.outer_names.contains(name));
        // `name = open(...)`
        if let (Some(name), Expr::Call(call)) = (local, value)
            && let Some(kind) = self.resource_kind(call)
        {
            self.scan_call_arguments(call, state);
            self.reopen(name, call, state);
            self.drop_name(name, state, false);
            if let Some((suite, index)) = position {
                self.create(kind, name, call, Binding::Assign { suite, index }, state);
            }
            return;
        }
        self.scan(value, state);
        let held = self.held_by(value, state);
        match local {
            // `alias = name`, `reader = csv.reader(name)`: the new name stands for the resource.
            Some(name) if held != 0 => {
                let is_alias = matches!(value, Expr::Name(_)) || self.is_holder_expr(value);
                if is_alias {
                    self.bind_alias(name, held, state);
                } else {
                    self.drop_name(name, state, false);
                    self.escape(held, state);
                }
            }
            Some(name) => {
                let is_none = value.is_none_literal_expr();
                self.drop_name(name, state, is_none);
                if is_path_expr(self.checker, value, Some(&self.path_names)) {
                    self.path_names.insert(name);
                }
            }
            None => {
                // Stored in an attribute, item, global or unpacked: it may outlive the call.
                self.escape(held, state);
                for target in targets {
                    self.assign_target(target, state);
                }
            }
        }
    }

    /// Unbinds the names a non-simple target assigns, and scans subscripts and attributes.
    fn assign_target(&mut self, target: &'a Expr, state: &mut State<'a>) {
        match target {
            Expr::Name(name) => self.drop_name(name.id.as_str(), state, false),
            Expr::Tuple(tuple) => tuple.iter().for_each(|elt| self.assign_target(elt, state)),
            Expr::List(list) => list.iter().for_each(|elt| self.assign_target(elt, state)),
            Expr::Starred(starred) => self.assign_target(&starred.value, state),
            Expr::Subscript(subscript) => {
                // `cache[f] = …` keeps `f` as a key.
                self.escape_held(&subscript.slice, state);
                self.scan(target, state);
            }
            other => self.scan(other, state),
        }
    }

    fn create(
        &mut self,
        kind: &'static Kind,
        name: &'a str,
        call: &'a ast::ExprCall,
        binding: Binding<'a>,
        state: &mut State<'a>,
    ) {
        let id = match self.by_site.get(&call.start()) {
            Some(&id) => id,
            None => {
                if self.resources.len() >= MAX_RESOURCES {
                    return;
                }
                self.resources.push(Resource {
                    kind,
                    name,
                    call,
                    binding,
                    leaks: Vec::new(),
                    released_somewhere: false,
                    escaped_somewhere: false,
                    releases: 0,
                });
                self.by_site.insert(call.start(), self.resources.len() - 1);
                self.resources.len() - 1
            }
        };
        state.flags[id] = OPEN | SURELY;
        state.names.insert(name, 1 << id);
    }

    /// The same line opens a resource again (next loop iteration) while the one `name` holds
    /// from the last time is still open and nothing else refers to it.
    fn reopen(&mut self, name: &'a str, call: &'a ast::ExprCall, state: &mut State<'a>) {
        let Some(&id) = self.by_site.get(&call.start()) else {
            return;
        };
        let held_by_name = state
            .names
            .get(name)
            .is_some_and(|mask| mask & (1 << id) != 0);
        if held_by_name && state.may_be_open(id) && state.aliased(name) & (1 << id) == 0 {
            self.leak(id, LeakKind::Reopened, call.start());
            state.flags[id] = ESCAPED;
        }
    }

    /// `name` stops referring to what it referred to. `released` for `del name` and
    /// `name = None`, which drop the last reference on purpose.
    fn drop_name(&mut self, name: &str, state: &mut State<'a>, released: bool) {
        let Some(mask) = state.names.remove(name) else {
            return;
        };
        self.forget(mask, name, state, released);
    }

    /// `name = <something standing for the resources in held>` (`g = f`, `r = csv.reader(f)`,
    /// `with closing(f) as f:`): only what `name` referred to before and no longer does is lost.
    fn bind_alias(&mut self, name: &'a str, held: Mask, state: &mut State<'a>) {
        let old = state.names.insert(name, held).unwrap_or(0);
        self.forget(old & !held, name, state, false);
    }

    /// Resources in `mask` that `name` no longer refers to: lost unless another name has them.
    fn forget(&mut self, mask: Mask, name: &str, state: &mut State<'a>, released: bool) {
        let still_referenced = state.aliased(name);
        for id in ids(mask) {
            if still_referenced & (1 << id) != 0 {
                continue;
            }
            if released {
                if state.flags[id] != 0 {
                    state.flags[id] = CLOSED;
                }
            } else if state.may_be_open(id) {
                self.rebound_leak(id, state);
            }
        }
    }

    fn rebound_leak(&mut self, id: usize, state: &mut State<'a>) {
        // Recorded at the rebinding; the resource is gone from the function's view afterwards.
        if self.detached == 0 {
            let at = self.resources[id].call.start();
            self.resources[id].leaks.push(Leak {
                kind: LeakKind::Rebound,
                at,
            });
        }
        state.flags[id] = ESCAPED;
    }

    fn walk_if(&mut self, if_: &'a ast::StmtIf, state: &mut State<'a>) {
        self.scan(&if_.test, state);
        let tested = self.names_in_expr(&if_.test, state);
        let entry = state.clone();
        let releases_before: Vec<u32> = self.resources.iter().map(|r| r.releases).collect();
        let mut out = entry.clone();
        self.walk_body(&if_.body, &mut out);
        let mut has_else = false;
        for clause in &if_.elif_else_clauses {
            let mut branch = entry.clone();
            if let Some(test) = &clause.test {
                self.scan(test, &mut branch);
            } else {
                has_else = true;
            }
            self.walk_body(&clause.body, &mut branch);
            out.join(&branch);
        }
        if !has_else {
            out.join(&entry);
        }
        // `if f is not None: f.close()`, `if f: f.close()`, `if not f.closed: f.close()`,
        // `if close_source: source.close()`: a guarded close is deliberate; the branch that
        // skips it is taken to be the one with nothing (of ours) to close. With an `else`,
        // only a test that names the resource counts as such a guard.
        let guarded = if has_else { tested } else { Mask::MAX };
        if guarded != 0 && out.reachable {
            for id in ids(guarded).filter(|&id| id < self.resources.len()) {
                let released_here = releases_before
                    .get(id)
                    .is_some_and(|&before| self.resources[id].releases > before);
                if released_here && out.flags[id] != 0 {
                    out.flags[id] = CLOSED;
                }
            }
        }
        *state = out;
    }

    fn walk_loop(
        &mut self,
        target: Option<&'a Expr>,
        body: &'a [Stmt],
        orelse: &'a [Stmt],
        forever: bool,
        state: &mut State<'a>,
    ) {
        self.frames.push(Frame::Loop {
            breaks: Vec::new(),
            continues: Vec::new(),
        });
        let entry = state.clone();
        let mut head = entry.clone();
        // Twice, so that what one iteration leaves open is seen by the next; once when deeply
        // nested, to bound the cost.
        let passes = if self.loop_depth < 3 { 2 } else { 1 };
        self.loop_depth += 1;
        for _ in 0..passes {
            let mut iteration = head.clone();
            if let Some(target) = target {
                self.assign_target(target, &mut iteration);
            }
            self.walk_body(body, &mut iteration);
            if let Some(Frame::Loop { continues, .. }) = self.frames.last_mut() {
                for state in std::mem::take(continues) {
                    iteration.join(&state);
                }
            }
            head = entry.clone();
            head.join(&iteration);
        }
        self.loop_depth -= 1;
        let Some(Frame::Loop { breaks, .. }) = self.frames.pop() else {
            unreachable!("loop frame pushed above");
        };
        let mut out = if forever { State::unreachable() } else { head };
        if out.reachable {
            self.walk_body(orelse, &mut out);
        }
        for state in &breaks {
            out.join(state);
        }
        *state = out;
    }

    fn walk_with(&mut self, with: &'a ast::StmtWith, state: &mut State<'a>) {
        let mut released: Mask = 0;
        for item in &with.items {
            let expr = &item.context_expr;
            if let Expr::Call(call) = expr {
                if let Some(kind) = self.resource_kind(call) {
                    self.scan_call_arguments(call, state);
                    if !kind.with_releases {
                        // `with sqlite3.connect(db) as conn:` does not close `conn`.
                        match item.optional_vars.as_deref() {
                            Some(Expr::Name(name))
                                if !self.outer_names.contains(name.id.as_str()) =>
                            {
                                self.drop_name(name.id.as_str(), state, false);
                                self.create(
                                    kind,
                                    name.id.as_str(),
                                    call,
                                    Binding::WithItem { with, item },
                                    state,
                                );
                            }
                            _ => {}
                        }
                    } else if let Some(vars) = &item.optional_vars {
                        self.assign_target(vars, state);
                    }
                    continue;
                }
                // `with closing(f):`
                if self
                    .checker
                    .semantic
                    .resolves_to(&call.func, &["contextlib.closing"])
                    && let [arg] = &*call.arguments.args
                {
                    released |= self.held_by(arg, state);
                }
            }
            // `with f:` / `with f as g:`
            if let Expr::Name(name) = expr
                && let Some(&mask) = state.names.get(name.id.as_str())
            {
                for id in ids(mask) {
                    if self.resources[id].kind.with_releases {
                        released |= 1 << id;
                    }
                }
            }
            self.scan(expr, state);
            if let Some(vars) = &item.optional_vars {
                match (&**vars, self.held_by(expr, state)) {
                    (Expr::Name(name), held) if held != 0 => {
                        self.bind_alias(name.id.as_str(), held, state);
                    }
                    _ => self.assign_target(vars, state),
                }
            }
        }
        if released != 0 {
            self.frames.push(Frame::Releases(released));
        }
        self.walk_body(&with.body, state);
        if released != 0 {
            self.frames.pop();
            self.release(released, state);
        }
    }

    fn walk_try(&mut self, try_: &'a ast::StmtTry, state: &mut State<'a>) {
        let has_finally = !try_.finalbody.is_empty();
        if has_finally {
            self.frames.push(Frame::Finally(&try_.finalbody));
        }
        let entry = state.clone();
        let mut body_state = entry.clone();
        let mut handler_entry = entry;
        if try_.handlers.is_empty() {
            self.walk_body(&try_.body, &mut body_state);
        } else {
            // The handlers see what was open when the `try` began, and the state at each
            // explicit `raise` in the body. Exceptions that calls may raise anywhere are not
            // paths of their own (see the rule's doc), so a resource opened inside the body is
            // not assumed open in a handler.
            self.frames.push(Frame::Handlers(Vec::new()));
            let releases_before: Vec<u32> = self.resources.iter().map(|r| r.releases).collect();
            self.walk_body(&try_.body, &mut body_state);
            // `try: f.close() except OSError: pass`: a failed attempt to release still counts.
            for (id, before) in releases_before.iter().enumerate() {
                if self.resources[id].releases > *before && handler_entry.flags[id] != 0 {
                    handler_entry.flags[id] = CLOSED;
                }
            }
            let Some(Frame::Handlers(raised)) = self.frames.pop() else {
                unreachable!("handlers frame pushed above");
            };
            for state in &raised {
                handler_entry.join(state);
            }
        }
        if body_state.reachable {
            self.walk_body(&try_.orelse, &mut body_state);
        }
        let mut out = body_state;
        for handler in &try_.handlers {
            let ast::ExceptHandler::ExceptHandler(handler) = handler;
            let mut branch = handler_entry.clone();
            if let Some(type_) = &handler.type_ {
                self.scan(type_, &mut branch);
            }
            self.walk_body(&handler.body, &mut branch);
            out.join(&branch);
        }
        if has_finally {
            self.frames.pop();
            if out.reachable {
                self.walk_body(&try_.finalbody, &mut out);
            }
        }
        *state = out;
    }

    /// Leaves the current block by `return`, `raise`, `break` or `continue`, passing through
    /// the `finally` blocks and `with` blocks on the way.
    fn exit(&mut self, exit: Exit, at: TextSize, state: &mut State<'a>) {
        let mut leaving = std::mem::replace(state, State::unreachable());
        for index in (0..self.frames.len()).rev() {
            match &mut self.frames[index] {
                Frame::Loop { breaks, continues } => match exit {
                    Exit::Break => {
                        breaks.push(leaving);
                        return;
                    }
                    Exit::Continue => {
                        continues.push(leaving);
                        return;
                    }
                    _ => {}
                },
                Frame::Handlers(raised) => {
                    if exit == Exit::Raise {
                        raised.push(leaving);
                        return;
                    }
                }
                Frame::Releases(mask) => {
                    let mask = *mask;
                    self.release(mask, &mut leaving);
                }
                Frame::Finally(body) => {
                    let body = *body;
                    // Replay the `finally` for this path; its own exits are not this path's.
                    let saved = std::mem::take(&mut self.frames);
                    self.detached += 1;
                    self.walk_body(body, &mut leaving);
                    self.detached -= 1;
                    self.frames = saved;
                    if !leaving.reachable {
                        return;
                    }
                }
            }
        }
        let kind = match exit {
            Exit::Return => LeakKind::Return,
            Exit::Raise => LeakKind::Raise,
            Exit::Break | Exit::Continue => LeakKind::End,
        };
        self.record_exit(kind, at, &leaving);
    }

    fn record_exit(&mut self, kind: LeakKind, at: TextSize, state: &State<'a>) {
        for id in 0..self.resources.len() {
            // An explicit `raise` often sits on a path that other conditions rule out
            // (`if err is not None: raise err` after a loop that breaks with the resource
            // open): count it only when the resource is open on every path to it.
            let counts = if kind == LeakKind::Raise {
                state.flags[id] & SURELY != 0
            } else {
                state.may_be_open(id)
            };
            if counts {
                self.leak(id, kind, at);
            }
        }
    }

    fn leak(&mut self, id: usize, kind: LeakKind, at: TextSize) {
        if self.detached > 0 {
            return;
        }
        let leaks = &mut self.resources[id].leaks;
        if !leaks.iter().any(|leak| leak.kind == kind && leak.at == at) {
            leaks.push(Leak { kind, at });
        }
    }

    /// The resources in `mask` are handed over (returned, stored, passed on, captured).
    fn escape(&mut self, mask: Mask, state: &mut State<'a>) {
        for id in ids(mask) {
            if state.flags[id] != 0 {
                state.flags[id] = ESCAPED;
                self.resources[id].escaped_somewhere = true;
            }
        }
    }

    fn release(&mut self, mask: Mask, state: &mut State<'a>) {
        for id in ids(mask) {
            if state.flags[id] != 0 {
                state.flags[id] = CLOSED;
                self.resources[id].released_somewhere = true;
                self.resources[id].releases += 1;
            }
        }
    }

    // ---- expressions ----

    /// Applies what an expression does to the resources: releases (`f.close()`), hand-overs
    /// (`keep(f)`, `[f]`, `lambda: f`), and nothing for mere uses (`f.read()`, `f is None`).
    fn scan(&mut self, expr: &'a Expr, state: &mut State<'a>) {
        if state.names.is_empty() {
            return;
        }
        deep(|| self.scan_inner(expr, state));
    }

    fn scan_inner(&mut self, expr: &'a Expr, state: &mut State<'a>) {
        match expr {
            Expr::Call(call) => {
                if let Expr::Attribute(attr) = &*call.func
                    && let Expr::Name(receiver) = &*attr.value
                    && let Some(&mask) = state.names.get(receiver.id.as_str())
                {
                    self.scan_call_arguments(call, state);
                    let method = attr.attr.as_str();
                    let releases: Mask = ids(mask)
                        .filter(|&id| self.resources[id].kind.releases.contains(&method))
                        .fold(0, |acc, id| acc | (1 << id));
                    self.release(releases, state);
                    return;
                }
                self.scan(&call.func, state);
                self.scan_call_arguments(call, state);
            }
            Expr::Lambda(_) => {
                let captured = self.names_in_expr(expr, state);
                self.escape(captured, state);
            }
            Expr::Named(named) => {
                self.scan(&named.value, state);
                let held = self.held_by(&named.value, state);
                if let Expr::Name(name) = &*named.target {
                    if held != 0 {
                        self.bind_alias(name.id.as_str(), held, state);
                    } else {
                        self.drop_name(name.id.as_str(), state, false);
                    }
                }
            }
            Expr::Yield(yield_) => {
                if let Some(value) = &yield_.value {
                    self.scan(value, state);
                    self.escape_held(value, state);
                }
            }
            Expr::YieldFrom(yield_) => {
                self.scan(&yield_.value, state);
                self.escape_held(&yield_.value, state);
            }
            Expr::List(_) | Expr::Tuple(_) | Expr::Set(_) | Expr::Dict(_) => {
                // A resource put in a container may be kept by whoever keeps the container.
                let mut elements = Vec::new();
                container_elements(expr, &mut elements);
                for element in elements {
                    self.scan(element, state);
                    self.escape_held(element, state);
                }
            }
            _ => visitor::walk_expr(&mut ScanChildren { flow: self, state }, expr),
        }
    }

    fn scan_call_arguments(&mut self, call: &'a ast::ExprCall, state: &mut State<'a>) {
        for (position, arg) in call.arguments.args.iter().enumerate() {
            // `self.addCleanup(f.close)`, `atexit.register(sock.close)`, `stack.callback(p.kill)`:
            // whoever receives the bound release method will release it.
            if let Some(mask) = self.bound_release(arg, state) {
                self.escape(mask, state);
                continue;
            }
            self.scan(arg, state);
            let held = self.held_by(arg, state);
            if held != 0 && self.callee_takes(call, Some(position), None) {
                self.escape(held, state);
            }
        }
        for keyword in &call.arguments.keywords {
            self.scan(&keyword.value, state);
            let held = self.held_by(&keyword.value, state);
            if held != 0 && self.callee_takes(call, None, keyword.arg.as_ref().map(|a| a.as_str()))
            {
                self.escape(held, state);
            }
        }
    }

    /// `f.close` (not called) for a tracked `f` whose kind releases with `close`.
    fn bound_release(&self, expr: &Expr, state: &State<'a>) -> Option<Mask> {
        let Expr::Attribute(attr) = expr else {
            return None;
        };
        let Expr::Name(receiver) = &*attr.value else {
            return None;
        };
        let mask = *state.names.get(receiver.id.as_str())?;
        let releasing = ids(mask)
            .filter(|&id| {
                self.resources[id]
                    .kind
                    .releases
                    .contains(&attr.attr.as_str())
            })
            .fold(0, |acc, id| acc | (1 << id));
        (releasing != 0).then_some(releasing)
    }

    fn escape_held(&mut self, expr: &'a Expr, state: &mut State<'a>) {
        let held = self.held_by(expr, state);
        self.escape(held, state);
    }

    /// The resources an expression's value refers to: a tracked name, or a holder over one
    /// (`csv.reader(f)`, `iter(f)`, `sock.makefile()`).
    fn held_by(&self, expr: &Expr, state: &State<'a>) -> Mask {
        match expr {
            Expr::Name(name) => state.names.get(name.id.as_str()).copied().unwrap_or(0),
            Expr::Call(call) => {
                if let Expr::Attribute(attr) = &*call.func
                    && HOLDER_METHODS.contains(&attr.attr.as_str())
                {
                    return self.held_by(&attr.value, state);
                }
                if self.checker.semantic.resolves_to(&call.func, HOLDERS) {
                    call.arguments
                        .args
                        .iter()
                        .chain(call.arguments.keywords.iter().map(|k| &k.value))
                        .fold(0, |acc, arg| acc | self.held_by(arg, state))
                } else {
                    0
                }
            }
            Expr::Starred(starred) => self.held_by(&starred.value, state),
            Expr::Await(await_) => self.held_by(&await_.value, state),
            Expr::Tuple(_) | Expr::List(_) | Expr::Set(_) | Expr::Dict(_) => {
                let mut elements = Vec::new();
                container_elements(expr, &mut elements);
                elements
                    .iter()
                    .fold(0, |acc, e| acc | self.held_by(e, state))
            }
            Expr::If(if_) => self.held_by(&if_.body, state) | self.held_by(&if_.orelse, state),
            Expr::BoolOp(boolop) => boolop
                .values
                .iter()
                .fold(0, |acc, v| acc | self.held_by(v, state)),
            _ => 0,
        }
    }

    fn is_holder_expr(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Call(call) => {
                matches!(&*call.func, Expr::Attribute(attr) if HOLDER_METHODS.contains(&attr.attr.as_str()))
                    || self.checker.semantic.resolves_to(&call.func, HOLDERS)
            }
            Expr::Await(await_) => self.is_holder_expr(&await_.value),
            _ => false,
        }
    }

    /// Whether a call may keep (or release) the argument at `position` / `keyword`.
    fn callee_takes(
        &mut self,
        call: &'a ast::ExprCall,
        position: Option<usize>,
        keyword: Option<&str>,
    ) -> bool {
        if self.checker.semantic.resolves_to(&call.func, BORROWS)
            || self.checker.semantic.resolves_to(&call.func, HOLDERS)
        {
            return false;
        }
        // Functions of this module and methods of this class: look at what they do with it.
        let (def, skip_self) = match &*call.func {
            Expr::Name(name) => match self.checker.semantic.module_bindings(name.id.as_str()) {
                [Stmt::FunctionDef(def)] => (Some(def), false),
                _ => (None, false),
            },
            Expr::Attribute(attr) => match (&*attr.value, self.function.class) {
                (Expr::Name(receiver), Some(class))
                    if Some(receiver.id.as_str())
                        == crate::helpers::first_parameter(self.function.def) =>
                {
                    let method = class.body.iter().find_map(|stmt| match stmt {
                        Stmt::FunctionDef(def) if def.name.as_str() == attr.attr.as_str() => {
                            Some(def)
                        }
                        _ => None,
                    });
                    (method, true)
                }
                _ => (None, false),
            },
            _ => (None, false),
        };
        let Some(def) = def else {
            return true;
        };
        // An abstract or stub body says nothing: an override may keep the argument.
        if is_stub(def) {
            return true;
        }
        let params: Vec<&ast::ParameterWithDefault> = def
            .parameters
            .posonlyargs
            .iter()
            .chain(&def.parameters.args)
            .skip(usize::from(skip_self))
            .collect();
        let parameter = match (position, keyword) {
            (Some(position), _) => params.get(position).map(|p| p.parameter.name.as_str()),
            (None, Some(keyword)) => def
                .parameters
                .iter_non_variadic_params()
                .find(|p| p.parameter.name.as_str() == keyword)
                .map(|p| p.parameter.name.as_str()),
            (None, None) => None,
        };
        let Some(parameter) = parameter else {
            return true; // *args / **kwargs: unknown
        };
        let key = (def.start(), parameter.to_owned());
        if let Some(&takes) = self.summaries.get(&key) {
            return takes;
        }
        let takes = parameter_is_kept_or_released(self.checker, def, parameter);
        self.summaries.insert(key, takes);
        takes
    }

    /// Tracked resources referred to by names anywhere in `expr`.
    fn names_in_expr(&self, expr: &Expr, state: &State<'a>) -> Mask {
        let mut mask = 0;
        let mut names = NameCollector::default();
        names.visit_expr(expr);
        for name in names.names {
            mask |= state.names.get(name).copied().unwrap_or(0);
        }
        mask
    }

    fn names_used_in_stmt(&self, stmt: &Stmt, state: &State<'a>) -> Mask {
        let mut names = NameCollector::default();
        names.visit_stmt(stmt);
        names.names.iter().fold(0, |acc, name| {
            acc | state.names.get(name).copied().unwrap_or(0)
        })
    }

    // ---- reporting ----

    fn into_diagnostics(self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for resource in &self.resources {
            if resource.leaks.is_empty() || !self.acquired(resource) {
                continue;
            }
            out.push(self.diagnostic(resource));
        }
        out
    }

    /// Whether the function makes the object acquire its OS resource (for lazy kinds).
    fn acquired(&self, resource: &Resource<'a>) -> bool {
        if resource.kind.acquired_by.is_empty() {
            return true;
        }
        struct Calls<'n> {
            name: &'n str,
            methods: &'static [&'static str],
            found: bool,
        }
        impl<'a> Visitor<'a> for Calls<'_> {
            fn visit_expr(&mut self, expr: &'a Expr) {
                if let Expr::Call(call) = expr
                    && let Expr::Attribute(attr) = &*call.func
                    && matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == self.name)
                    && self.methods.contains(&attr.attr.as_str())
                {
                    self.found = true;
                }
                deep(|| visitor::walk_expr(self, expr));
            }
        }
        let mut calls = Calls {
            name: resource.name,
            methods: resource.kind.acquired_by,
            found: false,
        };
        calls.visit_body(&self.function.def.body);
        // `conn.sock = FakeSocket()`: the code supplies the connection's socket itself.
        let injected = self
            .function
            .def
            .body
            .iter()
            .any(|stmt| any_assignment_to(stmt, resource.name, "sock"));
        calls.found && !injected
    }

    fn line(&self, offset: TextSize) -> usize {
        self.checker.line_index.line_index(offset).get()
    }

    fn diagnostic(&self, resource: &Resource<'a>) -> Diagnostic {
        let callee = self.checker.slice(resource.call.func.range());
        let what = resource.kind.what;
        let name = resource.name;
        let function = self.function.def.name.as_str();
        let mut leaks = resource.leaks.clone();
        leaks.sort_by_key(|leak| leak.at);
        let first = leaks[0];
        let is_with = matches!(resource.binding, Binding::WithItem { .. });
        let message = if is_with && !resource.released_somewhere {
            format!(
                "`with {callee}(...) as {name}` does not close the {what}: its `with` only commits or rolls back, so `{name}` stays open after the block until it is garbage-collected"
            )
        } else if !resource.released_somewhere
            && !resource.escaped_somewhere
            && leaks.iter().all(|l| l.kind != LeakKind::Reopened)
        {
            format!(
                "{what} `{name}` opened by `{callee}(...)` is never closed in `{function}()`: it stays open until it is garbage-collected"
            )
        } else {
            let path = match first.kind {
                LeakKind::Return => {
                    format!("`{function}()` returns at line {}", self.line(first.at))
                }
                LeakKind::Raise => format!("`{function}()` raises at line {}", self.line(first.at)),
                LeakKind::End => format!("`{function}()` reaches its end"),
                LeakKind::Rebound => format!("`{name}` is rebound"),
                LeakKind::Reopened => "the loop opens the next one".to_owned(),
            };
            format!(
                "{what} `{name}` opened by `{callee}(...)` is not closed on every path: it is still open when {path}"
            )
        };
        let diagnostic =
            Diagnostic::new(Rule::UnclosedResource, resource.call.func.range(), message);
        let diagnostic = match resource.binding {
            Binding::Assign { .. } if leaks.iter().any(|l| l.kind == LeakKind::Rebound || l.kind == LeakKind::Reopened) => {
                diagnostic.with_note(format!(
                    "No automatic fix: `{name}` is rebound while the {what} is open; close it before opening the next one."
                ))
            }
            _ => match self.fix(resource) {
                Ok(fix) => diagnostic.with_fix(fix),
                Err(reason) => diagnostic.with_note(format!("No automatic fix: {reason}.")),
            },
        };
        leaks
            .iter()
            .filter(|leak| matches!(leak.kind, LeakKind::Return | LeakKind::Raise))
            .take(3)
            .fold(diagnostic, |d, leak| {
                let how = if leak.kind == LeakKind::Return {
                    "returns"
                } else {
                    "raises"
                };
                d.with_related(
                    TextRange::empty(leak.at),
                    format!("`{name}` is still open when the function {how} here"),
                )
            })
    }

    // ---- the fix ----

    fn fix(&self, resource: &Resource<'a>) -> Result<Fix, String> {
        match resource.binding {
            Binding::Assign { suite, index } => self.block_fix(resource, suite, index),
            Binding::WithItem { with, item } => self.closing_with_item_fix(resource, with, item),
        }
    }

    /// `with sqlite3.connect(db) as conn:` → `with contextlib.closing(sqlite3.connect(db)) as conn, conn:`
    fn closing_with_item_fix(
        &self,
        resource: &Resource<'a>,
        with: &'a ast::StmtWith,
        item: &'a ast::WithItem,
    ) -> Result<Fix, String> {
        let name = resource.name;
        if let Some(line) = self.used_outside(&[name], with.range()) {
            return Err(format!(
                "`{name}` is used after the `with` block (line {line})"
            ));
        }
        let (closing, import) = self.checker.import_edit("contextlib", "closing");
        let call = self.checker.slice(resource.call.range());
        let mut edits = vec![Edit::replacement(
            format!("{closing}({call}) as {name}, {name}"),
            item.range(),
        )];
        edits.extend(import);
        Ok(Fix::safe(
            format!("Close `{name}` with `{closing}` (keeping its `with` for the transaction)"),
            edits,
        ))
    }

    /// Moves the uses of the resource into a `with` (or `try`/`finally`) block.
    fn block_fix(
        &self,
        resource: &Resource<'a>,
        suite: &'a [Stmt],
        index: usize,
    ) -> Result<Fix, String> {
        let checker = self.checker;
        let name = resource.name;
        let binding = &suite[index];
        if !checker.starts_line(binding) || checker.followed_on_line(binding) {
            return Err("the assignment shares its line with other statements".to_owned());
        }
        if resource.kind.cleanup == Cleanup::AsyncWith && !self.function.def.is_async {
            return Err("it needs `async with`, which only works in an `async def`".to_owned());
        }
        // The statements that use the resource, or a name that stands for it.
        let mut dependents: Vec<&str> = vec![name];
        let mut last = index;
        for (offset, stmt) in suite[index + 1..].iter().enumerate() {
            if !stmt_mentions(stmt, &dependents) {
                continue;
            }
            last = index + 1 + offset;
            for alias in aliases_defined(checker, stmt, &dependents) {
                if !dependents.contains(&alias) {
                    dependents.push(alias);
                }
            }
        }
        if last == index {
            return Err(format!("`{name}` is never used after it is opened"));
        }
        let block = TextRange::new(binding.start(), suite[last].end());
        if let Some(line) = self.used_outside(&dependents, block) {
            return Err(format!(
                "`{name}` (or a name derived from it) is used at line {line}, outside the block it is opened in"
            ));
        }
        if checker.followed_on_line(&suite[last]) {
            return Err("the last use shares its line with another statement".to_owned());
        }
        // A final `name.close()` becomes redundant.
        let mut moved_last = last;
        if is_release_statement(&suite[last], name, resource.kind)
            && last > index + 1
            && !checker.has_comments(TextRange::new(suite[last - 1].end(), suite[last].end()))
        {
            moved_last = last - 1;
        }

        let eol = checker.line_ending();
        let indent = checker.indentation(binding.start());
        let unit = checker.indent_unit();
        let call = checker.slice(resource.call.range());
        let comment =
            &checker.source[binding.end().to_usize()..checker.line_end(binding.end()).to_usize()];
        let moved = checker.indent_lines(
            TextRange::new(
                checker.full_line_end(binding.end()),
                checker.full_line_end(suite[moved_last].end()),
            ),
            unit,
        );
        let moved = if moved.ends_with(['\n', '\r']) {
            moved
        } else {
            format!("{moved}{eol}")
        };
        let mut edits = Vec::new();
        let text = match resource.kind.cleanup {
            Cleanup::With | Cleanup::AsyncWith => {
                let keyword = if resource.kind.cleanup == Cleanup::AsyncWith {
                    "async with"
                } else {
                    "with"
                };
                format!("{indent}{keyword} {call} as {name}:{comment}{eol}{moved}")
            }
            Cleanup::WithClosing => {
                let (closing, import) = checker.import_edit("contextlib", "closing");
                edits.extend(import);
                format!("{indent}with {closing}({call}) as {name}:{comment}{eol}{moved}")
            }
            Cleanup::TryFinally(method) => {
                let statement = checker.slice(binding.range());
                format!(
                    "{indent}{statement}{comment}{eol}{indent}try:{eol}{moved}{indent}finally:{eol}{indent}{unit}{name}.{method}(){eol}"
                )
            }
        };
        let replaced = TextRange::new(
            checker.line_start(binding.start()),
            checker.full_line_end(suite[last].end()),
        );
        let text = if checker.full_line_end(suite[last].end())
            == checker.line_end(suite[last].end())
            && text.ends_with(eol)
        {
            // The block ends the file without a final line break: keep it that way.
            text[..text.len() - eol.len()].to_owned()
        } else {
            text
        };
        edits.push(Edit::replacement(text, replaced));
        let message = match resource.kind.cleanup {
            Cleanup::TryFinally(method) => format!("Call `{name}.{method}()` in a `finally` block"),
            Cleanup::AsyncWith => format!("Open `{name}` with `async with`"),
            Cleanup::With | Cleanup::WithClosing => format!("Open `{name}` in a `with` block"),
        };
        Ok(if resource.kind.safe_fix {
            Fix::safe(message, edits)
        } else {
            Fix::unsafe_(message, edits)
        })
    }

    /// The first line, outside `range`, where one of `names` is read in this function.
    fn used_outside(&self, names: &[&str], range: TextRange) -> Option<usize> {
        let mut collector = NameCollector::default();
        collector.visit_body(&self.function.def.body);
        collector
            .occurrences
            .iter()
            .filter(|(name, at)| names.contains(name) && !range.contains_range(*at))
            .map(|(_, at)| self.line(at.start()))
            .min()
    }
}

/// Walks children of an expression the flow does not treat specially.
struct ScanChildren<'f, 'c, 'a, 's> {
    flow: &'f mut Flow<'c, 'a>,
    state: &'s mut State<'a>,
}

impl<'a> Visitor<'a> for ScanChildren<'_, '_, 'a, '_> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        self.flow.scan(expr, self.state);
    }
}

fn container_elements<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::List(list) => out.extend(list.iter()),
        Expr::Tuple(tuple) => out.extend(tuple.iter()),
        Expr::Set(set) => out.extend(set.iter()),
        Expr::Dict(dict) => {
            for item in dict.iter() {
                if let Some(key) = &item.key {
                    out.push(key);
                }
                out.push(&item.value);
            }
        }
        _ => {}
    }
}

/// Names read anywhere below a node (nested functions included), with their ranges.
#[derive(Default)]
struct NameCollector<'a> {
    names: FxHashSet<&'a str>,
    occurrences: Vec<(&'a str, TextRange)>,
}

impl<'a> Visitor<'a> for NameCollector<'a> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Name(name) = expr {
            self.names.insert(name.id.as_str());
            self.occurrences.push((name.id.as_str(), name.range));
        }
        deep(|| visitor::walk_expr(self, expr));
    }

    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        // `del f`, `global f` and `nonlocal f` name it without an expression.
        match stmt {
            Stmt::Global(ast::StmtGlobal { names, .. })
            | Stmt::Nonlocal(ast::StmtNonlocal { names, .. }) => {
                for name in names {
                    self.names.insert(name.as_str());
                    self.occurrences.push((name.as_str(), name.range));
                }
            }
            _ => {}
        }
        deep(|| visitor::walk_stmt(self, stmt));
    }
}

fn stmt_mentions(stmt: &Stmt, names: &[&str]) -> bool {
    let mut collector = NameCollector::default();
    collector.visit_stmt(stmt);
    names.iter().any(|name| collector.names.contains(name))
}

/// Names a statement binds to something that stands for one of `names` (an alias or a holder
/// such as `csv.reader(f)`), at any depth of the statement.
fn aliases_defined<'a>(checker: &Checker, stmt: &'a Stmt, names: &[&str]) -> Vec<&'a str> {
    struct Finder<'c, 'n, 'a> {
        checker: &'c Checker<'c>,
        names: &'n [&'n str],
        found: Vec<&'a str>,
    }
    impl<'a> Finder<'_, '_, 'a> {
        fn stands_for(&self, value: &Expr) -> bool {
            match value {
                Expr::Name(name) => self.names.contains(&name.id.as_str()),
                Expr::Call(call) => {
                    (matches!(&*call.func, Expr::Attribute(attr) if HOLDER_METHODS.contains(&attr.attr.as_str()) && self.stands_for(&attr.value))
                        || (self.checker.semantic.resolves_to(&call.func, HOLDERS)
                            && call
                                .arguments
                                .args
                                .iter()
                                .chain(call.arguments.keywords.iter().map(|k| &k.value))
                                .any(|a| self.stands_for(a))))
                }
                Expr::Await(await_) => self.stands_for(&await_.value),
                _ => false,
            }
        }
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Finder<'_, '_, 'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::Assign(assign) if self.stands_for(&assign.value) => {
                    for target in &assign.targets {
                        if let Expr::Name(name) = target {
                            self.found.push(name.id.as_str());
                        }
                    }
                }
                Stmt::With(with) => {
                    for item in &with.items {
                        if let (Some(Expr::Name(name)), true) = (
                            item.optional_vars.as_deref(),
                            self.stands_for(&item.context_expr),
                        ) {
                            self.found.push(name.id.as_str());
                        }
                    }
                }
                _ => {}
            }
            if !matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
                deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
            }
        }
    }
    let mut finder = Finder {
        checker,
        names,
        found: Vec::new(),
    };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_stmt(&mut finder, stmt);
    finder.found
}

/// `name.close()` (or the kind's release method) as a statement of its own.
fn is_release_statement(stmt: &Stmt, name: &str, kind: &Kind) -> bool {
    let Stmt::Expr(ast::StmtExpr { value, .. }) = stmt else {
        return false;
    };
    let Expr::Call(call) = &**value else {
        return false;
    };
    let Expr::Attribute(attr) = &*call.func else {
        return false;
    };
    matches!(&*attr.value, Expr::Name(receiver) if receiver.id.as_str() == name)
        && kind.releases.contains(&attr.attr.as_str())
        && call.arguments.is_empty()
}

fn import_names(stmt: &Stmt) -> Vec<(&str, ())> {
    match stmt {
        Stmt::Import(import) => import
            .names
            .iter()
            .map(|alias| {
                let bound = alias.asname.as_ref().map_or_else(
                    || alias.name.as_str().split('.').next().unwrap_or_default(),
                    |a| a.as_str(),
                );
                (bound, ())
            })
            .collect(),
        Stmt::ImportFrom(import) => import
            .names
            .iter()
            .map(|alias| (alias.asname.as_ref().unwrap_or(&alias.name).as_str(), ()))
            .collect(),
        _ => Vec::new(),
    }
}

/// `global`/`nonlocal` names of a function body, and locals assigned a `pathlib.Path`.
fn collect_scope_facts<'a>(
    checker: &Checker,
    body: &'a [Stmt],
    outer: &mut FxHashSet<&'a str>,
    paths: &mut FxHashSet<&'a str>,
) {
    struct Facts<'c, 'o, 'a> {
        checker: &'c Checker<'c>,
        outer: &'o mut FxHashSet<&'a str>,
        paths: &'o mut FxHashSet<&'a str>,
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Facts<'_, '_, 'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::Global(ast::StmtGlobal { names, .. })
                | Stmt::Nonlocal(ast::StmtNonlocal { names, .. }) => {
                    self.outer.extend(names.iter().map(|n| n.as_str()));
                }
                Stmt::Assign(assign) => {
                    if let [Expr::Name(name)] = assign.targets.as_slice()
                        && is_path_expr(self.checker, &assign.value, None)
                    {
                        self.paths.insert(name.id.as_str());
                    }
                }
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
                _ => {}
            }
            deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
        }
    }
    let mut facts = Facts {
        checker,
        outer,
        paths,
    };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut facts, body);
}

/// Whether a function keeps, returns, hands on or releases its parameter (rather than only
/// reading from it): then passing a resource to it hands the resource over.
fn parameter_is_kept_or_released(
    checker: &Checker,
    def: &ast::StmtFunctionDef,
    parameter: &str,
) -> bool {
    struct Uses<'c, 'p> {
        checker: &'c Checker<'c>,
        parameter: &'p str,
        /// Occurrences that only read from the object.
        benign: FxHashSet<TextSize>,
        all: Vec<TextSize>,
        released: bool,
    }
    impl<'a> Visitor<'a> for Uses<'_, '_> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Name(name) if name.id.as_str() == self.parameter => {
                    self.all.push(name.start())
                }
                Expr::Attribute(attr) => {
                    if let Expr::Name(name) = &*attr.value
                        && name.id.as_str() == self.parameter
                    {
                        if matches!(
                            attr.attr.as_str(),
                            "close"
                                | "release"
                                | "shutdown"
                                | "terminate"
                                | "cleanup"
                                | "__exit__"
                                | "detach"
                                | "makefile"
                        ) {
                            self.released = true;
                        } else {
                            self.benign.insert(name.start());
                        }
                    }
                }
                Expr::Compare(compare) => {
                    for operand in std::iter::once(&*compare.left).chain(compare.comparators.iter())
                    {
                        if let Expr::Name(name) = operand {
                            self.benign.insert(name.start());
                        }
                    }
                }
                Expr::UnaryOp(unary) => {
                    if let Expr::Name(name) = &*unary.operand {
                        self.benign.insert(name.start());
                    }
                }
                Expr::Call(call) if self.checker.semantic.resolves_to(&call.func, BORROWS) => {
                    for arg in call
                        .arguments
                        .args
                        .iter()
                        .chain(call.arguments.keywords.iter().map(|k| &k.value))
                    {
                        if let Expr::Name(name) = arg {
                            self.benign.insert(name.start());
                        }
                    }
                }
                _ => {}
            }
            deep(|| visitor::walk_expr(self, expr));
        }

        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::If(ast::StmtIf { test, .. }) | Stmt::While(ast::StmtWhile { test, .. }) => {
                    if let Expr::Name(name) = &**test {
                        self.benign.insert(name.start());
                    }
                }
                Stmt::For(for_) => {
                    if let Expr::Name(name) = &*for_.iter {
                        self.benign.insert(name.start());
                    }
                }
                _ => {}
            }
            deep(|| visitor::walk_stmt(self, stmt));
        }
    }
    let mut uses = Uses {
        checker,
        parameter,
        benign: FxHashSet::default(),
        all: Vec::new(),
        released: false,
    };
    uses.visit_body(&def.body);
    uses.released || uses.all.iter().any(|at| !uses.benign.contains(at))
}

/// Names a function binds other than by plain assignment of a value it might open: its
/// parameters, imports, nested definitions, and assignment targets that are not simple names.
fn local_bindings(def: &ast::StmtFunctionDef) -> FxHashSet<&str> {
    struct Bindings<'a> {
        names: FxHashSet<&'a str>,
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Bindings<'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(def) => {
                    self.names.insert(def.name.as_str());
                    return;
                }
                Stmt::ClassDef(class) => {
                    self.names.insert(class.name.as_str());
                    return;
                }
                Stmt::Import(_) | Stmt::ImportFrom(_) => {
                    self.names
                        .extend(import_names(stmt).into_iter().map(|(name, ())| name));
                }
                _ => {}
            }
            deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
        }
    }
    let mut bindings = Bindings {
        names: def
            .parameters
            .iter()
            .map(|parameter| parameter.name().as_str())
            .collect(),
    };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut bindings, &def.body);
    bindings.names
}

/// `...`, `pass`, a docstring, or `raise NotImplementedError`: a body for others to override.
fn is_stub(def: &ast::StmtFunctionDef) -> bool {
    def.body.iter().all(|stmt| match stmt {
        Stmt::Pass(_) => true,
        Stmt::Expr(expr) => matches!(
            &*expr.value,
            Expr::EllipsisLiteral(_) | Expr::StringLiteral(_)
        ),
        Stmt::Raise(raise) => raise.exc.as_deref().is_some_and(|exc| {
            let exc = ruff_python_ast::helpers::map_callable(exc);
            matches!(exc, Expr::Name(name) if name.id.as_str() == "NotImplementedError")
        }),
        _ => false,
    })
}

/// Whether `stmt` (at any depth) assigns `name.attribute = ...`.
fn any_assignment_to(stmt: &Stmt, name: &str, attribute: &str) -> bool {
    struct Finder<'n> {
        name: &'n str,
        attribute: &'n str,
        found: bool,
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Finder<'_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::Assign(assign) = stmt {
                for target in &assign.targets {
                    if let Expr::Attribute(attr) = target
                        && attr.attr.as_str() == self.attribute
                        && matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == self.name)
                    {
                        self.found = true;
                    }
                }
            }
            deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
        }
    }
    let mut finder = Finder {
        name,
        attribute,
        found: false,
    };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_stmt(&mut finder, stmt);
    finder.found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick text test must never skip a file that calls a known constructor.
    #[test]
    fn every_constructor_contains_a_resource_word() {
        // Only the segments a file spells: not the `builtins` of a builtin.
        for (name, _) in CONSTRUCTORS {
            let spelled = name.strip_prefix("builtins.").unwrap_or(name);
            assert!(
                spelled
                    .split('.')
                    .any(|segment| RESOURCE_WORDS.iter().any(|word| segment.contains(word))),
                "`{name}` contains none of RESOURCE_WORDS"
            );
        }
        assert!(RESOURCE_WORDS.contains(&"open"), "`Path.open`");
    }

    /// The quick text test of a function body must never skip a call of a constructor.
    #[test]
    fn every_constructor_name_contains_a_constructor_word() {
        for segment in constructor_last_segments() {
            assert!(
                CONSTRUCTOR_WORDS.iter().any(|word| segment.contains(word)),
                "`{segment}` contains none of CONSTRUCTOR_WORDS"
            );
        }
    }
}
