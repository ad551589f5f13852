//! A raw HTTP/1.1 client: bytes in, status and headers out.
//!
//! The suite talks to servers through this on purpose instead of an HTTP library: a library
//! would normalise exactly the details the checks are about (header order, `Content-Length`,
//! `Connection: close`, a bare LF), and would refuse to send the malformed requests that the
//! framing checks need.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long one read may wait before a check calls the server stuck. Generous, because the
/// phases run as debug builds on a shared two-core machine.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// One response as it came off the wire, with its raw bytes kept for failure messages.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code from the status line (`202` in `HTTP/1.1 202 Accepted`).
    pub status: u16,
    /// The header fields in wire order; names keep their case, values are trimmed.
    pub headers: Vec<(String, String)>,
    /// The body, exactly `Content-Length` bytes (empty for `HEAD` and `1xx`).
    pub body: Vec<u8>,
    /// Status line, headers and body as received: what a failure message shows.
    pub raw: Vec<u8>,
}

impl Response {
    /// The value of the first header named `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when the response announces that the server closes the connection after it.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }

    /// The body parsed as JSON, or a failure message showing the raw response.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("body is not JSON ({e}); response: {}", show(&self.raw)))
    }

    /// The raw response, escaped and shortened for a failure message.
    pub fn show(&self) -> String {
        show(&self.raw)
    }
}

/// Escapes bytes for a one-line failure message (`\r\n` stays visible) and cuts long ones.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 600;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    let more = if bytes.len() > MAX {
        format!("... ({} bytes in all)", bytes.len())
    } else {
        String::new()
    };
    format!("{text:?}{more}")
}

/// One TCP connection to the server under test, with a read buffer that keeps pipelined
/// responses apart.
pub struct Client {
    /// The socket; public so checks can set options or split writes as they need.
    pub stream: TcpStream,
    /// Bytes read but not yet consumed by a response: the start of the next one.
    buf: Vec<u8>,
}

