//! Telemetry on Workers: ids from `Math.random()`, and each logged request as one JSON object
//! through `console.log` (what Workers Logs and `wrangler tail` show as structured fields).

use manifold_core::{Random, RequestRecord, Sink};
use worker::js_sys::Math;

/// Ids from `Math.random()` (two draws of 32 bits each): the runtime seeds it per isolate.
/// Not for secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct MathRandom;

impl Random for MathRandom {
    fn next_u64(&self) -> u64 {
        let draw = || (Math::random() * 4_294_967_296.0) as u64 & 0xffff_ffff;
        draw() << 32 | draw()
    }
}

/// `console.log` of one JSON object per logged request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleLog;

impl Sink for ConsoleLog {
    fn request(&self, record: &RequestRecord) {
        if record.log {
            worker::console_log!("{}", record.to_json());
        }
    }
}
