//! Shutdown: the flag and the callbacks a phase wakes its loop with.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use ingest_service::Shutdown;

/// trigger sets the flag for every clone; a second trigger is harmless.
#[test]
fn trigger_sets_the_flag_for_every_clone() {
    let shutdown = Shutdown::new();
    let clone = shutdown.clone();
    assert!(!shutdown.is_triggered());
    clone.trigger();
    assert!(shutdown.is_triggered() && clone.is_triggered());
    shutdown.trigger();
    assert!(shutdown.is_triggered());
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

/// A callback sees the flag already set, so a woken loop that checks it finds shutdown.
#[test]
fn callbacks_run_after_the_flag_is_set() {
    let shutdown = Shutdown::new();
    let seen = Arc::new(AtomicUsize::new(0));
    let (s, c) = (shutdown.clone(), Arc::clone(&seen));
    shutdown.on_trigger(move || {
        c.store(usize::from(s.is_triggered()) + 1, Ordering::SeqCst);
    });
    shutdown.trigger();
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "callback ran and saw the flag set"
    );
}

/// install() registers SIGTERM: a real signal to this process triggers the flag and runs
/// the callbacks on the watcher thread.
#[test]
fn sigterm_triggers() {
    let shutdown = Shutdown::install().unwrap();
    let (tx, rx) = mpsc::channel();
    shutdown.on_trigger(move || {
        let _ = tx.send(std::thread::current().name().map(str::to_owned));
    });
    signal_self();
    let thread = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("SIGTERM ran the callback");
    assert_eq!(thread.as_deref(), Some("signals"));
    assert!(shutdown.is_triggered());
}

fn signal_self() {
    // std has no kill(); the `kill` command is everywhere this crate runs.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
