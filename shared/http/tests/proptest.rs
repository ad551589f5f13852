//! Property tests: no input makes the parser or `Conn` panic, and on generated valid heads
//! the parser agrees with `httparse` (a dev-dependency, used only as an oracle).

mod common;
use std::time::Instant;

use common::Echo;
use ingest_http::parse::{parse_head, MAX_HEADER_SLOTS};
use ingest_http::{Conn, Header, Limits, Version};
use proptest::prelude::*;

const VALID: &[u8] = b"POST /ingest?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\
    Connection: keep-alive\r\n\r\nhelloGET / HTTP/1.0\r\n\r\n\
    POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n";

/// Feeds `bytes` to a connection in the given read sizes, draining output as it goes.
fn drive(bytes: &[u8], sizes: &[usize]) {
    let echo = Echo::with_limits(Limits {
        high_water_mark: 300,
        ..Limits::default()
    });
    let now = Instant::now();
    let mut conn = Conn::with_limits(now, &echo.limits);
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() && !conn.is_done() {
        let n = sizes
            .get(i)
            .copied()
            .unwrap_or(rest.len())
            .clamp(1, rest.len());
        i += 1;
        if conn.wants_read() {
            conn.on_read(&rest[..n], now, &echo);
            rest = &rest[n..];
        }
        let out = conn.output().len();
        conn.on_written(out / 2 + 1, now, &echo);
    }
    conn.on_read_eof(now);
    while conn.wants_write() {
        conn.on_written(conn.output().len(), now, &echo);
    }
    conn.on_deadline(now + std::time::Duration::from_secs(3600));
    assert!(conn.is_done());
}

/// A mutation: overwrite, insert or delete one byte at a position.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![
        Just(b'\r'),
        Just(b'\n'),
        Just(b' '),
        Just(b':'),
        Just(b';'),
        any::<u8>()
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Set(i, b) if !bytes.is_empty() => bytes[i % len] = b,
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % len);
            }
            _ => {}
        }
    }
    bytes
}

/// A generated valid request head and what it should parse to.
#[derive(Debug, Clone)]
struct GeneratedHead {
    bytes: Vec<u8>,
    method: String,
    target: String,
    minor: u8,
    headers: Vec<(String, String)>,
}

fn valid_head() -> impl Strategy<Value = GeneratedHead> {
    let method = "[A-Z]{1,8}";
    let target = "/[a-zA-Z0-9/._~%-]{0,40}(\\?[a-z0-9=&]{0,12})?";
    let name = "X-[A-Za-z0-9!#$%&'*+.^_`|~-]{0,16}";
    let value = "([!-~\u{80}-\u{ff}]([ -~\t]{0,30}[!-~])?)?";
    (
        method,
        target,
        0u8..2,
        prop::collection::vec((name, value), 0..20),
    )
        .prop_map(|(method, target, minor, mut headers)| {
            headers.insert(0, ("Host".to_string(), "example.com".to_string()));
            let mut bytes = format!("{method} {target} HTTP/1.{minor}\r\n").into_bytes();
            for (n, v) in &headers {
                bytes.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
            bytes.extend_from_slice(b"\r\n");
            GeneratedHead {
                bytes,
                method,
                target,
                minor,
                headers,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random bytes never panic the parser, the scanner or `Conn`.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600),
                                sizes in prop::collection::vec(1usize..40, 0..20)) {
        let mut slots = [Header::EMPTY; MAX_HEADER_SLOTS];
        let _ = parse_head(&bytes, &Limits::default(), &mut slots);
        let _ = ingest_http::scan::HeadScan::default().scan(&bytes, &Limits::default());
        drive(&bytes, &sizes);
    }

    /// Mutations of a valid pipeline never panic, however the bytes are split.
    #[test]
    fn mutated_requests_never_panic(mutations in prop::collection::vec(mutation(), 1..6),
                                    sizes in prop::collection::vec(1usize..30, 0..20)) {
        let bytes = apply(VALID.to_vec(), &mutations);
        let mut slots = [Header::EMPTY; MAX_HEADER_SLOTS];
        let _ = parse_head(&bytes, &Limits::default(), &mut slots);
        drive(&bytes, &sizes);
    }

    /// On valid heads the parser agrees with httparse on method, target, version, headers.
    #[test]
    fn agrees_with_httparse(head in valid_head()) {
        let mut slots = [Header::EMPTY; MAX_HEADER_SLOTS];
        let (ours, len) = parse_head(&head.bytes, &Limits::default(), &mut slots)
            .expect("valid head").expect("complete head");
        let mut theirs_slots = [httparse::EMPTY_HEADER; MAX_HEADER_SLOTS];
        let mut theirs = httparse::Request::new(&mut theirs_slots);
        let status = theirs.parse(&head.bytes).expect("httparse accepts it");
        prop_assert_eq!(status, httparse::Status::Complete(len));
        prop_assert_eq!(len, head.bytes.len());
        prop_assert_eq!(Some(ours.method), theirs.method);
        prop_assert_eq!(Some(ours.target), theirs.path);
        prop_assert_eq!(ours.method, head.method.as_str());
        prop_assert_eq!(ours.target, head.target.as_str());
        let version = if head.minor == 1 { Version::Http11 } else { Version::Http10 };
        prop_assert_eq!(ours.version, version);
        prop_assert_eq!(theirs.version, Some(head.minor));
        prop_assert_eq!(ours.headers.len(), theirs.headers.len());
        for (a, b) in ours.headers.iter().zip(theirs.headers.iter()) {
            prop_assert_eq!(a.name, b.name);
            prop_assert_eq!(a.value, b.value);
        }
        for (a, (name, value)) in ours.headers.iter().zip(&head.headers) {
            prop_assert_eq!(a.name, name.as_str());
            prop_assert_eq!(a.value, value.as_bytes());
        }
    }
}
