//! One live session: an agent process the server spawned (or a program it attached to), the
//! connection to it, its state, and the program's output.
//!
//! Requests never block anything else: each waits for its own answer with a timeout, a
//! dropped request (LSP cancellation) forgets its answer, and whatever the program does — raise,
//! exit, crash, hang, fork, flood its output — ends at most this session.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reflens_protocol::{
    AgentInfo, Command, ErrorBody, Message, Outcome, PROTOCOL_VERSION, PausedAt, Request,
    SessionState, StateChange,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};

/// The most of a program's output kept in its log file.
const MAX_LOG_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub enum LiveError {
    /// The agent answered with an error.
    Agent(ErrorBody),
    /// No answer in time.
    Timeout(Duration),
    /// The session has ended.
    Ended(String),
    /// The session could not be started or reached.
    Start(String),
}

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiveError::Agent(body) => f.write_str(&body.message),
            LiveError::Timeout(after) => write!(
                f,
                "the program did not answer within {:.1} s (it may be holding the GIL in C code)",
                after.as_secs_f64()
            ),
            LiveError::Ended(why) => write!(f, "the live session has ended: {why}"),
            LiveError::Start(why) => f.write_str(why),
        }
    }
}

/// What a session tells its manager.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    State {
        session: SessionDescription,
        change: StateChange,
    },
    Output {
        session: u64,
        text: String,
    },
}

/// Who a state change is about (carried in the event: the session may be gone by the time
/// the event is forwarded).
#[derive(Debug, Clone)]
pub struct SessionDescription {
    pub id: u64,
    pub root: PathBuf,
    pub target: Option<String>,
    pub pid: Option<u32>,
    pub python: Option<String>,
    pub log: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: SessionState,
    pub location: Option<PausedAt>,
    pub detail: Option<String>,
}

pub struct Session {
    pub id: u64,
    /// The workspace it belongs to.
    pub root: PathBuf,
    /// What it runs (`None` for an attached program or a session started only for growth).
    pub target: Mutex<Option<String>>,
    pub info: Mutex<Option<AgentInfo>>,
    /// The process the server spawned (its process group), for stopping it.
    pub pid: Option<u32>,
    pub log: PathBuf,
    state: Mutex<Snapshot>,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Outcome>>>>,
    next_id: AtomicU64,
    stopping: AtomicBool,
    events: mpsc::UnboundedSender<SessionEvent>,
}

/// Forgets a pending request when its future is dropped (cancelled or timed out).
struct PendingGuard {
    id: u64,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Outcome>>>>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

pub struct SpawnOptions<'a> {
    pub id: u64,
    pub python: &'a Path,
    pub root: &'a Path,
    pub cwd: &'a Path,
    /// The directory with `reflens_agent/` in it.
    pub agent_path: &'a Path,
    pub log: PathBuf,
}

