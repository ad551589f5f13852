//! The one request a load test sends, parsed from a URL and encoded once.
//!
//! Encoding per request would measure the load generator's allocator, not the
//! server. So the bytes are built here, once, and the event loop only ever writes
//! slices of them (repeated `pipeline` times for pipelining).

use std::fmt::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};

/// Where the load goes: the resolved socket address plus what the request line
/// and `Host` header need.
#[derive(Debug, Clone)]
pub struct Target {
    /// Resolved address the sockets connect to.
    pub addr: SocketAddr,
    /// `host[:port]` exactly as written in the URL, for the `Host` header.
    pub host_header: String,
    /// Origin-form request target: path plus query, `/` when empty.
    pub path: String,
}

impl Target {
    /// Parses `http://host[:port][/path][?query]`. Only plain `http` is supported:
    /// TLS would measure the cipher, not the I/O model.
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("unsupported URL {url:?}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() {
            return Err(format!("URL {url:?} has no host"));
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {authority:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("{authority:?} resolved to no address"))?;
        Ok(Target {
            addr,
            host_header: authority.to_string(),
            path,
        })
    }
}

/// What to send: method, extra headers and body, before encoding.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// HTTP method, e.g. `GET` or `POST`.
    pub method: String,
    /// Extra header lines as `Name: value`, sent verbatim.
    pub headers: Vec<String>,
    /// Request body; empty means none.
    pub body: Vec<u8>,
}

impl RequestSpec {
    /// Checks the parts that would otherwise produce a malformed request, so a typo
    /// is an error message and not a run full of `400`s.
    pub fn validate(&self) -> Result<(), String> {
        if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "bad method {:?}: expected e.g. GET or POST",
                self.method
            ));
        }
        for h in &self.headers {
            let Some((name, _)) = h.split_once(':') else {
                return Err(format!("bad header {h:?}: expected \"Name: value\""));
            };
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
                return Err(format!("bad header name in {h:?}"));
            }
            if h.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(format!("header {h:?} contains a line break"));
            }
            if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("host") {
                return Err(format!("header {name:?} is set by loadgen itself"));
            }
        }
        Ok(())
    }

    /// Whether responses to this request carry no body despite `Content-Length`.
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    /// Encodes the request as HTTP/1.1 bytes. `close` adds `Connection: close`
    /// (used by `--new-conn`, so the server, not us, closes first and keeps the
    /// TIME_WAIT state on its side).
    pub fn encode(&self, target: &Target, close: bool) -> Vec<u8> {
        let mut head = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            head,
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            self.method, target.path, target.host_header
        );
        for h in &self.headers {
            let _ = write!(head, "{h}\r\n");
        }
        if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH") {
            let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL with port, path and query splits into address, Host header and target.
    #[test]
    fn parses_url_parts() {
        let t = Target::parse("http://127.0.0.1:8080/ingest?x=1").unwrap();
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(t.host_header, "127.0.0.1:8080");
        assert_eq!(t.path, "/ingest?x=1");
        let t = Target::parse("http://127.0.0.1:9?a").unwrap();
        assert_eq!(t.path, "/?a");
        assert!(Target::parse("https://x").is_err());
        assert!(Target::parse("http:///x").is_err());
    }

    /// The encoded bytes are exactly the request a server expects, Content-Length included.
    #[test]
    fn encodes_post_with_body() {
        let t = Target::parse("http://127.0.0.1:1/ingest").unwrap();
        let spec = RequestSpec {
            method: "POST".into(),
            headers: vec!["Content-Type: application/json".into()],
            body: b"{}".to_vec(),
        };
        assert_eq!(
            spec.encode(&t, true),
            b"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
    }

    /// Malformed methods and headers are rejected before any traffic.
    #[test]
    fn rejects_bad_spec() {
        let bad = |method: &str, header: &str| RequestSpec {
            method: method.into(),
            headers: vec![header.into()],
            body: vec![],
        };
        assert!(bad("get", "A: b").validate().is_err());
        assert!(bad("GET", "no colon").validate().is_err());
        assert!(bad("GET", "Content-Length: 3").validate().is_err());
        assert!(bad("GET", "X-Ok: yes").validate().is_ok());
    }
}
