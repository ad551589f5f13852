//! Body framing: reading a `Content-Length` body and decoding a chunked one incrementally
//! (chunk extensions checked then ignored, trailers read and ignored, sizes checked against
//! `max_body` while decoding). (Implementation to follow.)
