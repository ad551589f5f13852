//! Parser throughput beside `httparse`, on the same bytes.
//!
//! Run: `cargo bench -p ingest-http --bench parse -- --warm-up-time 1 --measurement-time 3`
//!
//! Three inputs: (a) the small `POST /ingest` head a load generator sends, (b) a browser-like
//! `GET` with a dozen headers, (c) 16 pipelined requests in one buffer. `httparse` uses SIMD
//! where the CPU has it; ours is a plain table-driven byte loop, plus the framing checks
//! (`Host`, `Content-Length`, `Transfer-Encoding`, `Connection`) that `httparse` leaves to
//! its caller, so the comparison slightly favours `httparse`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ingest_http::parse::{parse_head, MAX_HEADER_SLOTS};
use ingest_http::{Header, Limits};

const SMALL_POST: &[u8] = b"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
    Content-Type: application/json\r\nContent-Length: 64\r\n\r\n";

const BROWSER_GET: &[u8] = b"GET /stats?view=full&refresh=1 HTTP/1.1\r\n\
    Host: ingest.example.com\r\n\
    User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
    Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
    Accept-Language: en-US,en;q=0.5\r\n\
    Accept-Encoding: gzip, deflate, br, zstd\r\n\
    Referer: https://ingest.example.com/dashboard\r\n\
    Connection: keep-alive\r\n\
    Cookie: session=8f2a6c1e9b0d4f7a3c5e8b1d2f4a6c8e; theme=dark; lang=en\r\n\
    Upgrade-Insecure-Requests: 1\r\n\
    Sec-Fetch-Dest: document\r\n\
    Sec-Fetch-Mode: navigate\r\n\
    Sec-Fetch-Site: same-origin\r\n\
    Priority: u=0, i\r\n\r\n";

/// Parses every head in `buf` with our parser; returns the header count (kept alive).
fn ours_all<'b>(buf: &'b [u8], limits: &Limits, slots: &mut [Header<'b>]) -> usize {
    let (mut pos, mut fields) = (0, 0);
    while pos < buf.len() {
        match parse_head(&buf[pos..], limits, slots) {
            Ok(Some((head, n))) => {
                fields += head.headers.len();
                pos += n;
            }
            _ => break,
        }
    }
    fields
}

/// Parses every head in `buf` with httparse.
fn httparse_all<'b>(buf: &'b [u8], slots: &mut [httparse::Header<'b>]) -> usize {
    let (mut pos, mut fields) = (0, 0);
    while pos < buf.len() {
        let mut req = httparse::Request::new(slots);
        match req.parse(&buf[pos..]) {
            Ok(httparse::Status::Complete(n)) => {
                fields += req.headers.len();
                pos += n;
            }
            _ => break,
        }
    }
    fields
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let pipelined = SMALL_POST.repeat(16);
    let inputs: [(&str, &[u8]); 3] = [
        ("small_post", SMALL_POST),
        ("browser_get", BROWSER_GET),
        ("pipelined_16", &pipelined),
    ];
    for (name, bytes) in inputs {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("ingest_http", bytes.len()),
            bytes,
            |b, i| {
                // The header slots are set up once, outside the timed loop, for both parsers.
                let mut slots = [Header::EMPTY; MAX_HEADER_SLOTS];
                b.iter(|| ours_all(black_box(i), &limits, &mut slots))
            },
        );
        group.bench_with_input(BenchmarkId::new("httparse", bytes.len()), bytes, |b, i| {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADER_SLOTS];
            b.iter(|| httparse_all(black_box(i), &mut slots))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
