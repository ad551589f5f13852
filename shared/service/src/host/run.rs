//! [`main_with`]: the `main` of every phase, so that each phase's `main.rs` is five lines and
//! every phase starts, reports errors and stops the same way (SPEC.md, "Command line").
//!
//! ```no_run
//! use ingest_service::{main_with, Phase};
//!
//! fn main() -> std::process::ExitCode {
//!     let phase = Phase { name: "p1-blocking", threads_help: "Ignored: one thread per connection" };
//!     main_with(phase, |server| {
//!         // serve connections on server.listener until server.shutdown triggers...
//!         while !server.shutdown.is_triggered() {
//!             std::thread::sleep(std::time::Duration::from_millis(100));
//!         }
//!         Ok(())
//!     })
//! }
//! ```

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;

use socket2::{Domain, Socket, Type};

use crate::{init_tracing, Config, Phase, Service, Shutdown};

// ANCHOR: listen_backlog
/// The accept queue length asked of the kernel. std's `TcpListener::bind` asks for 128,
/// which a burst of thousands of connects overflows (the kernel then drops SYNs and clients
/// retry after a second). Linux caps it at `net.core.somaxconn` (4096 by default since 5.4).
pub const LISTEN_BACKLOG: i32 = 1024;
// ANCHOR_END: listen_backlog

/// Everything a phase needs to serve: handed to the `serve` closure of [`main_with`].
#[derive(Debug)]
pub struct Server {
    /// Bound and listening (blocking mode; a phase that wants non-blocking sets it).
    pub listener: TcpListener,
    /// The shared service. When `serve` returns, `main_with` calls [`Service::finish`].
    pub service: Arc<Service>,
    /// Triggered by SIGINT / SIGTERM. `serve` must return once it fires and connections
    /// are drained (at most [`crate::DRAIN_TIMEOUT`] later).
    pub shutdown: Shutdown,
    /// The parsed command line (`threads`, `addr` for phases binding extra listeners, ...).
    pub config: Config,
}

/// Parses the command line, starts logging, ignores `SIGXFSZ` ([`ignore_sigxfsz`]), opens
/// the event log, binds the listener, installs the signal handlers, prints
/// `listening on http://IP:PORT (phase NAME, pid PID)`, runs `serve`, then drains and syncs
/// the log.
///
/// Exit codes: 0 after a clean shutdown; 2 for bad flags (clap's message); 1 for anything
/// else, with one `error: ...` line on stderr and no backtrace.
pub fn main_with(phase: Phase, serve: impl FnOnce(Server) -> io::Result<()>) -> ExitCode {
    let config = match Config::from_args(&phase, std::env::args_os()) {
        Ok(config) => config,
        // Prints the message (or the help) and exits 2 (or 0).
        Err(e) => e.exit(),
    };
    init_tracing(&config.log);
    ignore_sigxfsz();
    match run(phase, config, serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Not `eprintln!`, which panics when stderr cannot be written (a full disk).
            let _ = writeln!(io::stderr(), "error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    phase: Phase,
    config: Config,
    serve: impl FnOnce(Server) -> io::Result<()>,
) -> Result<(), String> {
    let service = Service::open(phase.name, &config).map_err(|e| {
        format!(
            "cannot open data dir {}: {}",
            config.data_dir.display(),
            describe(&e)
        )
    })?;
    let service = Arc::new(service);
    let listener = bind(config.addr, false)
        .map_err(|e| format!("cannot listen on {}: {}", config.addr, describe(&e)))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {}", describe(&e)))?;
    let shutdown = Shutdown::install()
        .map_err(|e| format!("cannot install signal handlers: {}", describe(&e)))?;

    // The one line on stdout: tests and the bench read the port from it, so flush it now.
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "listening on http://{local} (phase {}, pid {})",
        phase.name,
        std::process::id()
    )
    .and_then(|()| stdout.flush())
    .map_err(|e| format!("cannot write to stdout: {}", describe(&e)))?;
    drop(stdout);
    tracing::info!(addr = %local, phase = phase.name, "serving");

    let served = serve(Server {
        listener,
        service: Arc::clone(&service),
        shutdown,
        config,
    });
    // Finish the log even when serving failed: what was acknowledged must reach the disk.
    let finished = service.finish();
    served.map_err(|e| format!("serving failed: {}", describe(&e)))?;
    finished.map_err(|e| format!("cannot write the event log: {}", describe(&e)))
}

/// Makes a write past the file-size limit (`RLIMIT_FSIZE`, `ulimit -f`, `prlimit --fsize`)
/// fail with `EFBIG` instead of killing the process. By default the kernel sends `SIGXFSZ`,
/// whose default action ends the process (with a core dump) before the writer could cut the
/// file back or answer `503`; ignored, the `write` returns `EFBIG` and the event log handles it
/// like a full disk (SPEC.md, "Storage").
pub fn ignore_sigxfsz() {
    // SAFETY: `signal(2)` with `SIG_IGN` installs no handler code, so nothing can run in
    // signal context; it only changes this process's disposition of one signal, which no
    // other code in the process relies on.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

// ANCHOR: bind
/// Binds `addr` with `SO_REUSEADDR` (a restarted server can bind while old connections sit
/// in TIME_WAIT) and a [`LISTEN_BACKLOG`]-long accept queue. With `reuse_port`, also
/// `SO_REUSEPORT` before the bind, to join a group of listeners on the same port (phase 4's
/// reactors; `main_with` binds without it, so that a second server on the port fails).
pub fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    // socket2 opens sockets with SOCK_CLOEXEC, as std does.
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}
// ANCHOR_END: bind

/// An I/O error as a person reads it: `Permission denied`, without std's `(os error 13)`.
pub fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

// ANCHOR: run_loops
/// Runs `run(id, item)` for every item on a thread of its own, named `{name}-{id}`, and
/// returns once all have returned: the first error of any, or `Ok`. The phases with a loop
/// per core (p4's reactors, p6's rings) start theirs this way.
///
/// A loop that fails or panics triggers `shutdown`, so the others drain and stop and the
/// server reports the failure rather than go on with fewer loops than asked. A thread that
/// cannot be started does the same, after the ones already started have stopped.
pub fn run_loops<T: Send + 'static>(
    name: &'static str,
    items: Vec<T>,
    shutdown: &Shutdown,
    run: impl Fn(usize, T) -> io::Result<()> + Clone + Send + 'static,
) -> io::Result<()> {
    let mut first_error = None;
    let mut running = Vec::with_capacity(items.len());
    for (id, item) in items.into_iter().enumerate() {
        let (run, on_failure) = (run.clone(), shutdown.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("{name}-{id}"))
            .spawn(move || {
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(id, item)))
                        .unwrap_or_else(|_| Err(io::Error::other(format!("{name} {id} panicked"))));
                if let Err(e) = &result {
                    tracing::error!("{name} {id} failed, shutting the server down: {e}");
                    on_failure.trigger();
                }
                result
            });
        match spawned {
            Ok(handle) => running.push(handle),
            Err(e) => {
                first_error = Some(e);
                shutdown.trigger();
                break;
            }
        }
    }
    for handle in running {
        // Panics are caught inside the thread, so `join` itself cannot fail.
        if let Err(e) = handle.join().expect("loop threads catch their panics") {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
// ANCHOR_END: run_loops