impl Session {
    /// Starts `python -m reflens_agent` with one end of a socket pair as its fd 3, its output
    /// into the log, in a process group of its own (so that forked children can be stopped).
    pub async fn spawn(
        options: SpawnOptions<'_>,
        events: mpsc::UnboundedSender<SessionEvent>,
    ) -> Result<Arc<Session>, LiveError> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(|err| {
            LiveError::Start(format!("cannot create the session's socket: {err}"))
        })?;
        let their_fd = theirs.as_raw_fd();
        let python_path = match std::env::var_os("PYTHONPATH") {
            Some(existing) if !existing.is_empty() => {
                let mut joined = options.agent_path.as_os_str().to_owned();
                joined.push(":");
                joined.push(existing);
                joined
            }
            _ => options.agent_path.as_os_str().to_owned(),
        };
        let mut command = tokio::process::Command::new(options.python);
        command
            .args(["-u", "-m", "reflens_agent", "--fd", "3"])
            .env("PYTHONPATH", python_path)
            .env("PYTHONUNBUFFERED", "1")
            .current_dir(options.cwd)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: only async-signal-safe calls (dup2, fcntl, setsid) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if their_fd == 3 {
                    if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(their_fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|err| {
            LiveError::Start(format!(
                "cannot start `{}`: {err}",
                options.python.display()
            ))
        })?;
        drop(theirs);
        let pid = child.id();
        ours.set_nonblocking(true)
            .map_err(|err| LiveError::Start(format!("cannot use the session's socket: {err}")))?;
        let stream = UnixStream::from_std(ours)
            .map_err(|err| LiveError::Start(format!("cannot use the session's socket: {err}")))?;

        if let Some(parent) = options.log.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let log = Arc::new(Mutex::new(LogFile::create(&options.log)));
        let session = Session::new(
            options.id,
            options.root,
            pid,
            options.log.clone(),
            stream,
            events,
        );
        for pipe in [
            child.stdout.take().map(Pipe::Out),
            child.stderr.take().map(Pipe::Err),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(forward_output(
                pipe,
                log.clone(),
                session.id,
                session.events.clone(),
            ));
        }
        // Reap the process, and report how it ended.
        let watcher = session.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            watcher.process_ended(status.ok(), &log);
        });
        Ok(session)
    }

    /// Connects to a program that called `reflens_agent.listen()`.
    pub async fn attach(
        id: u64,
        root: &Path,
        socket: &Path,
        log: PathBuf,
        events: mpsc::UnboundedSender<SessionEvent>,
    ) -> Result<Arc<Session>, LiveError> {
        let stream = UnixStream::connect(socket).await.map_err(|err| {
            LiveError::Start(format!("cannot connect to {}: {err}", socket.display()))
        })?;
        Ok(Session::new(id, root, None, log, stream, events))
    }

    fn new(
        id: u64,
        root: &Path,
        pid: Option<u32>,
        log: PathBuf,
        stream: UnixStream,
        events: mpsc::UnboundedSender<SessionEvent>,
    ) -> Arc<Session> {
        let (read, write) = stream.into_split();
        let session = Arc::new(Session {
            id,
            root: root.to_owned(),
            target: Mutex::new(None),
            info: Mutex::new(None),
            pid,
            log,
            state: Mutex::new(Snapshot {
                state: SessionState::Starting,
                location: None,
                detail: None,
            }),
            writer: tokio::sync::Mutex::new(write),
            pending: Arc::new(Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
            events,
        });
        tokio::spawn(read_messages(session.clone(), read));
        session
    }

    /// Says hello (with the token of an attached program's endpoint).
    pub async fn hello(&self, token: Option<String>) -> Result<AgentInfo, LiveError> {
        let value = self
            .request(
                Command::Hello {
                    protocol: PROTOCOL_VERSION,
                    token,
                },
                Duration::from_secs(20),
            )
            .await?;
        let info: AgentInfo = serde_json::from_value(value)
            .map_err(|err| LiveError::Start(format!("the agent answered hello oddly: {err}")))?;
        *self.info.lock().unwrap_or_else(|e| e.into_inner()) = Some(info.clone());
        Ok(info)
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether requests can still be sent.
    pub fn is_alive(&self) -> bool {
        !matches!(
            self.snapshot().state,
            SessionState::Exited | SessionState::Crashed
        )
    }

    pub fn set_state(&self, change: StateChange) {
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(state.state, SessionState::Exited | SessionState::Crashed) {
                return;
            }
            state.state = change.state;
            state.location = change.location.clone();
            state.detail = change.detail.clone();
        }
        let _ = self.events.send(SessionEvent::State {
            session: self.describe(),
            change,
        });
    }

    pub fn describe(&self) -> SessionDescription {
        let info = self.info.lock().unwrap_or_else(|e| e.into_inner()).clone();
        SessionDescription {
            id: self.id,
            root: self.root.clone(),
            target: self
                .target
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            pid: self.pid.or(info.as_ref().map(|i| i.pid)),
            python: info.map(|i| i.python),
            log: self.log.clone(),
        }
    }

    /// Sends a request and waits for its answer (at most `timeout`).
    pub async fn request(
        &self,
        command: Command,
        timeout: Duration,
    ) -> Result<serde_json::Value, LiveError> {
        if !self.is_alive() {
            return Err(LiveError::Ended(
                self.snapshot()
                    .detail
                    .unwrap_or_else(|| "it has stopped".into()),
            ));
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (sender, receiver) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, sender);
        let _guard = PendingGuard {
            id,
            pending: self.pending.clone(),
        };
        let mut line = reflens_protocol::to_line(&Request { id, command });
        line.push('\n');
        {
            let mut writer = self.writer.lock().await;
            writer
                .write_all(line.as_bytes())
                .await
                .map_err(|err| LiveError::Ended(format!("cannot write to the agent: {err}")))?;
        }
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(Outcome::Result(value))) => Ok(value),
            Ok(Ok(Outcome::Error(body))) => Err(LiveError::Agent(body)),
            Ok(Err(_)) => Err(LiveError::Ended(
                self.snapshot()
                    .detail
                    .unwrap_or_else(|| "the agent went away".into()),
            )),
            Err(_) => Err(LiveError::Timeout(timeout)),
        }
    }

    /// Ends the session: asks the agent to stop, then kills its process group.
    pub async fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if self.is_alive() {
            let _ = self.request(Command::Stop, Duration::from_secs(2)).await;
        }
        self.kill();
    }

    /// Kills the spawned process group (the program and anything it forked).
    pub fn kill(&self) {
        if let Some(pid) = self.pid {
            // SAFETY: a plain system call; the group id is the child's pid (setsid above).
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }

    /// Drops every pending request's sender: their waiters get "the session has ended".
    fn fail_pending(&self) {
        let pending: Vec<_> = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        drop(pending);
    }

    /// The connection ended or the process exited: fail what is pending and say how it ended.
    fn connection_closed(&self, detail: String) {
        self.fail_pending();
        if self.pid.is_none() {
            // An attached program goes on; only the session ends.
            self.finish(SessionState::Exited, detail);
        }
    }

    fn process_ended(&self, status: Option<std::process::ExitStatus>, log: &Arc<Mutex<LogFile>>) {
        self.fail_pending();
        // Whatever it forked goes with it.
        self.kill();
        let stopping = self.stopping.load(Ordering::SeqCst);
        let before = self.snapshot();
        let (state, how) = match status {
            Some(status) if status.success() => {
                (SessionState::Exited, "the program exited".to_owned())
            }
            Some(status) => {
                use std::os::unix::process::ExitStatusExt;
                match (status.code(), status.signal()) {
                    (Some(code), _) => (
                        SessionState::Crashed,
                        format!("the program exited with status {code}"),
                    ),
                    (None, Some(signal)) => (
                        if stopping {
                            SessionState::Exited
                        } else {
                            SessionState::Crashed
                        },
                        format!(
                            "the program was killed by signal {signal} ({})",
                            signal_name(signal)
                        ),
                    ),
                    _ => (SessionState::Crashed, "the program ended".to_owned()),
                }
            }
            None => (SessionState::Crashed, "the program ended".to_owned()),
        };
        let state = if stopping {
            SessionState::Exited
        } else {
            state
        };
        let mut detail = how;
        if state == SessionState::Crashed {
            let tail = log.lock().unwrap_or_else(|e| e.into_inner()).tail(2000);
            if !tail.trim().is_empty() {
                detail.push_str("; last output:\n");
                detail.push_str(tail.trim_end());
            }
        } else if let Some(previous) = before
            .detail
            .filter(|_| before.state == SessionState::Finished)
        {
            detail = format!("{detail} ({previous})");
        }
        self.finish(state, detail);
    }

    fn finish(&self, state: SessionState, detail: String) {
        {
            let mut current = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(current.state, SessionState::Exited | SessionState::Crashed) {
                return;
            }
            current.state = state;
            current.location = None;
            current.detail = Some(detail.clone());
        }
        let _ = self.events.send(SessionEvent::State {
            session: self.describe(),
            change: StateChange {
                state,
                location: None,
                detail: Some(detail),
            },
        });
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the agent's messages: answers go to their requests, events change the state.
async fn read_messages(session: Arc<Session>, read: tokio::net::unix::OwnedReadHalf) {
    let mut lines = BufReader::new(read).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => match serde_json::from_str::<Message>(&line) {
                Ok(Message::Response(response)) => {
                    let sender = session
                        .pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&response.id);
                    if let Some(sender) = sender {
                        let _ = sender.send(response.outcome);
                    }
                }
                Ok(Message::Event(reflens_protocol::Event::State(change))) => {
                    session.set_state(change)
                }
                Ok(Message::Event(reflens_protocol::Event::Hello(_))) => {}
                Err(err) => tracing::warn!(
                    "session {}: unreadable message from the agent: {err}",
                    session.id
                ),
            },
            Ok(None) | Err(_) => {
                session.connection_closed("the connection to the program closed".to_owned());
                return;
            }
        }
    }
}

