//! A transport-neutral response, so composite sub-requests can reuse the REST handlers.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Clone, Debug)]
pub enum Payload {
    Json(serde_json::Value),
    Text(String, &'static str),
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
            Payload::Empty => serde_json::Value::Null,
        }
    }
}

impl IntoResponse for Resp {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (body, ctype) = match self.body {
            Payload::Json(v) => (
                Body::from(v.to_string()),
                Some("application/json;charset=UTF-8"),
            ),
            Payload::Text(s, t) => (Body::from(s), Some(t)),
            Payload::Empty => (Body::empty(), None),
        };
        let mut r = Response::new(body);
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
