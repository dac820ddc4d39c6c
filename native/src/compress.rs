//! Response compression natively (`manifold/compression`), shared by the `manifold` server
//! and the Lambda adapter: the core decides (coding, level, headers), this encodes the bytes
//! with `flate2` (gzip) or `brotli`.

use std::io::Write;

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use manifold_core::compression::{finish, plan};
use manifold_core::config::capability::COMPRESSION;
use manifold_core::config::extra::Coding;
use manifold_core::Config;

/// What compression needs of a request, kept before the request is handed to the gateway.
#[derive(Debug, Clone)]
pub struct Accepts {
    method: Method,
    headers: HeaderMap,
}

/// The method and `Accept-Encoding` lines of `request`; the lines only when `config`
/// compresses (nothing else reads them, and copying them cost every request).
pub fn accepts<B>(config: &Config, request: &http::Request<B>) -> Accepts {
    let mut headers = HeaderMap::new();
    if COMPRESSION && config.compression.is_some() {
        for v in request.headers().get_all(http::header::ACCEPT_ENCODING) {
            headers.append(http::header::ACCEPT_ENCODING, v.clone());
        }
    }
    Accepts {
        method: request.method().clone(),
        headers,
    }
}

/// `response` compressed as `config`'s `manifold/compression` and the client allow (as it is
/// without that namespace). An encoding that does not make the body smaller is dropped.
pub fn compress(
    config: &Config,
    accepts: &Accepts,
    mut response: Response<Bytes>,
) -> Response<Bytes> {
    // Constant: a build without `compression` has no `manifold/compression` to honour, and
    // testing it here lets the linker drop the encoders (brotli alone is about 1 MB).
    if !COMPRESSION {
        return response;
    }
    let Some(plan) = plan(
        config.compression.as_ref(),
        &accepts.method,
        &accepts.headers,
        &mut response,
    ) else {
        return response;
    };
    if let Some(body) = encode(plan.coding, plan.level, response.body()) {
        if body.len() < response.body().len() {
            finish(&mut response, plan.coding, Bytes::from(body));
        }
    }
    response
}

/// `data` encoded with `coding` at `level` (`None` only if the encoder fails, which writing
/// to memory does not).
pub fn encode(coding: Coding, level: u32, data: &[u8]) -> Option<Vec<u8>> {
    let out = Vec::with_capacity(data.len() / 4 + 64);
    match coding {
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
            e.write_all(data).ok()?;
            e.finish().ok()
        }
        Coding::Brotli => {
            // A window no larger than the body (the encoder allocates by it), told the size.
            let bits = usize::BITS - data.len().max(1).leading_zeros();
            let params = brotli::enc::BrotliEncoderParams {
                quality: i32::try_from(level).ok()?,
                lgwin: i32::try_from(bits.clamp(10, 22)).ok()?,
                size_hint: data.len(),
                ..Default::default()
            };
            let mut out = out;
            brotli::BrotliCompress(&mut &data[..], &mut out, &params).ok()?;
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn both_codings_round_trip() {
        let data = br#"{"items":[1,2,3],"name":"manifold"}"#.repeat(100);
        let gz = encode(Coding::Gzip, 6, &data).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        assert!(gz.len() < data.len() / 10);
        let br = encode(Coding::Brotli, 4, &data).unwrap();
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut back).unwrap();
        assert_eq!(back, data);
        assert!(br.len() < data.len() / 10);
    }

    #[test]
    fn the_config_decides() {
        let on = manifold_core::parse_config(
            r#"{"version":3,"extra_config":{"manifold/compression":{"min_size":10}},"endpoints":[]}"#,
        )
        .unwrap();
        let off = manifold_core::parse_config(r#"{"version":3,"endpoints":[]}"#).unwrap();
        let request = http::Request::get("/")
            .header("accept-encoding", "br;q=0.9, gzip")
            .body(())
            .unwrap();
        let body = Bytes::from("hello hello hello hello hello hello");
        let answer = |config: &Config| {
            compress(
                config,
                &accepts(config, &request),
                Response::new(body.clone()),
            )
        };
        // Only a config that compresses keeps the request's `Accept-Encoding`.
        assert_eq!(accepts(&on, &request).headers.len(), 1);
        assert!(accepts(&off, &request).headers.is_empty());
        let compressed = answer(&on);
        assert_eq!(compressed.headers()["content-encoding"], "gzip");
        assert_eq!(compressed.headers()["vary"], "Accept-Encoding");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&compressed.body()[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, body);
        let plain = answer(&off);
        assert_eq!(plain.body(), &body);
        assert!(plain.headers().is_empty());
    }
}
