//! `manifold demo`: KrakenD's front-page example, running entirely in this process. Four
//! backend services start on free loopback ports, the gateway serves `config/demo.json` with
//! its placeholder hosts pointed at them, and every request prints what it cost: the backend
//! calls, bytes received from them, bytes sent to the client, and time per backend.

pub mod backends;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use manifold_core::config::load::{self, LoadError};
use manifold_core::{Config, Gateway};

use crate::meter::Outcome;
use crate::run::{metered_platform, StartError};
use crate::server::{self, Exchange, ServerOptions};
use backends::DemoBackends;

/// `config/demo.json`, compiled in so the demo runs from any directory.
pub const DEMO_CONFIG: &str = include_str!("../../../config/demo.json");
/// The store API's placeholder host in `config/demo.json`.
pub const STORE_HOST: &str = "http://api.store.server";
/// The users API's placeholder host in `config/demo.json`.
pub const USERS_HOST: &str = "http://api.users.server";

/// The demo config with its placeholder hosts replaced by the running demo services.
pub fn config(backends: &DemoBackends) -> Result<Config, LoadError> {
    let mut config = load::load(DEMO_CONFIG, |_| None)?;
    let store = format!("http://{}", backends.store);
    let users = format!("http://{}", backends.users);
    for backend in config
        .endpoints
        .iter_mut()
        .flat_map(|e| e.backend.iter_mut())
    {
        for host in &mut backend.host {
            match host.as_str() {
                STORE_HOST => host.clone_from(&store),
                USERS_HOST => host.clone_from(&users),
                _ => {}
            }
        }
    }
    Ok(config)
}

/// Start the demo services and the gateway on 127.0.0.1:`port`; serve until `shutdown`.
pub async fn run(
    port: u16,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let backends = backends::start().await.map_err(StartError::Bind)?;
    let config = config(&backends).map_err(StartError::Load)?;
    let platform = metered_platform().map_err(StartError::Tls)?;
    let gateway = Gateway::new(config, platform);
    let listener = server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(StartError::Bind)?;
    let local = listener.local_addr().map_err(StartError::Bind)?;
    println!("{}", banner(&backends, local));
    let options = ServerOptions {
        observer: Some(Arc::new(|x: &Exchange<'_>| println!("{}", summary(x)))),
        shutdown_grace: Duration::from_secs(5),
        ..ServerOptions::default()
    };
    server::serve(listener, Arc::new(gateway), options, shutdown).await;
    println!("demo stopped");
    Ok(())
}

fn banner(backends: &DemoBackends, gateway: SocketAddr) -> String {
    let port = gateway.port();
    format!(
        "Manifold demo: one call to the gateway, four backends behind it (KrakenD's front-page example)

  store API   http://{store}   /products, /marketing-promos
  users API   http://{users}   /users/{{id}}, /shopping-cart/{{id}}
  gateway     http://{gateway}   config/demo.json: GET /frontpage/{{id_user}}

Try:
  curl http://localhost:{port}/frontpage/1
  curl -i http://localhost:{port}/frontpage/2
  curl http://localhost:{port}/__health

Each request prints what it cost. Ctrl-C stops everything.
",
        store = backends.store,
        users = backends.users,
    )
}

/// One request, as the demo prints it: a headline, then one line per backend call.
pub fn summary(x: &Exchange<'_>) -> String {
    let mut out = format!(
        "{} {} -> {} in {}",
        x.method,
        x.path,
        x.status.as_u16(),
        millis(x.elapsed)
    );
    if x.calls.is_empty() {
        out.push_str(", no backend called");
        return out;
    }
    let received: usize = x.calls.iter().map(|c| c.bytes).sum();
    let _ = write!(
        out,
        ": {} backend call{}, {} received, {} sent to the client",
        x.calls.len(),
        if x.calls.len() == 1 { "" } else { "s" },
        size(received),
        size(x.bytes_out)
    );
    if received > x.bytes_out {
        let saved = (received - x.bytes_out) * 100 / received;
        let _ = write!(out, " ({saved}% less)");
    }
    for call in x.calls {
        let outcome = match &call.outcome {
            Outcome::Status(s) => s.to_string(),
            Outcome::Failed(kind) => format!("{kind:?}").to_lowercase(),
            Outcome::Cancelled => "cancelled".to_owned(),
        };
        let _ = write!(
            out,
            "\n    {outcome:>9} {:>9} {:>10}  {} {}",
            millis(call.elapsed),
            size(call.bytes),
            call.method,
            call.url
        );
    }
    out
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::meter::BackendCall;
    use http::{Method, StatusCode};

    #[test]
    fn placeholder_hosts_are_replaced() {
        let backends = DemoBackends {
            store: "127.0.0.1:1111".parse().unwrap(),
            users: "127.0.0.1:2222".parse().unwrap(),
        };
        let config = config(&backends).unwrap();
        let hosts: Vec<&str> = config
            .endpoints
            .iter()
            .flat_map(|e| &e.backend)
            .flat_map(|b| &b.host)
            .map(String::as_str)
            .collect();
        assert!(!hosts.is_empty());
        for h in hosts {
            assert!(
                h == "http://127.0.0.1:1111" || h == "http://127.0.0.1:2222",
                "{h}"
            );
        }
    }

    #[test]
    fn summary_lists_calls_and_savings() {
        let calls = [BackendCall {
            method: Method::GET,
            url: "http://127.0.0.1:1/products".into(),
            outcome: Outcome::Status(200),
            bytes: 4096,
            elapsed: Duration::from_millis(30),
        }];
        let text = summary(&Exchange {
            method: &Method::GET,
            path: "/frontpage/1",
            status: StatusCode::OK,
            elapsed: Duration::from_millis(31),
            bytes_out: 1024,
            calls: &calls,
        });
        assert!(text.starts_with("GET /frontpage/1 -> 200 in 31.0 ms: 1 backend call, 4.0 KiB received, 1.0 KiB sent to the client (75% less)"), "{text}");
        assert!(
            text.contains("200   30.0 ms    4.0 KiB  GET http://127.0.0.1:1/products"),
            "{text}"
        );
    }
}