impl Client {
    /// Connects with `TCP_NODELAY` (so a check's small writes go out as written) and the
    /// suite's read timeout.
    pub fn connect(addr: SocketAddr) -> Result<Client, String> {
        let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT)
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .map_err(|e| e.to_string())?;
        stream
            .set_write_timeout(Some(READ_TIMEOUT))
            .map_err(|e| e.to_string())?;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    /// Writes all of `bytes`; a failure names what was being sent.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("writing {}: {e}", show(bytes)))
    }

    /// Sends `request` and reads one final response (a `GET`-style response with a body).
    pub fn request(&mut self, request: &[u8]) -> Result<Response, String> {
        self.send(request)?;
        self.read_response()
    }

    /// Reads one response whose body is framed by `Content-Length`.
    pub fn read_response(&mut self) -> Result<Response, String> {
        self.read_response_inner(false)
    }

    /// Reads one response to a `HEAD` request: headers only, whatever `Content-Length` says.
    pub fn read_head_response(&mut self) -> Result<Response, String> {
        self.read_response_inner(true)
    }

    fn read_response_inner(&mut self, head_only: bool) -> Result<Response, String> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 64 * 1024 {
                return Err(format!("response head over 64 KiB: {}", show(&self.buf)));
            }
            self.fill("the response head")?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = parse_status_line(status_line)
            .ok_or_else(|| format!("bad status line; response: {}", show(&self.buf)))?;
        let mut headers = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("header line without ':'; response: {}", show(&self.buf)))?;
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            raw: Vec::new(),
        };
        let informational = (100..200).contains(&status);
        let body_len = if informational || head_only {
            0
        } else {
            content_length(&response, &self.buf[..head_end])?
        };
        while self.buf.len() < head_end + body_len {
            self.fill("the response body")?;
        }
        response.body = self.buf[head_end..head_end + body_len].to_vec();
        response.raw = self.buf.drain(..head_end + body_len).collect();
        if !informational {
            require_date(&response)?;
        }
        Ok(response)
    }

    /// Reads more bytes into the buffer; EOF or a timeout becomes a message naming `what`.
    fn fill(&mut self, what: &str) -> Result<(), String> {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(format!(
                "connection closed while reading {what}; got so far: {}",
                show(&self.buf)
            )),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if is_timeout(&e) => Err(format!(
                "no complete response within {READ_TIMEOUT:?} while reading {what}; got so far: {}",
                show(&self.buf)
            )),
            Err(e) => Err(format!(
                "read error while reading {what}: {e}; got so far: {}",
                show(&self.buf)
            )),
        }
    }

    /// Bytes already received but not consumed by a response (for "nothing else was sent").
    pub fn leftover(&self) -> &[u8] {
        &self.buf
    }

    /// Waits up to `within` for the server to close the connection. Any byte that arrives
    /// instead (including leftovers) is a failure: the server must close without saying more.
    pub fn expect_closed(&mut self, within: Duration) -> Result<Duration, String> {
        if !self.buf.is_empty() {
            return Err(format!(
                "expected the connection to close, but the server sent more: {}",
                show(&self.buf)
            ));
        }
        let start = Instant::now();
        let mut chunk = [0u8; 4096];
        loop {
            let left = within.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(format!(
                    "the server kept the connection open for {within:?} (expected it to close)"
                ));
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| e.to_string())?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(start.elapsed()),
                Ok(n) => {
                    return Err(format!(
                        "expected the connection to close, but the server sent: {}",
                        show(&chunk[..n])
                    ))
                }
                // A reset also closes the connection: the server may close with unread input.
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(start.elapsed()),
                Err(e) if is_timeout(&e) => continue,
                Err(e) => return Err(format!("read error while waiting for close: {e}")),
            }
        }
    }

    /// Checks that the connection is still open and silent for `quiet`: no bytes, no EOF.
    pub fn expect_open(&mut self, quiet: Duration) -> Result<(), String> {
        self.stream
            .set_read_timeout(Some(quiet))
            .map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 4096];
        let result = match self.stream.read(&mut chunk) {
            Ok(0) => Err("the server closed a connection that should stay open".to_string()),
            Ok(n) => Err(format!("unexpected bytes: {}", show(&chunk[..n]))),
            Err(e) if is_timeout(&e) => Ok(()),
            Err(e) => Err(format!("the connection that should stay open failed: {e}")),
        };
        self.stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .map_err(|e| e.to_string())?;
        result
    }
}

/// Both spellings of "the read timed out" (Unix says `WouldBlock`, Windows `TimedOut`).
pub fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `HTTP/1.1 200 OK` -> 200; the version must be HTTP/1.x and the code three digits.
fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !(version == "HTTP/1.1" || version == "HTTP/1.0") || code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// SPEC: every response carries exactly one digits-only `Content-Length`.
fn content_length(response: &Response, raw: &[u8]) -> Result<usize, String> {
    let values: Vec<&str> = response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str())
        .collect();
    match values.as_slice() {
        [one] if !one.is_empty() && one.bytes().all(|b| b.is_ascii_digit()) => one
            .parse()
            .map_err(|e| format!("Content-Length {one:?}: {e}")),
        [] => Err(format!(
            "response without Content-Length (SPEC: every response carries it): {}",
            show(raw)
        )),
        _ => Err(format!("bad Content-Length in response: {}", show(raw))),
    }
}

/// SPEC: every response carries `Date`, in the IMF-fixdate form of RFC 9110
/// (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn require_date(response: &Response) -> Result<(), String> {
    let date = response.header("date").ok_or_else(|| {
        format!(
            "response without Date (SPEC: every response carries it): {}",
            response.show()
        )
    })?;
    let b = date.as_bytes();
    let shape_ok = b.len() == 29
        && date.ends_with(" GMT")
        && b[3] == b','
        && b[4] == b' '
        && b[19] == b':'
        && b[22] == b':';
    if !shape_ok {
        return Err(format!(
            "Date {date:?} is not an IMF-fixdate like \"Sun, 06 Nov 1994 08:49:37 GMT\": {}",
            response.show()
        ));
    }
    Ok(())
}
