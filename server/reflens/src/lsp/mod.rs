//! `reflens server`: the language server, on tower-lsp-server.
//!
//! Handlers run concurrently, so document notifications update the store synchronously,
//! before any `.await`; analysis runs on blocking threads keyed by (uri, version), and a result
//! for a version that is no longer current is dropped. Handlers never await a request to the
//! client: such requests are spawned. Every publish of diagnostics comes from the one
//! background task, so they reach the client in order.
//!
//! stdin is read through `transport`, which turns malformed messages into error responses
//! instead of letting them end tower-lsp-server's reader.

mod convert;
mod documents;
mod index;
mod session;
mod transport;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tower_lsp_server::{LspService, Server};
use tracing_subscriber::EnvFilter;

use crate::ServerArgs;
use session::Backend;

pub fn run(args: &ServerArgs) -> ExitCode {
    if let Err(err) = init_logging(args.log_file.as_ref()) {
        eprintln!("reflens: cannot open the log file: {err}");
        return ExitCode::from(2);
    }
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("panic: {info}");
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Analyses run on the blocking threads and want a deep stack.
        .thread_stack_size(reflens_analysis::ANALYSIS_STACK)
        .thread_name("reflens-lsp")
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("reflens: cannot start the server: {err}");
            return ExitCode::from(2);
        }
    };
    let clean = runtime.block_on(async {
        let (service, socket) = LspService::build(Backend::new)
            .custom_method(transport::MALFORMED_METHOD, Backend::malformed)
            .finish();
        let shutdown = service.inner().shutdown_flag();
        // stdin goes through `transport::forward`, which keeps malformed messages from
        // stopping tower-lsp-server's reader.
        let (to_server, from_editor) = tokio::io::duplex(64 * 1024);
        tokio::spawn(transport::forward(tokio::io::stdin(), to_server));
        Server::new(from_editor, tokio::io::stdout(), socket)
            // Live-session commands may wait on a program for a while; enough room that they
            // never hold up document notifications (tower-lsp polls at most this many at once).
            .concurrency_level(64)
            .serve(service)
            .await;
        shutdown.load(Ordering::SeqCst)
    });
    // Background analyses may still hold blocking threads; do not wait for them.
    runtime.shutdown_background();
    tracing::info!("exit (shutdown requested first: {clean})");
    // LSP: exit with 0 after a `shutdown` request, with 1 otherwise.
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn init_logging(file: Option<&PathBuf>) -> std::io::Result<()> {
    let filter = EnvFilter::try_from_env("REFLENS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    // Never stdout: that is the LSP stream.
    match file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            builder.with_writer(Arc::new(file)).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}
