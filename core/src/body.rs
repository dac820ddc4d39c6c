//! A message body read under a size limit, decided in one place for every front end: the
//! native server and the adapters read request bodies with it, both HTTP clients (hyper and
//! `fetch`) read backend responses with it. The platform only feeds the chunks it receives.
//!
//! A declared `Content-Length` over the limit is refused before anything is read; a body
//! without one (or lying about it) is refused by the chunk that would take it past the limit,
//! so no more than `limit` bytes are ever buffered (joining a body of more than one block
//! briefly holds it twice, see [`BoundedBody`]).

use std::convert::Infallible;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, StatusCode};

/// The size of the blocks a body is copied into, and so the most a response's declared
/// `Content-Length` may allocate up front (it can be a lie).
const BLOCK: usize = 64 * 1024;

/// A body that is, or would become, larger than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The limit it exceeds, in bytes.
    pub limit: usize,
}

/// A body being collected under a limit: create it from the message head, then [`push`] each
/// chunk as it arrives and [`finish`] at the end, or [`collect`] a stream of chunks.
///
/// The chunks are copied into full blocks of [`BLOCK`] bytes (a chunk at least that large, or
/// what is left of it, into a block of its own size), and a body of more than one block is
/// joined once, into a buffer of its exact size, when it is finished. Growing one
/// buffer instead allocated and dropped a doubling series of ever larger buffers for every big
/// body (up to 16 MiB for a response over the backend cap, which is never used), and mimalloc
/// keeps such freed blocks: the gateway idled at 130 to 190 MB after a few dozen oversized
/// responses, against 65 to 105 MB with blocks (docs/soak.md). The chunks themselves are not
/// kept: a peer sending one-byte chunks would cost a 32-byte handle per byte, each pinning
/// hyper's read buffer.
///
/// [`push`]: BoundedBody::push
/// [`finish`]: BoundedBody::finish
/// [`collect`]: BoundedBody::collect
#[derive(Debug)]
pub struct BoundedBody {
    /// Filled blocks, in order, each exactly as large as its allocation.
    full: Vec<Bytes>,
    /// The block being filled: it doubles from the first chunk up to exactly `BLOCK` bytes
    /// (later blocks start at `BLOCK`), and chunks are split at its end.
    tail: Vec<u8>,
    /// Bytes in `full` and `tail`.
    len: usize,
    limit: usize,
}

// === impl TooLarge ===

impl TooLarge {
    /// The answer to a client whose request body is too large: 413, as the native server has
    /// always written it.
    pub fn response(self) -> http::Response<Bytes> {
        crate::http_util::plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "413 request body too large\n",
        )
    }
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "body larger than {} bytes", self.limit)
    }
}

impl std::error::Error for TooLarge {}

// === impl BoundedBody ===

impl BoundedBody {
    /// A client's request body. Nothing is allocated from its declared length: a client must
    /// send bytes before it costs memory.
    pub fn request(headers: &HeaderMap, limit: usize) -> Result<Self, TooLarge> {
        Self::new(headers, limit, 0)
    }

    /// A backend's response body, with room for its declared length up to one block.
    pub fn response(headers: &HeaderMap, limit: usize) -> Result<Self, TooLarge> {
        Self::new(headers, limit, BLOCK)
    }

