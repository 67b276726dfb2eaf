//! Framing: `\n`-terminated lines with a length limit, used by both sides.
//!
//! A line longer than the limit is not buffered: the decoder yields [`Frame::TooLong`] once
//! and skips the rest of that line, so a peer cannot make the other side hold an unbounded
//! amount of memory, and the connection stays usable for the next line.
use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One complete line, without its newline (and without a trailing `\r`).
    Line(Vec<u8>),
    /// A line that went past the limit; its bytes were dropped.
    TooLong,
}

#[derive(Debug)]
pub struct LineCodec {
    max: usize,
    /// Set while skipping the remainder of an oversized line.
    discarding: bool,
    /// How far into the buffer we have already looked for a newline.
    scanned: usize,
}

impl LineCodec {
    pub fn new(max: usize) -> LineCodec {
        LineCodec {
            max,
            discarding: false,
            scanned: 0,
        }
    }
}

impl Decoder for LineCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        loop {
            let newline = buf[self.scanned..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|i| i + self.scanned);
            match (self.discarding, newline) {
                (true, Some(i)) => {
                    buf.advance(i + 1);
                    self.discarding = false;
                    self.scanned = 0;
                    continue;
                }
                (true, None) => {
                    buf.clear();
                    self.scanned = 0;
                    return Ok(None);
                }
                (false, Some(i)) if i <= self.max => {
                    let mut line = buf.split_to(i + 1).to_vec();
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    self.scanned = 0;
                    return Ok(Some(Frame::Line(line)));
                }
                (false, Some(i)) => {
                    buf.advance(i + 1);
                    self.scanned = 0;
                    return Ok(Some(Frame::TooLong));
                }
                (false, None) if buf.len() > self.max => {
                    buf.clear();
                    self.discarding = true;
                    self.scanned = 0;
                    return Ok(Some(Frame::TooLong));
                }
                (false, None) => {
                    self.scanned = buf.len();
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() || self.discarding => Ok(None),
            None => {
                // A last line without its newline still counts.
                let line = buf.split().to_vec();
                self.scanned = 0;
                Ok(Some(Frame::Line(line)))
            }
        }
    }
}

impl Encoder<String> for LineCodec {
    type Error = std::io::Error;

    fn encode(&mut self, line: String, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.reserve(line.len() + 1);
        dst.extend_from_slice(line.as_bytes());
        dst.extend_from_slice(b"\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, input: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        let mut out = vec![];
        // Feed byte chunks of 3 to exercise partial reads.
        for chunk in input.chunks(3) {
            buf.extend_from_slice(chunk);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        while let Some(f) = codec.decode_eof(&mut buf).unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn splits_lines_and_strips_cr() {
        let mut c = LineCodec::new(100);
        assert_eq!(
            decode_all(&mut c, b"ab\r\ncd\n\nlast"),
            vec![
                Frame::Line(b"ab".to_vec()),
                Frame::Line(b"cd".to_vec()),
                Frame::Line(vec![]),
                Frame::Line(b"last".to_vec())
            ]
        );
    }

    #[test]
    fn oversized_line_is_reported_once_and_skipped() {
        let mut c = LineCodec::new(5);
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 50));
        input.extend(b"\nafter\n");
        assert_eq!(
            decode_all(&mut c, &input),
            vec![
                Frame::Line(b"ok".to_vec()),
                Frame::TooLong,
                Frame::Line(b"after".to_vec())
            ]
        );
    }

    #[test]
    fn a_line_of_exactly_the_limit_passes() {
        let mut c = LineCodec::new(5);
        assert_eq!(
            decode_all(&mut c, b"12345\n123456\n"),
            vec![Frame::Line(b"12345".to_vec()), Frame::TooLong]
        );
    }
}
