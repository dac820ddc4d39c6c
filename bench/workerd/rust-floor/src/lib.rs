//! The plain JS Worker (bench/workerd/aggregator.js) in Rust on workers-rs: three fetches
//! joined, each body parsed (serde_json), filtered by `allow`, grouped, written back. The floor
//! of a Rust/wasm Worker doing scenario b's job: what the toolchain (wasm-bindgen, workers-rs,
//! the JS glue) costs before any gateway code runs. The backend port comes as the Worker var
//! `BENCH_BACKEND_PORT`, as for Manifold's bench Worker (bench/workerd/serve.mjs).
use serde_json::{Map, Value};
use worker::*;

const BACKENDS: [(&str, &str, &[&str]); 3] = [
    (
        "/b/user-{id}.json",
        "user",
        &["name", "avatar", "address.city"],
    ),
    ("/b/products.json", "products", &["items", "total"]),
    (
        "/b/promos.json",
        "promos",
        &["banner.title", "banner.image", "campaign"],
    ),
];

fn allow(src: &Value, paths: &[&str]) -> Value {
    let mut out = Map::new();
    for p in paths {
        let parts: Vec<&str> = p.split('.').collect();
        let mut from = src;
        let mut ok = true;
        for k in &parts {
            match from.get(k) {
                Some(v) => from = v,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        let mut to = Some(&mut out);
        for k in &parts[..parts.len() - 1] {
            to = to.and_then(|t| {
                t.entry(k.to_string())
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
            });
        }
        if let Some(to) = to {
            to.insert(parts[parts.len() - 1].to_string(), from.clone());
        }
    }
    Value::Object(out)
}

async fn call(base: &str, path: String, paths: &[&str]) -> Result<Value> {
    let mut init = RequestInit::new();
    init.with_redirect(RequestRedirect::Manual);
    let req = Request::new_with_init(&format!("{base}{path}"), &init)?;
    let mut res = Fetch::Request(req).send().await?;
    if !(200..300).contains(&res.status_code()) {
        return Err(Error::RustError("status".into()));
    }
    let bytes = res.bytes().await?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| Error::RustError(e.to_string()))?;
    Ok(allow(&v, paths))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let url = req.url()?;
    let Some(id) = url.path().strip_prefix("/frontpage/").map(str::to_owned) else {
        return Response::ok("ok");
    };
    let base = format!(
        "http://127.0.0.1:{}",
        env.var("BENCH_BACKEND_PORT")?.to_string()
    );
    let calls = BACKENDS.map(|(p, _, paths)| call(&base, p.replace("{id}", &id), paths));
    let results = futures_util::future::join_all(calls).await;
    let mut body = Map::new();
    let mut complete = true;
    for ((_, group, _), r) in BACKENDS.iter().zip(results) {
        match r {
            Ok(v) => {
                body.insert(group.to_string(), v);
            }
            Err(_) => complete = false,
        }
    }
    let text =
        serde_json::to_vec(&Value::Object(body)).map_err(|e| Error::RustError(e.to_string()))?;
    let headers = Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set(
        "x-krakend-completed",
        if complete { "true" } else { "false" },
    )?;
    Ok(Response::from_bytes(text)?.with_headers(headers))
}
