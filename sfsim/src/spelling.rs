//! Header names spelled as Salesforce spells them on HTTP/1.1 (`Sforce-Locator`,
//! `Sforce-NumberOfRecords`, `Sforce-Limit-Info`, `Content-Type`). HTTP says names are
//! case-insensitive, but clients copy headers into plain dictionaries and look them up as
//! Salesforce writes them: a Bulk result page whose `sforce-locator` is not found as
//! `Sforce-Locator` looks like the last page.
//!
//! hyper writes names in Title-Case when asked (`title_case_headers`); this acceptor fixes
//! the few names Title-Case does not spell Salesforce's way, in the response head as it is
//! written (the same number of bytes, so nothing else moves).
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Names whose Title-Case form differs from Salesforce's, as (Title-Case, Salesforce).
const RESPELL: &[(&[u8], &[u8])] = &[
    (
        b"\r\nSforce-Numberofrecords:",
        b"\r\nSforce-NumberOfRecords:",
    ),
    (b"\r\nEtag:", b"\r\nETag:"),
    (b"\r\nWww-Authenticate:", b"\r\nWWW-Authenticate:"),
];

/// A response head is at the start of what hyper writes; bodies are not searched.
const HEAD_SCAN: usize = 16 * 1024;

/// Fixes the spelling of the names in [`RESPELL`] within the first [`HEAD_SCAN`] bytes of
/// `buf`; `None` when there is nothing to fix.
pub fn respell(buf: &[u8]) -> Option<Vec<u8>> {
    let head = &buf[..buf.len().min(HEAD_SCAN)];
    let mut out: Option<Vec<u8>> = None;
    for (from, to) in RESPELL {
        let mut at = 0;
        while let Some(i) = head[at..]
            .windows(from.len())
            .position(|w| w == *from)
            .map(|i| i + at)
        {
            out.get_or_insert_with(|| buf.to_vec())[i..i + to.len()].copy_from_slice(to);
            at = i + from.len();
        }
    }
    out
}

/// An axum-server acceptor wrapping another one: its streams write Salesforce's spellings.
#[derive(Clone, Debug)]
pub struct SpellingAcceptor<A>(pub A);

impl<A, I, S> axum_server::accept::Accept<I, S> for SpellingAcceptor<A>
where
    A: axum_server::accept::Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: AsyncRead + AsyncWrite + Unpin,
{
    type Stream = Spelled<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.0.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = inner.await?;
            Ok((Spelled(stream), service))
        })
    }
}

/// A stream whose written response heads carry Salesforce's header spellings.
pub struct Spelled<T>(T);

impl<T: AsyncRead + Unpin> AsyncRead for Spelled<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Spelled<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // Same length in, same length out: the count written applies to `buf` as well.
        match respell(buf) {
            Some(fixed) => Pin::new(&mut self.0).poll_write(cx, &fixed),
            None => Pin::new(&mut self.0).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respells_only_the_listed_names_in_the_head() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nSforce-Numberofrecords: 5\r\nSforce-Locator: abc\r\n\r\nSforce-Numberofrecords";
        let fixed = respell(head).unwrap();
        let text = String::from_utf8(fixed).unwrap();
        assert!(text.contains("\r\nSforce-NumberOfRecords: 5\r\n"));
        assert!(text.contains("\r\nSforce-Locator: abc\r\n"));
        assert!(text.contains("\r\nContent-Type: text/csv\r\n"));
        assert!(
            text.ends_with("\r\n\r\nSforce-Numberofrecords"),
            "a body is not a header line"
        );
        assert_eq!(text.len(), head.len());
        assert_eq!(respell(b"HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n"), None);
    }
}