    fn new(headers: &HeaderMap, limit: usize, preallocate: usize) -> Result<Self, TooLarge> {
        let declared = declared_length(headers);
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(TooLarge { limit });
        }
        let capacity = declared.map_or(0, |len| usize::try_from(len).unwrap_or(limit));
        Ok(Self {
            full: Vec::new(),
            tail: Vec::with_capacity(capacity.min(preallocate)),
            len: 0,
            limit,
        })
    }

    /// Add the next chunk; `TooLarge` (and the chunk not kept) if it takes the body past the
    /// limit. Reading should stop then.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), TooLarge> {
        if self.len + chunk.len() > self.limit {
            return Err(TooLarge { limit: self.limit });
        }
        self.len += chunk.len();
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.tail.is_empty() && rest.len() >= BLOCK {
                // One copy of a big chunk (Lambda's whole body, say), not a block series.
                self.full.push(Bytes::copy_from_slice(rest));
                break;
            }
            let (now, later) = rest.split_at(rest.len().min(BLOCK - self.tail.len()));
            let needed = self.tail.len() + now.len();
            if needed > self.tail.capacity() {
                // Once the body is a block long, every block is allocated at its full size.
                let grown = if self.full.is_empty() {
                    (self.tail.capacity() * 2).max(needed).min(BLOCK)
                } else {
                    BLOCK
                };
                self.tail.reserve_exact(grown - self.tail.len());
            }
            self.tail.extend_from_slice(now);
            if self.tail.len() == BLOCK {
                self.full.push(Bytes::from(std::mem::take(&mut self.tail)));
            }
            rest = later;
        }
        Ok(())
    }

    /// The whole body: the only block as it is, or every block copied once into a buffer of
    /// exactly the body's size, each block freed as soon as it is copied.
    pub fn finish(mut self) -> Bytes {
        if self.full.is_empty() {
            return Bytes::from(self.tail);
        }
        if self.full.len() == 1 && self.tail.is_empty() {
            return self.full.pop().unwrap_or_default();
        }
        let mut body = BytesMut::with_capacity(self.len);
        for block in self.full {
            body.extend_from_slice(&block);
        }
        body.extend_from_slice(&self.tail);
        body.freeze()
    }

    /// Read a stream of chunks to its end through [`push`](Self::push): the whole body, or the
    /// first failure, the stream's own mapped by `read_error`. Reading stops at the chunk that
    /// goes over the limit; the caller drops (cancels) the rest.
    pub async fn collect<S, C, E, Err>(
        mut self,
        chunks: S,
        read_error: impl Fn(E) -> Err,
    ) -> Result<Bytes, Err>
    where
        S: Stream<Item = Result<C, E>>,
        C: AsRef<[u8]>,
        Err: From<TooLarge>,
    {
        let mut chunks = std::pin::pin!(chunks);
        while let Some(chunk) = chunks.next().await {
            self.push(chunk.map_err(&read_error)?.as_ref())?;
        }
        Ok(self.finish())
    }
}

/// A body already in memory (Lambda's events carry it whole) as the one-chunk stream
/// `Gateway::serve` reads under the body limit.
pub fn whole_body(
    body: Bytes,
) -> futures_util::stream::Iter<std::iter::Once<Result<Bytes, Infallible>>> {
    futures_util::stream::iter(std::iter::once(Ok(body)))
}

