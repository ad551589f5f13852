//! SPEC "HTTP/1.1 rules", the request head: versions, `Host`, line endings, field syntax,
//! and the size limits (`414`, `431`).

use crate::check::{Ctx, Outcome};
use crate::client::Client;
use crate::support::{expect_close, expect_error, expect_error_and_close, expect_status, request};

/// A well-formed version other than 1.0 and 1.1 (`HTTP/2.0`, `HTTP/1.2`) is `505`.
pub fn other_version_505(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/3.0"] {
        let req = format!("GET /health {version}\r\nHost: c\r\n\r\n");
        let what = format!("GET /health {version}");
        let mut client = Client::connect(addr)?;
        let response = client.request(req.as_bytes())?;
        expect_error(&response, 505, &what)?;
        if response.closes() {
            expect_close(&mut client, &response, &what)?;
        }
    }
    Ok(())
}

/// A malformed version (`HTTP/1.32`, `http/1.1`, `HTTP/1`, `HTTP/1.1x`, none) is `400`, closed.
pub fn malformed_version_400(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    for line in [
        "GET /health HTTP/1.32",
        "GET /health http/1.1",
        "GET /health HTTP/1",
        "GET /health HTTP/1.1x",
        "GET /health HTTP/",
        "GET /health",
    ] {
        expect_error_and_close(addr, format!("{line}\r\nHost: c\r\n\r\n").as_bytes(), 400)?;
    }
    Ok(())
}

/// HTTP/1.1 needs exactly one `Host`: none or two is `400`, closed; HTTP/1.0 needs none.
pub fn host_header_rules(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    expect_error_and_close(addr, b"GET /health HTTP/1.1\r\n\r\n", 400)?;
    expect_error_and_close(
        addr,
        b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
    )?;
    expect_error_and_close(
        addr,
        b"GET /health HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        400,
    )?;
    let response = request(addr, b"GET /health HTTP/1.0\r\n\r\n")?;
    expect_status(&response, 200, "HTTP/1.0 GET /health without Host")?;
    Ok(())
}

/// Lines end in CRLF: a bare LF (request line, header, end of head) or a bare CR is `400`.
pub fn bare_lf_or_cr_400(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let cases: [&[u8]; 5] = [
        b"GET /health HTTP/1.1\nHost: c\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: c\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: c\r\nX-A: 1\n\n",
        b"GET /health HTTP/1.1\r\nHost: c\rX-A: 1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: c\r\nX-A: a\rb\r\n\r\n",
    ];
    for req in cases {
        expect_error_and_close(addr, req, 400)?;
    }
    Ok(())
}

/// Field syntax: whitespace before the colon, obs-fold, a control character (NUL, 0x01,
/// DEL) in a value, a line without a colon, an empty name are each `400`, closed.
pub fn header_syntax_400(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let cases: [&[u8]; 9] = [
        b"GET /health HTTP/1.1\r\nHost : c\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: c\r\nX-A\t: 1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: c\r\nX-A: 1\r\n  folded\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: c\r\nX-A: 1\r\n\tfolded\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: c\r\nX-A: a\x01b\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: c\r\nX-A: a\x00b\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: c\r\nX-A: a\x7fb\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: c\r\nno colon here\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: c\r\n: empty name\r\n\r\n",
    ];
    for req in cases {
        expect_error_and_close(addr, req, 400)?;
    }
    // A tab inside a value and optional whitespace around it are legal.
    let response = request(
        addr,
        b"GET /health HTTP/1.1\r\nHost: c\r\nX-A: \ta\tb \r\n\r\n",
    )?;
    expect_status(
        &response,
        200,
        "a header value with tabs and surrounding whitespace",
    )?;
    Ok(())
}

/// A target of 4 KiB is served; one over 4 KiB is `414`, closed.
pub fn target_over_4k_414(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let target = |len: usize| format!("/health?{}", "q".repeat(len - "/health?".len()));
    let ok = format!("GET {} HTTP/1.1\r\nHost: c\r\n\r\n", target(4096));
    let response = request(addr, ok.as_bytes())?;
    expect_status(&response, 200, "a 4096-byte target")?;
    let long = format!("GET {} HTTP/1.1\r\nHost: c\r\n\r\n", target(4097 + 100));
    expect_error_and_close(addr, long.as_bytes(), 414)?;
    Ok(())
}

/// A head (request line plus headers) up to 8 KiB is served; past 8 KiB it is `431`, closed,
/// whether or not the head has ended yet.
pub fn head_over_8k_431(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let head = |total: usize| {
        let fixed = "GET /health HTTP/1.1\r\nHost: c\r\nX-Pad: \r\n\r\n".len();
        format!(
            "GET /health HTTP/1.1\r\nHost: c\r\nX-Pad: {}\r\n\r\n",
            "p".repeat(total - fixed)
        )
    };
    let response = request(addr, head(8000).as_bytes())?;
    expect_status(&response, 200, "an 8000-byte head")?;
    expect_error_and_close(addr, head(9000).as_bytes(), 431)?;
    // 20 KiB of one header line with no end in sight: the server must not wait for more.
    let unfinished = format!(
        "GET /health HTTP/1.1\r\nHost: c\r\nX-Pad: {}",
        "p".repeat(20_000)
    );
    expect_error_and_close(addr, unfinished.as_bytes(), 431)?;
    Ok(())
}

/// 100 header fields are served; 101 are `431`, closed.
pub fn over_100_headers_431(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let with = |count: usize| {
        let fields: String = (1..count).map(|i| format!("X-H{i}: v\r\n")).collect();
        format!("GET /health HTTP/1.1\r\nHost: c\r\n{fields}\r\n")
    };
    let response = request(addr, with(100).as_bytes())?;
    expect_status(&response, 200, "100 header fields (Host + 99)")?;
    expect_error_and_close(addr, with(101).as_bytes(), 431)?;
    Ok(())
}
