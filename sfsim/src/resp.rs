//! A transport-neutral response, so composite sub-requests can reuse the REST handlers.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Clone, Debug)]
pub enum Payload {
    Json(serde_json::Value),
    Text(String, &'static str),
    /// Binary content (a blob field's bytes).
    Bytes(Vec<u8>, &'static str),
    Empty,
}

#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Payload,
}

impl Resp {
    pub fn json(status: u16, v: serde_json::Value) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: Payload::Json(v),
        }
    }

    pub fn ok(v: serde_json::Value) -> Resp {
        Resp::json(200, v)
    }

    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: Payload::Empty,
        }
    }

    pub fn text(status: u16, s: String, content_type: &'static str) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: Payload::Text(s, content_type),
        }
    }

    /// The REST error body: a JSON array with one `{message, errorCode}`.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Resp {
        Resp::json(
            status,
            json!([{"message": message.into(), "errorCode": code}]),
        )
    }

    pub fn error_fields(status: u16, code: &str, message: &str, fields: &[String]) -> Resp {
        Resp::json(
            status,
            json!([{"message": message, "errorCode": code, "fields": fields}]),
        )
    }

    pub fn not_found() -> Resp {
        Resp::error(404, "NOT_FOUND", "The requested resource does not exist")
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn json_body(&self) -> serde_json::Value {
        match &self.body {
            Payload::Json(v) => v.clone(),
            Payload::Text(s, _) => json!(s),
            Payload::Bytes(..) | Payload::Empty => serde_json::Value::Null,
        }
    }
}

/// Writes JSON numbers as Salesforce's Java serializer does: doubles in `Double.toString`
/// form (`1234567.0`, `3.5E7`), integers as they are.
struct JavaNumbers;

impl serde_json::ser::Formatter for JavaNumbers {
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        w.write_all(crate::value::java_double(v).as_bytes())
    }
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f32) -> std::io::Result<()> {
        self.write_f64(w, f64::from(v))
    }
}

/// A JSON body as Salesforce writes it (see [`JavaNumbers`]).
pub fn json_text(v: &serde_json::Value) -> String {
    use serde::Serialize;
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, JavaNumbers);
    match v.serialize(&mut ser) {
        // serde_json writes valid UTF-8, and the number forms are ASCII.
        Ok(()) => String::from_utf8(out).unwrap_or_else(|_| v.to_string()),
        Err(_) => v.to_string(),
    }
}

impl IntoResponse for Resp {
    fn into_response(self) -> Response {
        self.into_response_encoded(false)
    }
}

/// Gzips `data` (fast compression: the point is fewer bytes on the wire, cheaply).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// Un-gzips a request body (`Content-Encoding: gzip`); `None` when it is not gzip.
pub fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(data.len() * 4);
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

impl Resp {
    /// The HTTP response; with `gzip`, a non-empty body is compressed and marked
    /// `Content-Encoding: gzip`.
    pub fn into_response_encoded(self, gzip_body: bool) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (bytes, ctype): (Vec<u8>, _) = match self.body {
            Payload::Json(v) => (
                json_text(&v).into_bytes(),
                Some("application/json;charset=UTF-8"),
            ),
            Payload::Text(s, t) => (s.into_bytes(), Some(t)),
            Payload::Bytes(b, t) => (b, Some(t)),
            Payload::Empty => (Vec::new(), None),
        };
        let compress = gzip_body && !bytes.is_empty();
        let body = if compress {
            Body::from(gzip(&bytes))
        } else {
            Body::from(bytes)
        };
        let mut r = Response::new(body);
        if compress {
            r.headers_mut()
                .insert("content-encoding", HeaderValue::from_static("gzip"));
        }
        *r.status_mut() = status;
        if let Some(t) = ctype {
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static(t));
        }
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
                r.headers_mut().append(k, v);
            }
        }
        r
    }
}
