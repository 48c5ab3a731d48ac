//! A message body of prepared frames: data, then optionally trailers; for requests the
//! clients send and responses the backends give.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

pub struct Frames {
    frames: VecDeque<Frame<Bytes>>,
    /// After the prepared frames, the body never ends (the stream stays open).
    open_ended: bool,
}

impl Frames {
    pub fn new(body: Vec<u8>, trailers: &[(String, Vec<u8>)]) -> Frames {
        let mut frames = VecDeque::new();
        if !body.is_empty() {
            frames.push_back(Frame::data(Bytes::from(body)));
        }
        if !trailers.is_empty() {
            let mut map = hyper::HeaderMap::new();
            for (name, value) in trailers {
                map.append(
                    hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("trailer name"),
                    hyper::header::HeaderValue::from_bytes(value).expect("trailer value"),
                );
            }
            frames.push_back(Frame::trailers(map));
        }
        Frames {
            frames,
            open_ended: false,
        }
    }

    /// The same frames, and then the body never ends.
    pub fn open_ended(mut self) -> Frames {
        self.open_ended = true;
        self
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.frames.pop_front() {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            // Never woken: the stream stays open until the peer goes away.
            None if self.open_ended => Poll::Pending,
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && !self.open_ended
    }

    fn size_hint(&self) -> SizeHint {
        let length: usize = self
            .frames
            .iter()
            .filter_map(Frame::data_ref)
            .map(Bytes::len)
            .sum();
        if self.open_ended || self.frames.iter().any(Frame::is_trailers) {
            // Trailers (or a body that never ends) need a chunked HTTP/1.1 body.
            SizeHint::default()
        } else {
            SizeHint::with_exact(length as u64)
        }
    }
}
