//! One request: axum's `Request` becomes the service's [`RequestHead`] and body, and the
//! service's [`Response`] becomes axum's. Routing and validation are the service's, so the
//! answers match the phases' wherever hyper lets the request through.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Version as HttpVersion};
use ingest_http::{Framing, Handler, Header, Reply, RequestHead, Response, Version};
use ingest_service::Service;

use crate::ack::LogWaiter;

/// The fallback handler: every path and method goes through the service's router.
pub async fn handle(
    State((service, waiter)): State<(Arc<Service>, Arc<LogWaiter>)>,
    request: Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let headers: Vec<Header<'_>> = parts
        .headers
        .iter()
        .map(|(name, value)| Header {
            name: name.as_str(),
            value: value.as_bytes(),
        })
        .collect();
    // hyper has checked the framing already (and de-chunks the body); the service only needs
    // to know whether there is one.
    let framing = if parts.headers.contains_key(header::TRANSFER_ENCODING) {
        Framing::Chunked
    } else {
        match parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
        {
            Some(n) => Framing::Length(n),
            None => Framing::None,
        }
    };
    let target = parts.uri.to_string();
    let head = RequestHead {
        method: parts.method.as_str(),
        target: &target,
        path: parts.uri.path(),
        version: if parts.version == HttpVersion::HTTP_10 {
            Version::Http10
        } else {
            Version::Http11
        },
        headers: &headers,
        framing,
        // hyper decides keep-alive and `100 Continue` itself.
        keep_alive: true,
        expect_continue: false,
    };
    let is_head = parts.method == Method::HEAD;
    let max_body = service.limits().max_body;
    let too_large = || {
        let mut response =
            Response::error(413, &format!("the body is larger than {max_body} bytes"));
        // Its bytes were never read: the connection cannot carry another request.
        response.close = true;
        response
    };
    let response = match service.on_head(&head) {
        Some(early) => early,
        // Refused before reading: hyper sends `100 Continue` only once the body is polled.
        None if matches!(framing, Framing::Length(n) if n > max_body as u64) => too_large(),
        None => match axum::body::to_bytes(body, max_body).await {
            Ok(bytes) => match service.on_request(&head, &bytes) {
                Reply::Now(response) => response,
                Reply::Later(pending) => waiter.answer(&service, pending).await,
            },
            Err(e) if is_length_limit(&e) => too_large(),
            Err(e) => {
                let mut response = Response::error(400, &format!("cannot read the body: {e}"));
                response.close = true;
                response
            }
        },
    };
    // HTTP/1.0 without `Connection: keep-alive` closes after the response; SPEC wants the
    // response to say so, which hyper leaves out.
    let close_10 = parts.version == HttpVersion::HTTP_10
        && !parts
            .headers
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("keep-alive"));
    service.on_response(response.status);
    let mut out = into_axum(response, is_head);
    if close_10 {
        out.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    out
}

/// Whether reading the body failed because it passed the limit (413), rather than because
/// its chunked framing was broken (400).
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The service's response as axum's: status, `Content-Type`, `Allow`, body, `Retry-After`
/// on a `503`, and `Connection: close` when the service wants the connection closed.
fn into_axum(response: Response, is_head: bool) -> axum::response::Response {
    let bytes = response.body.as_bytes().to_vec();
    let len = bytes.len();
    let mut out = axum::response::Response::new(if is_head {
        Body::empty()
    } else {
        Body::from(bytes)
    });
    *out.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    if !response.content_type.is_empty() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(response.content_type),
        );
    }
    if let Some(allow) = response.allow {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if is_head {
        // hyper sends no Content-Length for an empty HEAD body unless told.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if response.status == 503 {
        // As the phases' encoder does (ingest-http's response.rs): every 503 this service
        // sends (storage failing, --max-conns) is short-lived, and Retry-After says so.
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if response.close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    out
}
