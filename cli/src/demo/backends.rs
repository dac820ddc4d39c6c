//! The demo's backend services, in-process on free loopback ports: a store API (`/products`,
//! `/marketing-promos`) and a users API (`/users/{id}`, `/shopping-cart/{id}`), as in KrakenD's
//! front-page example. Their answers are realistic and deliberately verbose: far more fields
//! than a front page needs, which is what the gateway's filtering is for.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// Where the demo services listen.
#[derive(Debug, Clone, Copy)]
pub struct DemoBackends {
    /// The store API: `/products`, `/marketing-promos`.
    pub store: SocketAddr,
    /// The users API: `/users/{id}`, `/shopping-cart/{id}`.
    pub users: SocketAddr,
}

/// A route's answer: the JSON body, or `None` for 404; and a simulated processing time, so the
/// demo shows that the gateway calls backends in parallel.
type Route = fn(&str) -> (Option<Value>, Duration);

/// Start both services on 127.0.0.1 with OS-assigned ports. They run until the runtime stops.
pub async fn start() -> std::io::Result<DemoBackends> {
    Ok(DemoBackends {
        store: serve(store).await?,
        users: serve(users).await?,
    })
}

async fn serve(route: Route) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(move |req: Request<Incoming>| answer(route, req));
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

async fn answer(route: Route, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (body, delay) = route(req.uri().path());
    tokio::time::sleep(delay).await;
    let (status, body) = match body {
        Some(v) => (StatusCode::OK, v),
        None => (StatusCode::NOT_FOUND, json!({ "error": "not found" })),
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn store(path: &str) -> (Option<Value>, Duration) {
    match path {
        "/products" => (Some(products()), Duration::from_millis(30)),
        "/marketing-promos" => (Some(promos()), Duration::from_millis(15)),
        _ => (None, Duration::ZERO),
    }
}

fn users(path: &str) -> (Option<Value>, Duration) {
    let id = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|id| id.parse::<u32>().ok())
    };
    if let Some(id) = id("/users/") {
        (Some(user(id)), Duration::from_millis(10))
    } else if let Some(id) = id("/shopping-cart/") {
        (Some(cart(id)), Duration::from_millis(20))
    } else {
        (None, Duration::ZERO)
    }
}

const PRODUCTS: &[(&str, &str, &str)] = &[
    ("LMP-001", "Arc desk lamp", "49.90"),
    ("CHR-014", "Oak dining chair", "129.00"),
    ("MUG-220", "Stoneware mug, set of 4", "24.50"),
    ("RUG-031", "Wool rug 160x230", "219.00"),
    ("SHF-007", "Wall shelf, walnut", "64.00"),
    ("CSH-102", "Linen cushion cover", "19.90"),
];

/// A search-style product listing: a few lean items inside an envelope of facets,
/// recommendations, tracking and paging that a front page never shows.
fn products() -> Value {
    let items: Vec<Value> = PRODUCTS
        .iter()
        .enumerate()
        .map(|(i, (sku, name, price))| {
            json!({
                "id": 1000 + i,
                "sku": sku,
                "name": name,
                "price": { "amount": price, "currency": "EUR" },
                "thumbnail": format!("https://cdn.store.example/p/{sku}/thumb.webp"),
                "rating": 4.5,
                "in_stock": true
            })
        })
        .collect();
    let recommendations: Vec<Value> = PRODUCTS
        .iter()
        .rev()
        .map(|(sku, name, price)| {
            json!({
                "sku": sku, "name": name, "price": price,
                "reason": "customers_also_viewed", "model": "reco-v7", "score": 0.8123,
                "image": format!("https://cdn.store.example/p/{sku}/1.webp"),
                "impression_url": format!("https://track.store.example/i?sku={sku}&slot=reco"),
                "click_url": format!("https://track.store.example/c?sku={sku}&slot=reco")
            })
        })
        .collect();
    json!({
        "status": "ok",
        "data": {
            "items": items,
            "facets": {
                "category": [ { "value": "lighting", "count": 42 }, { "value": "furniture", "count": 118 },
                              { "value": "kitchen", "count": 77 }, { "value": "textiles", "count": 64 } ],
                "price": [ { "range": "0-25", "count": 51 }, { "range": "25-100", "count": 139 },
                           { "range": "100+", "count": 111 } ],
                "material": [ "oak", "walnut", "linen", "wool", "stoneware", "steel" ],
                "colour": [ "natural", "black", "white", "terracotta", "sage" ]
            },
            "sort_options": [ "relevance", "price_asc", "price_desc", "newest", "rating" ],
            "breadcrumbs": [ { "name": "Home", "url": "/" }, { "name": "Featured", "url": "/featured" } ],
            "recommendations": recommendations,
            "sponsored": { "campaign": "CMP-2026-01", "slot": "top", "pixel": "https://ads.store.example/p?c=CMP-2026-01" },
            "pagination": { "page": 1, "per_page": 6, "total_items": 301, "total_pages": 51 }
        },
        "experiments": { "search_ranking": "v7-treatment", "price_display": "control", "bucket": 8812 },
        "meta": {
            "request_id": "b6f1c1e2-5b7e-4a35-9d1f-2f0c7c1a9e11",
            "api_version": "2024-11-01",
            "generated_in_ms": 27,
            "served_by": "search-7f9c4d-2",
            "deprecations": [ "`price.compare_at` moves to `pricing` in 2026-06" ]
        },
        "_links": { "self": "/products?page=1", "next": "/products?page=2", "last": "/products?page=51" }
    })
}

