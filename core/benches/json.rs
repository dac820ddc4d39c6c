//! JSON microbenchmarks over scenario c's 100 KB backend body (bench/bench.py `c/big.json`):
//! parse, the `deny` filter's parse-remove, and write. Run: `cargo bench -p manifold-core --bench
//! json`. For an instruction count that a busy host does not disturb, `<bench binary> --rounds N
//! OP` runs OP (parse, write, parse_deny_write) N times and exits: run it under
//! `valgrind --tool=callgrind` with N and with 0 and divide the difference by N. `--dump` prints
//! every JSON file named on stdin parsed and written back, to compare outputs across changes.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[global_allocator]
static GLOBAL: manifold_alloc::Mimalloc = manifold_alloc::Mimalloc;

use criterion::{criterion_group, Criterion, Throughput};
use manifold_core::json::{self, Value};

fn body() -> String {
    let body = common::scenario_c_body();
    assert_eq!(
        body.len(),
        100_910,
        "fixture drifted from bench.py's c/big.json"
    );
    body
}

/// Scenario c's work on the body: parse, the `deny` filter (`debug`, `meta.trace`), write.
fn parse_deny_write(body: &str) -> String {
    let Value::Object(mut m) = json::parse(body.as_bytes()).unwrap() else {
        unreachable!()
    };
    m.remove("debug");
    if let Some(Value::Object(meta)) = m.get_mut("meta") {
        meta.remove("trace");
    }
    Value::Object(m).to_json()
}

fn json_bench(c: &mut Criterion) {
    let body = body();
    let parsed = json::parse(body.as_bytes()).unwrap();
    let mut g = c.benchmark_group("json_c_100kb");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| json::parse(body.as_bytes()).unwrap());
    });
    g.bench_function("write", |b| b.iter(|| parsed.to_json()));
    g.bench_function("parse_deny_write", |b| b.iter(|| parse_deny_write(&body)));
    g.finish();
}

criterion_group!(benches, json_bench);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--dump") {
        // For byte-identity checks across representation changes: every file named on stdin,
        // parsed and written back (or its error).
        for path in std::io::stdin().lines() {
            let path = path.unwrap();
            let text = std::fs::read(&path).unwrap();
            match json::parse(&text) {
                Ok(v) => println!("{path}\t{}", v.to_json()),
                Err(e) => println!("{path}\t{e}"),
            }
        }
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--rounds") {
        let rounds: usize = args[i + 1].parse().unwrap();
        let body = body();
        let parsed = json::parse(body.as_bytes()).unwrap();
        let mut out = 0;
        for _ in 0..rounds {
            out += match args[i + 2].as_str() {
                "parse" => usize::from(json::parse(body.as_bytes()).is_ok()),
                "write" => parsed.to_json().len(),
                "parse_deny_write" => parse_deny_write(&body).len(),
                other => panic!("unknown op {other}"),
            };
        }
        println!("{out}");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
