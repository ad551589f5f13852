//! loadgen against tiny in-test servers (std `TcpListener`, a thread per
//! connection), each misbehaving in one known way, so every count can be checked
//! exactly. The servers are threads of this test process: they end with it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bench::loadgen::{self, LoadConfig, Mode, Report, RequestSpec, Target};

/// What the test server does with the request it just read (numbered from 0
/// across all connections).
#[derive(Clone, Copy)]
enum Reply {
    Status(u16),
    /// Sleep, then answer 200: a server stall.
    StallThenOk(Duration),
    /// Close the connection without answering.
    Close,
    /// Never answer (keep the connection open).
    Silent,
    /// Answer bytes that are not HTTP.
    Garbage,
}

struct TestServer {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
}

fn start_server(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let reply = Arc::new(reply);
    let (req, conns) = (requests.clone(), connections.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            conns.fetch_add(1, Ordering::SeqCst);
            let (req, reply) = (req.clone(), reply.clone());
            thread::spawn(move || serve_connection(stream, &req, &*reply));
        }
    });
    TestServer {
        addr,
        requests,
        connections,
    }
}

/// Reads bodiless requests (the tests send GET) and answers each per `reply`.
fn serve_connection(mut stream: TcpStream, counter: &AtomicUsize, reply: &dyn Fn(usize) -> Reply) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let out: Vec<u8> = match reply(n) {
                Reply::Status(code) => {
                    format!("HTTP/1.1 {code} X\r\nContent-Length: 2\r\n\r\nok").into_bytes()
                }
                Reply::StallThenOk(d) => {
                    thread::sleep(d);
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()
                }
                Reply::Close => return,
                Reply::Silent => {
                    thread::sleep(Duration::from_secs(30));
                    return;
                }
                Reply::Garbage => b"SSH-2.0-OpenSSH\r\n\r\n".to_vec(),
            };
            if stream.write_all(&out).is_err() {
                return;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

fn config(server: &TestServer, connections: usize) -> LoadConfig {
    let target = Target::parse(&format!("http://{}/health", server.addr)).unwrap();
    let request = RequestSpec {
        method: "GET".into(),
        headers: vec![],
        body: vec![],
    };
    let mut c = LoadConfig::new(target, request);
    c.connections = connections;
    c.timeout = Duration::from_secs(5);
    c
}

fn run(c: &LoadConfig) -> Report {
    loadgen::run(c).expect("run starts")
}

/// `-n` gives exact totals: C x N requests sent, answered, and counted once each.
#[test]
fn exact_counts_with_requests_per_connection() {
    let server = start_server(|_| Reply::Status(200));
    let mut c = config(&server, 8);
    c.threads = 2;
    c.requests_per_connection = Some(25);
    let r = run(&c);
    assert_eq!(r.outcomes.ok, 200);
    assert_eq!(r.outcomes.total(), 200);
    assert_eq!(r.statuses.get(&200), Some(&200));
    assert_eq!(r.unfinished, 0);
    assert_eq!(server.requests.load(Ordering::SeqCst), 200);
    assert_eq!(server.connections.load(Ordering::SeqCst), 8);
}

/// Pipelining still yields exact totals, including a last partial batch.
#[test]
fn exact_counts_with_pipelining() {
    let server = start_server(|_| Reply::Status(200));
    let mut c = config(&server, 3);
    c.requests_per_connection = Some(10);
    c.pipeline = 4;
    let r = run(&c);
    assert_eq!((r.outcomes.ok, r.outcomes.total()), (30, 30));
    assert_eq!(server.requests.load(Ordering::SeqCst), 30);
}

/// `--new-conn` opens one connection per request and counts each answer.
#[test]
fn new_connection_per_request() {
    let server = start_server(|_| Reply::Status(200));
    let mut c = config(&server, 4);
    c.mode = Mode::NewConnection;
    c.requests_per_connection = Some(5);
    let r = run(&c);
    assert_eq!(r.outcomes.ok, 20);
    assert_eq!(server.connections.load(Ordering::SeqCst), 20);
}

/// A server answering 500 is counted as answered with another status, not success.
#[test]
fn server_errors_are_counted_as_such() {
    let server = start_server(|n| Reply::Status(if n % 2 == 0 { 500 } else { 200 }));
    let mut c = config(&server, 1);
    c.requests_per_connection = Some(10);
    let r = run(&c);
    assert_eq!(r.outcomes.ok, 5);
    assert_eq!(r.outcomes.other_status, 5);
    assert_eq!(r.statuses.get(&500), Some(&5));
    assert_eq!(r.success_pct, 50.0);
}

/// A connection closed before the answer counts as a reset, once per request.
#[test]
fn closed_connections_are_counted_as_resets() {
    let server = start_server(|n| {
        if n % 3 == 0 {
            Reply::Close
        } else {
            Reply::Status(200)
        }
    });
    let mut c = config(&server, 2);
    c.requests_per_connection = Some(6);
    let r = run(&c);
    assert_eq!(r.outcomes.total(), 12);
    assert_eq!(r.outcomes.ok + r.outcomes.reset, 12);
    assert_eq!(r.outcomes.reset, 4);
}

/// Nothing listening: every attempt is a refused connect, none a success.
#[test]
fn refused_connections_are_counted() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let mut c = LoadConfig::new(
        target,
        RequestSpec {
            method: "GET".into(),
            headers: vec![],
            body: vec![],
        },
    );
    c.connections = 2;
    c.requests_per_connection = Some(3);
    let r = run(&c);
    assert_eq!(r.outcomes.connect_refused, 6);
    assert_eq!(r.outcomes.ok, 0);
}

