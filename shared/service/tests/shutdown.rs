//! Shutdown: the flag, waiting, callbacks and the self-pipe a reactor registers.

use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_service::Shutdown;

/// trigger sets the flag for every clone and wakes a thread blocked in wait.
#[test]
fn trigger_wakes_waiters() {
    let shutdown = Shutdown::new();
    assert!(!shutdown.is_triggered());
    assert!(!shutdown.wait_timeout(Duration::from_millis(20)));
    let waiter = {
        let s = shutdown.clone();
        std::thread::spawn(move || s.wait())
    };
    std::thread::sleep(Duration::from_millis(20));
    shutdown.clone().trigger();
    waiter.join().unwrap();
    assert!(shutdown.is_triggered());
    let start = Instant::now();
    assert!(shutdown.wait_timeout(Duration::from_secs(5)));
    assert!(start.elapsed() < Duration::from_secs(1));
    shutdown.trigger(); // a second trigger is harmless
}

/// Callbacks run once on trigger; one registered afterwards runs at once.
#[test]
fn on_trigger_callbacks() {
    let shutdown = Shutdown::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    shutdown.on_trigger(move || {
        c.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    shutdown.trigger();
    shutdown.trigger();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let c = Arc::clone(&calls);
    shutdown.on_trigger(move || {
        c.fetch_add(10, Ordering::SeqCst);
    });
    assert_eq!(calls.load(Ordering::SeqCst), 11);
}

/// The subscribed pipe is non-blocking, empty until trigger, then holds one byte; a pipe
/// subscribed after the trigger is readable at once.
#[test]
fn subscribe_pipe_becomes_readable() {
    let shutdown = Shutdown::new();
    let mut pipe = shutdown.subscribe().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        pipe.read(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    shutdown.trigger();
    assert_eq!(pipe.read(&mut buf).unwrap(), 1);
    let mut late = shutdown.subscribe().unwrap();
    assert_eq!(late.read(&mut buf).unwrap(), 1);
}

/// install() registers SIGTERM: a real signal to this process triggers the flag.
#[test]
fn sigterm_triggers() {
    let shutdown = Shutdown::install().unwrap();
    signal_self();
    assert!(shutdown.wait_timeout(Duration::from_secs(5)));
}

fn signal_self() {
    // std has no kill(); the `kill` command is everywhere this crate runs.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