/// The `Content-Length` a head declares, if it is a number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(CONTENT_LENGTH)?.to_str().ok()?;
    value.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::HeaderValue;

    fn head(content_length: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(len) = content_length {
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static(len));
        }
        headers
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_reading() {
        assert_eq!(
            BoundedBody::request(&head(Some("11")), 10).unwrap_err(),
            TooLarge { limit: 10 }
        );
        assert!(BoundedBody::response(&head(Some(" 11 ")), 10).is_err());
        assert!(BoundedBody::request(&head(Some("10")), 10).is_ok());
        // Not a number: left to the bytes actually sent.
        assert!(BoundedBody::request(&head(Some("junk")), 10).is_ok());
    }

    #[test]
    fn streamed_bytes_are_refused_by_the_chunk_that_crosses_the_limit() {
        let mut body = BoundedBody::request(&head(None), 10).unwrap();
        body.push(b"12345").unwrap();
        body.push(b"").unwrap();
        body.push(b"67890").unwrap();
        assert_eq!(body.push(b"x"), Err(TooLarge { limit: 10 }));
        assert_eq!(body.finish(), Bytes::from_static(b"1234567890"));
    }

    #[test]
    fn a_lying_length_does_not_help() {
        let mut body = BoundedBody::response(&head(Some("2")), 4).unwrap();
        body.push(b"abc").unwrap();
        assert!(body.push(b"de").is_err());
    }

    #[test]
    fn only_responses_allocate_from_the_declared_length() {
        let declared = head(Some("5000"));
        assert!(
            BoundedBody::response(&declared, 1 << 30)
                .unwrap()
                .tail
                .capacity()
                >= 5000
        );
        assert_eq!(
            BoundedBody::request(&declared, 1 << 30)
                .unwrap()
                .tail
                .capacity(),
            0
        );
        let huge = head(Some("1000000000"));
        let body = BoundedBody::response(&huge, 1 << 30).unwrap();
        assert!(body.tail.capacity() <= BLOCK);
    }

    /// `len` bytes, `byte(i)` at offset `i`, pushed in chunks of `chunk` bytes.
    fn pushed(len: usize, chunk: usize) -> (BoundedBody, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut body = BoundedBody::request(&head(None), len).unwrap();
        for piece in data.chunks(chunk) {
            body.push(piece).unwrap();
        }
        (body, data)
    }

    #[test]
    fn a_body_of_many_blocks_is_joined_in_order_into_its_exact_size() {
        for (len, chunk) in [
            (BLOCK, 1000),
            (3 * BLOCK + 17, 1000),
            (5 * BLOCK, 3 * BLOCK),
        ] {
            let (body, data) = pushed(len, chunk);
            let joined = body.finish();
            assert_eq!(joined, data, "{len} bytes in chunks of {chunk}");
            // One allocation of exactly the body's size, not a grown buffer's slack.
            assert_eq!(joined.try_into_mut().unwrap().capacity(), len);
        }
    }

    /// The lengths of `body`'s full blocks, each checked to fill its allocation exactly.
    fn block_lengths(body: &mut BoundedBody) -> Vec<usize> {
        let mut lengths = Vec::new();
        for block in std::mem::take(&mut body.full) {
            let block = block.try_into_mut().unwrap();
            assert_eq!(block.len(), block.capacity());
            lengths.push(block.len());
            body.full.push(block.freeze());
        }
        lengths
    }

    #[test]
    fn chunks_of_any_size_are_copied_into_full_blocks() {
        // Small chunks are not kept one by one, but gathered into blocks.
        for chunk in [1, 1000] {
            let (mut body, data) = pushed(4 * BLOCK + 1, chunk);
            assert_eq!(block_lengths(&mut body), [BLOCK; 4], "chunks of {chunk}");
            assert_eq!(body.tail.len(), 1);
            assert_eq!(body.finish(), data);
        }
        // A big chunk is one block; after a small one, it first fills the block being filled.
        let data: Vec<u8> = (0..4 * BLOCK).map(|i| (i % 251) as u8).collect();
        let mut body = BoundedBody::request(&head(None), data.len()).unwrap();
        body.push(&data[..100]).unwrap();
        body.push(&data[100..]).unwrap();
        assert_eq!(block_lengths(&mut body), [BLOCK, 3 * BLOCK]);
        assert!(body.tail.is_empty());
        assert_eq!(body.finish(), data);
    }

    #[test]
    fn a_body_in_one_big_chunk_is_copied_once() {
        let (mut body, data) = pushed(5 * BLOCK + 3, 5 * BLOCK + 3);
        assert_eq!(block_lengths(&mut body), [5 * BLOCK + 3]);
        let block = body.full[0].as_ptr();
        let finished = body.finish();
        assert_eq!(finished, data);
        assert_eq!(finished.as_ptr(), block);
    }

    #[test]
    fn a_body_under_one_block_is_not_copied_again() {
        let (body, data) = pushed(BLOCK - 1, 100);
        assert!(body.full.is_empty());
        let tail = body.tail.as_ptr();
        let finished = body.finish();
        assert_eq!(finished, data);
        assert_eq!(finished.as_ptr(), tail);
    }

    #[test]
    fn a_stream_is_collected_until_its_end_a_read_error_or_the_limit() {
        #[derive(Debug, PartialEq)]
        enum Failed {
            Read(&'static str),
            Large(TooLarge),
        }
        impl From<TooLarge> for Failed {
            fn from(e: TooLarge) -> Self {
                Self::Large(e)
            }
        }
        let collect = |chunks: Vec<Result<&'static [u8], &'static str>>| {
            let body = BoundedBody::request(&head(None), 4).unwrap();
            futures_util::FutureExt::now_or_never(
                body.collect(futures_util::stream::iter(chunks), Failed::Read),
            )
            .unwrap()
        };
        assert_eq!(
            collect(vec![Ok(b"ab"), Ok(b"cd")]),
            Ok(Bytes::from_static(b"abcd"))
        );
        assert_eq!(collect(vec![]), Ok(Bytes::new()));
        assert_eq!(
            collect(vec![Ok(b"ab"), Err("reset"), Ok(b"c")]),
            Err(Failed::Read("reset"))
        );
        assert_eq!(
            collect(vec![Ok(b"abc"), Ok(b"de"), Err("never read")]),
            Err(Failed::Large(TooLarge { limit: 4 }))
        );
    }

    #[test]
    fn the_413_answer() {
        let response = TooLarge { limit: 1 }.response();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.body(), "413 request body too large\n");
        assert_eq!(
            response.headers()[http::header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }
}
