//! One test per HTTP rule of SPEC.md: the status each malformed (or unusual) input gets,
//! through the whole connection (parser, framing, `Conn`).

mod common;
use common::{answer, status};

/// A plain HTTP/1.1 request with a Host is answered 200 and the connection stays open.
#[test]
fn valid_request_is_answered() {
    let out = answer(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nGET /health 0"
    );
}

/// HTTP/1.0 is served, with no Host needed.
#[test]
fn http10_is_served() {
    assert_eq!(status(b"GET / HTTP/1.0\r\n\r\n"), 200);
}

/// Well-formed versions other than 1.0/1.1 are 505.
#[test]
fn other_versions_are_505() {
    assert_eq!(status(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505);
}

/// Malformed versions are 400.
#[test]
fn malformed_versions_are_400() {
    for v in [
        "HTTP/1.32",
        "http/1.1",
        "HTTP/1",
        "HTTP/1.1 ",
        "HTTP/a.b",
        "HTTP/1.1x",
    ] {
        let req = format!("GET / {v}\r\nHost: a\r\n\r\n");
        assert_eq!(status(req.as_bytes()), 400, "{v:?}");
    }
}

/// Empty lines before the request line are skipped.
#[test]
fn leading_empty_lines_are_skipped() {
    assert_eq!(status(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
}

/// Origin-form and absolute-form targets route on the path; the query is ignored.
#[test]
fn targets_route_on_the_path() {
    let cases: [(&[u8], &str); 5] = [
        (
            b"GET /health?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /health 0",
        ),
        (
            b"GET http://a:8080/health?x HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /health 0",
        ),
        (b"GET HTTPS://a HTTP/1.1\r\nHost: a\r\n\r\n", "GET / 0"),
        (b"GET http://a?q HTTP/1.1\r\nHost: a\r\n\r\n", "GET / 0"),
        (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS * 0"),
    ];
    for (req, body) in cases {
        assert!(
            answer(req).ends_with(body),
            "{}",
            String::from_utf8_lossy(req)
        );
    }
    assert_eq!(status(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

/// HTTP/1.1 needs exactly one Host; no request may have two.
#[test]
fn host_rules() {
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nhOsT: a\r\n\r\n"), 200);
}

/// Bare LF and bare CR anywhere in the head are 400.
#[test]
fn bare_lf_and_cr_are_400() {
    for req in [
        &b"GET / HTTP/1.1\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\n",
        b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\rHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\rX",
    ] {
        assert_eq!(status(req), 400, "{:?}", String::from_utf8_lossy(req));
    }
}

/// A bare LF is answered as soon as it arrives, without waiting for the head to end.
#[test]
fn bare_lf_is_reported_before_the_head_ends() {
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\nX-Still-Com"), 400);
    let echo = common::Echo::default();
    let (out, conn) = common::feed(&[b"GET / HTTP/1.1\r\nHo", b"st: a\n"], &echo);
    assert_eq!(common::statuses(&out), [400]);
    assert!(conn.is_done());
}

/// Whitespace between a field name and its colon is 400.
#[test]
fn whitespace_before_colon_is_400() {
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nX\t: b\r\n\r\n"), 400);
}

/// obs-fold (a line starting with space or tab) is 400.
#[test]
fn obs_fold_is_400() {
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"),
        400
    );
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n"),
        400
    );
}

/// A control character in a field value or name is 400; tab and obs-text are allowed.
#[test]
fn control_characters_are_400() {
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"),
        400
    );
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n"),
        400
    );
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: a\r\nX\x01: b\r\n\r\n"),
        400
    );
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\xe9\r\n\r\n"),
        200
    );
}

/// An invalid method token, or a line without a colon, is 400.
#[test]
fn invalid_tokens_are_400() {
    assert_eq!(status(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"), 400);
    assert_eq!(status(b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

/// A head over 8 KiB is 431, reported as soon as the limit is passed.
#[test]
fn large_head_is_431() {
    let mut req = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    req.resize(8 * 1024 + 1, b'a');
    assert_eq!(status(&req), 431);
    let mut just_fits = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    just_fits.resize(8 * 1024 - 4, b'a');
    just_fits.extend_from_slice(b"\r\n\r\n");
    assert_eq!(status(&just_fits), 200);
}

/// More than 100 headers is 431; exactly 100 is fine.
#[test]
fn too_many_headers_is_431() {
    let make = |n: usize| {
        let mut req = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 1..n {
            req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req
    };
    assert_eq!(status(&make(100)), 200);
    assert_eq!(status(&make(101)), 431);
}

/// A target over 4 KiB is 414 (even before the line ends); exactly 4 KiB is fine.
#[test]
fn long_target_is_414() {
    let target = |n: usize| format!("/{}", "a".repeat(n - 1));
    let ok = format!("GET {} HTTP/1.1\r\nHost: a\r\n\r\n", target(4096));
    assert_eq!(status(ok.as_bytes()), 200);
    let long = format!("GET {} HTTP/1.1\r\nHost: a\r\n\r\n", target(4097));
    assert_eq!(status(long.as_bytes()), 414);
    assert_eq!(status(format!("GET {}", target(5000)).as_bytes()), 414);
}

/// Content-Length must be digits only; differing duplicates are 400, identical ones accepted.
#[test]
fn content_length_rules() {
    let post = |headers: &str| {
        status(format!("POST /i HTTP/1.1\r\nHost: a\r\n{headers}\r\n\r\nhello").as_bytes())
    };
    assert_eq!(post("Content-Length: 5"), 200);
    assert_eq!(post("Content-Length: 5\r\nContent-Length: 5"), 200);
    assert_eq!(post("Content-Length: 5\r\nContent-Length: 6"), 400);
    assert_eq!(post("Content-Length: 5, 5"), 400);
    assert_eq!(post("Content-Length: +5"), 400);
    assert_eq!(post("Content-Length: 0x5"), 400);
    assert_eq!(post("Content-Length:"), 400);
}

/// Content-Length together with Transfer-Encoding is 400 (request smuggling).
#[test]
fn content_length_and_transfer_encoding_is_400() {
    let req = b"POST /i HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\
                Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(status(req), 400);
}

/// Transfer codings: unknown is 501, chunked not last or twice is 400.
#[test]
fn transfer_coding_rules() {
    let te = |codings: &str| {
        status(
            format!("POST /i HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {codings}\r\n\r\n0\r\n\r\n")
                .as_bytes(),
        )
    };
    assert_eq!(te("chunked"), 200);
    assert_eq!(te("CHUNKED"), 200);
    assert_eq!(te("gzip, chunked"), 501);
    assert_eq!(te("gzip"), 501);
    assert_eq!(te("chunked, gzip"), 400);
    assert_eq!(te("chunked, chunked"), 400);
    assert_eq!(te(""), 400);
    let split = b"POST /i HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\
                  Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(status(split), 400);
}

/// Chunk sizes that are not hex or overflow are 400; missing CRLF after data is 400.
#[test]
fn chunk_size_rules() {
    let chunked = |body: &str| {
        status(
            format!("POST /i HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
                .as_bytes(),
        )
    };
    assert_eq!(chunked("5\r\nhello\r\n0\r\n\r\n"), 200);
    assert_eq!(chunked("A\r\nhellohello\r\n0\r\n\r\n"), 200);
    assert_eq!(chunked("g\r\n"), 400);
    assert_eq!(chunked("\r\n"), 400);
    assert_eq!(chunked("-1\r\n"), 400);
    assert_eq!(chunked("10000000000000000\r\n"), 400);
    assert_eq!(chunked("5\r\nhelloXX0\r\n\r\n"), 400);
    assert_eq!(chunked("5\nhello\r\n0\r\n\r\n"), 400);
    // RFC 9112 section 7.1: whitespace after the size only before a `;` extension.
    assert_eq!(chunked("5 \r\nhello\r\n0\r\n\r\n"), 400);
    assert_eq!(chunked("5 ;a\r\nhello\r\n0\r\n\r\n"), 200);
    assert_eq!(chunked("0x5\r\nhello\r\n0\r\n\r\n"), 400);
    assert_eq!(chunked("+5\r\nhello\r\n0\r\n\r\n"), 400);
}

/// Chunk extensions are syntax-checked then ignored.
#[test]
fn chunk_extension_rules() {
    let chunked = |size_line: &str| {
        status(
            format!(
                "POST /i HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                 {size_line}\r\nhello\r\n0\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    for ok in [
        "5;name",
        "5;name=value",
        "5;name=\"quo\\\"ted\"",
        "5 ; a=b ;c",
        "5;a;b=c",
    ] {
        assert_eq!(chunked(ok), 200, "{ok}");
    }
    for bad in ["5;", "5;=v", "5;a=", "5;a=\"open", "5;a=b c", "5;a\x01"] {
        assert_eq!(chunked(bad), 400, "{bad}");
    }
}

/// Trailers are read and ignored, with the head's field rules.
#[test]
fn trailers_are_read_and_ignored() {
    let chunked = |trailers: &str| {
        status(
            format!(
                "POST /i HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                 5\r\nhello\r\n0\r\n{trailers}\r\n"
            )
            .as_bytes(),
        )
    };
    assert_eq!(chunked("X-Sum: 1\r\nY: 2\r\n"), 200);
    assert_eq!(chunked("X-Sum : 1\r\n"), 400);
    assert_eq!(chunked(" folded\r\n"), 400);
    assert_eq!(chunked("X: a\x00\r\n"), 400);
}

/// A body over max-body is 413: from Content-Length up front, and while decoding chunks.
#[test]
fn large_body_is_413() {
    let req = b"POST /i HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n";
    assert_eq!(status(req), 413);
    let huge = b"POST /i HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n";
    assert_eq!(status(huge), 413);
    let chunked = b"POST /i HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n";
    assert_eq!(status(chunked), 413);
}

/// After a 400-class error the connection answers once, closes, and parses nothing more.
#[test]
fn errors_close_and_stop_parsing() {
    let out = answer(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(common::statuses(&out), [400]);
    assert!(out.contains("Connection: close\r\n"));
    assert!(out.contains("{\"error\":\"an HTTP/1.1 request must carry exactly one Host header\"}"));
}
