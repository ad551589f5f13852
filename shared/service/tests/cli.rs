//! The shared command line: defaults, sizes, durations, errors, the per-phase `--threads` help.

use std::time::Duration;

use ingest_service::host::cli::{parse_duration, parse_size};
use ingest_service::{Config, Phase};

const PHASE: Phase = Phase {
    name: "p9-test",
    threads_help: "Ignored: this phase has no threads to size",
};

/// Sizes: bytes, binary suffixes in any case, and clear errors.
#[test]
fn sizes() {
    assert_eq!(parse_size("1024"), Ok(1024));
    assert_eq!(parse_size("64k"), Ok(64 * 1024));
    assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
    assert_eq!(parse_size("1MiB"), Ok(1 << 20));
    assert_eq!(parse_size("2m"), Ok(2 << 20));
    assert_eq!(parse_size("1GiB"), Ok(1 << 30));
    assert_eq!(parse_size("10b"), Ok(10));
    for bad in [
        "",
        "MiB",
        "1.5MiB",
        "1 MiB",
        "-1",
        "1TiB",
        "0",
        "99999999999999999999",
    ] {
        assert!(parse_size(bad).is_err(), "{bad:?}");
    }
}

/// Durations: ms, s, m, h, bare seconds; zero and unknown units are errors.
#[test]
fn durations() {
    assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
    for bad in ["", "s", "0s", "0", "1.5s", "10x", "10 s", "-1s"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
}

/// The defaults are SPEC.md's, and become the connection limits.
#[test]
fn defaults() {
    let c = Config::from_args(&PHASE, ["p9-test"]).unwrap();
    assert_eq!(c.addr, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.data_dir, std::path::PathBuf::from("./data"));
    assert_eq!(c.threads, None);
    assert_eq!(c.max_conns, 20_000);
    assert_eq!(c.max_body, 1 << 20);
    assert_eq!(c.header_timeout, Duration::from_secs(10));
    assert_eq!(c.idle_timeout, Duration::from_secs(30));
    assert_eq!(c.log, "info");
    let limits = c.limits();
    assert_eq!((limits.max_body, limits.max_head), (1 << 20, 8 * 1024));
}

/// Every flag parses; the values reach Config and Limits.
#[test]
fn all_flags() {
    let c = Config::from_args(
        &PHASE,
        [
            "p9-test",
            "--addr",
            "0.0.0.0:0",
            "--data-dir",
            "/tmp/x",
            "--threads",
            "3",
            "--max-conns",
            "5",
            "--max-body",
            "64k",
            "--header-timeout",
            "500ms",
            "--idle-timeout",
            "2m",
            "--log",
            "debug,hyper=warn",
        ],
    )
    .unwrap();
    assert_eq!(c.threads, Some(3));
    assert_eq!(c.max_conns, 5);
    let limits = c.limits();
    assert_eq!(limits.max_body, 64 * 1024);
    assert_eq!(limits.header_timeout, Duration::from_millis(500));
    assert_eq!(limits.idle_timeout, Duration::from_secs(120));
}

/// Bad flags are clap errors, which exit with code 2.
#[test]
fn bad_flags_exit_2() {
    for args in [
        &["p9-test", "--nope"][..],
        &["p9-test", "--max-body", "lots"],
        &["p9-test", "--threads", "0"],
        &["p9-test", "--addr", "localhost"],
        &["p9-test", "--idle-timeout", "0s"],
        &["p9-test", "--log", "info,=[["],
    ] {
        let e = Config::from_args(&PHASE, args.iter().copied()).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
    }
}

/// `--help` names the phase and shows its own `--threads` help.
#[test]
fn help_is_per_phase() {
    let help = Config::command(&PHASE).render_long_help().to_string();
    assert!(
        help.contains("Ignored: this phase has no threads to size"),
        "{help}"
    );
    assert!(help.contains("p9-test"), "{help}");
    let e = Config::from_args(&PHASE, ["p9-test", "--help"]).unwrap_err();
    assert_eq!(e.exit_code(), 0);
}