fn promos() -> Value {
    json!([
        {
            "id": "PROMO-WINTER", "title": "Winter sale", "subtitle": "Up to 30% off textiles",
            "image": "https://cdn.store.example/promo/winter.webp", "cta_url": "/sale/winter",
            "starts_at": "2026-01-05T00:00:00Z", "ends_at": "2026-02-01T00:00:00Z",
            "campaign_id": "CMP-2026-01", "audience_segments": [ "returning", "eu" ],
            "budget_eur": 12000, "priority": 10, "ab_variant": "B"
        },
        {
            "id": "PROMO-SHIP", "title": "Free shipping", "subtitle": "On orders over 80 EUR",
            "image": "https://cdn.store.example/promo/shipping.webp", "cta_url": "/shipping",
            "starts_at": "2026-01-01T00:00:00Z", "ends_at": null,
            "campaign_id": "CMP-EVERGREEN", "audience_segments": [ "all" ],
            "budget_eur": null, "priority": 5, "ab_variant": null
        }
    ])
}

const FIRST_NAMES: &[&str] = &["Ana", "Bruno", "Carla", "Diego", "Eva", "Filipe", "Gina"];

fn user(id: u32) -> Value {
    let name = FIRST_NAMES
        .get(id as usize % FIRST_NAMES.len())
        .copied()
        .unwrap_or("Ana");
    json!({
        "id_user": id,
        "username": format!("{}{id}", name.to_lowercase()),
        "first_name": name,
        "last_name": "Silva",
        "email": format!("{}.silva{id}@mail.example", name.to_lowercase()),
        "phone": "+351 912 345 678",
        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$0n4mB0gU5sQ9jH8kQ1x2yZ",
        "avatar_url": format!("https://cdn.users.example/avatars/{id}.webp"),
        "locale": "pt-PT",
        "address": {
            "street": "Rua Augusta 100", "city": "Lisbon", "zip": "1100-053", "country": "PT",
            "geo": { "lat": 38.7100, "lng": -9.1365 }
        },
        "preferences": { "currency": "EUR", "newsletter": true, "theme": "dark", "language": "pt" },
        "loyalty": { "tier": "gold", "points": 4210, "member_since": "2019-06-01" },
        "created_at": "2019-06-01T10:00:00Z",
        "last_login_at": "2026-01-10T08:12:45Z",
        "last_login_ip": "203.0.113.42",
        "risk_score": 0.02,
        "internal_notes": "VIP; escalations go to the Lisbon support team",
        "marketing_consents": { "email": true, "sms": false, "third_party": false }
    })
}

fn cart(id: u32) -> Value {
    json!({
        "cart_id": format!("CART-{id}-7731"),
        "id_user": id,
        "items": [
            { "sku": "MUG-220", "name": "Stoneware mug, set of 4", "quantity": 2, "unit_price": "24.50",
              "line_total": "49.00", "reservation_id": "RSV-99812", "warehouse_location": "LIS-2/A/14" },
            { "sku": "LMP-001", "name": "Arc desk lamp", "quantity": 1, "unit_price": "49.90",
              "line_total": "49.90", "reservation_id": "RSV-99813", "warehouse_location": "LIS-2/C/03" }
        ],
        "totals": {
            "subtotal": "98.90", "shipping": "0.00", "total": "98.90", "currency": "EUR",
            "tax_breakdown": [ { "rate": "23%", "base": "80.41", "tax": "18.49" } ]
        },
        "coupons": [],
        "session": { "id": "sess_4f9a2c", "ip": "203.0.113.42", "user_agent": "Mozilla/5.0", "started_at": "2026-01-10T08:12:50Z" },
        "tracking": { "utm_source": "newsletter", "utm_campaign": "winter", "ab_tests": { "checkout_v2": "control" } },
        "warehouse_notes": "consolidate with order 88123 if possible",
        "updated_at": "2026-01-10T08:20:03Z"
    })
}
