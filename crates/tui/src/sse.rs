//! A Server-Sent Events parser (the WHATWG event stream format) for `GET /api/v1/events`:
//! bytes in, as they arrive in chunks of any size, frames out. Lines end in LF, CR or CRLF
//! (a CR at the end of a chunk waits for the next one, so a CRLF split across chunks is one
//! line break); `data:` lines join with `\n`; comments and unknown fields are skipped; an
//! `id` holding NUL is ignored, as the standard says. Nothing here is displayed as is: the
//! console escapes every string taken from a frame before drawing it.

/// One dispatched frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    /// `event:`; `None` for the default type (`message`).
    pub event: Option<String>,
    pub data: String,
    /// The last event id after this frame (`id:` of this frame or an earlier one).
    pub id: Option<String>,
    /// `retry:` in milliseconds, when this frame set it.
    pub retry: Option<u64>,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of a line not yet ended.
    line: Vec<u8>,
    /// The previous chunk ended with CR: a LF starting the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: Vec<String>,
    retry: Option<u64>,
    last_id: Option<String>,
    /// Whether the frame being read holds a field (comments alone dispatch nothing).
    touched: bool,
}

/// Lines longer than this are cut (a frame is a single JSON event of a few KiB).
const MAX_LINE_BYTES: usize = 1024 * 1024;

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Resumes after `id` (what the stream's `Last-Event-ID` was).
    pub fn with_last_id(id: Option<String>) -> Parser {
        Parser {
            last_id: id,
            ..Parser::default()
        }
    }

    /// Feeds `chunk`; returns the frames it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' => self.end_line(&mut frames),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut frames);
                }
                byte if self.line.len() < MAX_LINE_BYTES => self.line.push(byte),
                _ => {}
            }
        }
        frames
    }

    fn end_line(&mut self, frames: &mut Vec<Frame>) {
        let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
        if line.is_empty() {
            if let Some(frame) = self.dispatch() {
                frames.push(frame);
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => {
                self.event = Some(value.to_owned());
                self.touched = true;
            }
            "data" => {
                self.data.push(value.to_owned());
                self.touched = true;
            }
            "id" if !value.contains('\0') => {
                self.last_id = Some(value.to_owned());
                self.touched = true;
            }
            "retry" if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) => {
                self.retry = value.parse().ok();
                self.touched = true;
            }
            _ => {}
        }
    }

    /// The frame read so far, if it is one; the id carries over to later frames.
    fn dispatch(&mut self) -> Option<Frame> {
        if !std::mem::take(&mut self.touched) {
            return None;
        }
        let frame = Frame {
            event: self.event.take(),
            data: std::mem::take(&mut self.data).join("\n"),
            id: self.last_id.clone(),
            retry: self.retry.take(),
        };
        Some(frame)
    }

    /// The id to resume after.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut parser = Parser::new();
        chunks.iter().flat_map(|chunk| parser.push(chunk)).collect()
    }

    #[test]
    fn fields_make_one_frame_at_the_blank_line() {
        let frames = all(&[b"id: 1-0\nevent: run.queued\ndata: {\"a\":1}\n\n"]);
        assert_eq!(
            frames,
            vec![Frame {
                event: Some(String::from("run.queued")),
                data: String::from("{\"a\":1}"),
                id: Some(String::from("1-0")),
                retry: None,
            }]
        );
    }

    #[test]
    fn data_lines_join_with_newlines() {
        let frames = all(&[b"data: one\ndata:two\ndata\n\n"]);
        assert_eq!(frames[0].data, "one\ntwo\n");
    }

    #[test]
    fn comments_alone_dispatch_nothing() {
        assert!(all(&[b": keep-alive\n\n: connected\n\n"]).is_empty());
    }

    #[test]
    fn crlf_and_cr_end_lines_even_split_across_chunks() {
        let frames = all(&[
            b"event: a\r",
            b"\ndata: x\r\r",
            b"event: b\rdata: y\r\n\r\n",
        ]);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].event.as_deref(), Some("a"));
        assert_eq!(frames[0].data, "x");
        assert_eq!(frames[1].event.as_deref(), Some("b"));
        assert_eq!(frames[1].data, "y");
    }

    #[test]
    fn partial_chunks_wait_for_the_rest() {
        let mut parser = Parser::new();
        assert!(parser.push(b"id: 5-").is_empty());
        assert!(parser.push(b"1\nevent: reset\ndata: {}").is_empty());
        let frames = parser.push(b"\n\n");
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].id.as_deref(), Some("5-1"));
        assert_eq!(parser.last_id(), Some("5-1"));
    }

    #[test]
    fn retry_is_read_only_as_digits_and_ids_carry_over() {
        let frames =
            all(&[b"retry: 3000\n: connected\n\nretry: soon\ndata: a\n\nid: 9-9\n\ndata: b\n\n"]);
        assert_eq!(frames[0].retry, Some(3000));
        assert_eq!(frames[1].retry, None);
        assert_eq!(frames[2].id.as_deref(), Some("9-9"));
        assert_eq!(frames[3].id.as_deref(), Some("9-9"));
        assert_eq!(frames[3].data, "b");
    }

    #[test]
    fn ids_with_nul_are_ignored_and_unknown_fields_skipped() {
        let mut parser = Parser::with_last_id(Some(String::from("1-1")));
        let frames = parser.push(b"id: 2\0-0\nfoo: bar\ndata: x\n\n");
        assert_eq!(frames[0].id.as_deref(), Some("1-1"));
    }
}