enum Pipe {
    Out(tokio::process::ChildStdout),
    Err(tokio::process::ChildStderr),
}

/// Copies the program's output into its log (capped) and to the editor (batched, so that a
/// flood cannot swamp the LSP connection: at most 16 KiB every 200 ms, the rest is counted).
async fn forward_output(
    pipe: Pipe,
    log: Arc<Mutex<LogFile>>,
    session: u64,
    events: mpsc::UnboundedSender<SessionEvent>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut batch = String::new();
    let mut dropped = 0usize;
    let mut last_flush = tokio::time::Instant::now();
    let mut reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match pipe {
        Pipe::Out(out) => Box::new(out),
        Pipe::Err(err) => Box::new(err),
    };
    loop {
        let read = match tokio::time::timeout(Duration::from_millis(200), reader.read(&mut buffer))
            .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => 0,
        };
        if read > 0 {
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .write(&buffer[..read]);
            if batch.len() < 16 * 1024 {
                batch.push_str(&String::from_utf8_lossy(&buffer[..read]));
            } else {
                dropped += read;
            }
        }
        if last_flush.elapsed() >= Duration::from_millis(200) && (!batch.is_empty() || dropped > 0)
        {
            if dropped > 0 {
                batch.push_str(&format!(
                    "\n[reflens: {dropped} more bytes of output, see the session log]\n"
                ));
                dropped = 0;
            }
            let _ = events.send(SessionEvent::Output {
                session,
                text: std::mem::take(&mut batch),
            });
            last_flush = tokio::time::Instant::now();
        }
    }
    if !batch.is_empty() {
        let _ = events.send(SessionEvent::Output {
            session,
            text: batch,
        });
    }
}

/// The program's output on disk, up to [`MAX_LOG_BYTES`].
struct LogFile {
    file: Option<std::fs::File>,
    written: u64,
    tail: Vec<u8>,
}

impl LogFile {
    fn create(path: &Path) -> Self {
        Self {
            file: std::fs::File::create(path).ok(),
            written: 0,
            tail: Vec::new(),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > 8192 {
            let cut = self.tail.len() - 8192;
            self.tail.drain(..cut);
        }
        if self.written >= MAX_LOG_BYTES {
            return;
        }
        if let Some(file) = &mut self.file {
            let room = (MAX_LOG_BYTES - self.written) as usize;
            let part = &bytes[..bytes.len().min(room)];
            let _ = file.write_all(part);
            self.written += part.len() as u64;
            if self.written >= MAX_LOG_BYTES {
                let _ = file.write_all(b"\n[reflens: the log is full; later output is not kept]\n");
            }
        }
    }

    fn tail(&self, max: usize) -> String {
        let start = self.tail.len().saturating_sub(max);
        String::from_utf8_lossy(&self.tail[start..]).into_owned()
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV, a segmentation fault",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        _ => "a signal",
    }
}