/// A server that never answers yields timeouts after the configured timeout.
#[test]
fn silent_server_times_out() {
    let server = start_server(|_| Reply::Silent);
    let mut c = config(&server, 3);
    c.requests_per_connection = Some(1);
    c.timeout = Duration::from_millis(200);
    let r = run(&c);
    assert_eq!(r.outcomes.timeout, 3);
    assert_eq!(r.outcomes.total(), 3);
    assert!(r.elapsed_s < 2.0, "took {}s", r.elapsed_s);
}

/// Bytes that are not an HTTP response are a bad response, never a success.
#[test]
fn garbage_is_a_bad_response() {
    let server = start_server(|_| Reply::Garbage);
    let mut c = config(&server, 1);
    c.requests_per_connection = Some(2);
    let r = run(&c);
    assert_eq!(r.outcomes.bad_response, 2);
    assert_eq!(r.outcomes.ok, 0);
}

/// Open loop measures from the scheduled send time: one 200 ms stall delays the
/// ~20 requests scheduled during it, and their latencies show it. The closed loop
/// against the same server hides the stall in a single slow request.
#[test]
fn rate_mode_measures_from_intended_send_time() {
    let stalled = |n: usize| {
        if n == 10 {
            Reply::StallThenOk(Duration::from_millis(200))
        } else {
            Reply::Status(200)
        }
    };
    let server = start_server(stalled);
    let mut c = config(&server, 1);
    c.mode = Mode::Rate(100.0);
    c.duration = Duration::from_millis(1500);
    let open = run(&c);
    assert!(open.outcomes.ok >= 100, "ok {}", open.outcomes.ok);
    assert!(open.latency.max_ms >= 190.0, "max {}", open.latency.max_ms);
    // ~20 of ~150 requests waited behind the stall, 10 of them >= 100 ms.
    assert!(
        open.latency.p90_ms >= 50.0,
        "open-loop p90 {}",
        open.latency.p90_ms
    );

    let server = start_server(stalled);
    let mut c = config(&server, 1);
    c.requests_per_connection = Some(150);
    let closed = run(&c);
    assert!(closed.latency.max_ms >= 190.0);
    assert!(
        closed.latency.p90_ms < 50.0,
        "closed-loop p90 {}",
        closed.latency.p90_ms
    );
}

/// Two of four clients never get an answer: every answered request succeeded
/// (100 % success), yet only half the connections were served, and goodput
/// counts only the 2xx.
#[test]
fn starved_connections_are_not_served() {
    // Requests 0 and 1 are necessarily the first of two different connections (a
    // silent connection never sends a second one); every later request is answered.
    let server = start_server(|n| {
        if n < 2 {
            Reply::Silent
        } else {
            Reply::Status(200)
        }
    });
    let mut c = config(&server, 4);
    c.duration = Duration::from_millis(800);
    let r = run(&c);
    assert!(r.outcomes.ok > 10, "ok {}", r.outcomes.ok);
    assert_eq!(r.success_pct, 100.0);
    assert_eq!(r.served_connections, 2);
    assert_eq!(r.served_pct, 50.0);
    // The two starved requests, plus whatever the served connections had in flight at the stop.
    assert!(
        (2..=4).contains(&r.unfinished),
        "unfinished {}",
        r.unfinished
    );
    assert_eq!(r.ok_per_s, r.answered_per_s);
}

/// A 503 is an answer but not goodput: answered/s counts it, ok/s does not.
#[test]
fn rejections_are_answered_but_not_ok() {
    let server = start_server(|n| Reply::Status(if n % 4 == 0 { 200 } else { 503 }));
    let mut c = config(&server, 2);
    c.requests_per_connection = Some(20);
    let r = run(&c);
    assert_eq!((r.outcomes.ok, r.outcomes.other_status), (10, 30));
    let secs = r.elapsed_s;
    assert!((r.ok_per_s * secs - 10.0).abs() < 1e-6, "{}", r.ok_per_s);
    assert!((r.answered_per_s * secs - 40.0).abs() < 1e-6);
    assert_eq!(r.served_pct, 100.0);
}
