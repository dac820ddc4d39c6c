//! A validated [`Config`] written as the Rust expression that builds it again, for a front end
//! that compiles its config in (the Worker): its build decodes and checks the text, and the
//! module then carries this expression instead of the run-time decoder (serde's visitors, the
//! namespaces' decoders, the checks), which is most of what a small config's Worker would
//! otherwise link (bench/profile-notes.md, "Worker bundle: what the run-time config decoder
//! costs").
//!
//! Only the plan's plain parts are written: strings, numbers, lists, maps, the enums, URL
//! patterns, header names, networks, static JSON. A part built from keys, code or files (a JWT
//! validator's local keys, CEL programs, JSON schemas, TLS, …) is [`Unbakeable`], and the build
//! keeps the decoder for such a config.
//!
//! The expression runs inside a function returning `Result<_, String>` (`?` for the
//! constructors that check their input, which cannot fail for a value that came out of one).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderName;
use http::{Method, StatusCode};

use super::compiled_env::JSON_TEXT;
use super::error::Path;
use super::extra::{
    ApiKey, ApiKeys, BackendDetail, BackendHttp, BackendLayer, BotDetector, CelChecks, Cidr,
    CircuitBreaker, ClientCredentials, Coding, Compression, Cors, EndpointApiKeys, ErrorBodies,
    Exporters, FailurePolicy, FlatmapOp, GraphQl, Histograms, HttpCache, JsonSchema, JwtSigner,
    JwtValidator, KeyHash, KeyIn, KeySource, KeysFrom, Lambda, Layer, Layers, Logging, Martian,
    OpenTelemetry, Otlp, Prometheus, ProxyRateLimit, Redis, RedisPool, RedisRateLimit,
    RouterOptions, RouterRateLimit, ScopesMatcher, SecurityHttp, StaticAttribute, StaticResponse,
    StaticStrategy, Strategy, TelemetryOverride, WebSocket,
};
use super::plan::{
    Backend, BackendQos, Config, Encoding, Endpoint, EndpointGuards, HeaderFilter, OutputEncoding,
    QueryFilter, RootGuards, ServerTimeouts, TelemetryOptions,
};
use super::tls::{ClientTls, ServerTls};
use super::{Diagnostic, DnsDiscovery};
use crate::jose::Alg;
use crate::json::{Map, PathSeg};
use crate::limits::RequestLimits;
use crate::platform::{PoolSpec, PoolTls};
use crate::url::UrlPattern;

/// A part of the plan that cannot be written as code: the build decodes the config at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unbakeable(pub &'static str);

/// A plan value that can be written as a Rust expression building an equal value.
pub trait Bake {
    /// Append the expression to `out`, or say which part cannot be written.
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable>;
}

/// `config` as an expression of type `manifold_core::Config`, or the part that cannot be
/// written. Its warnings are not kept (the build reported them); its routes are added again,
/// in the same order, when the expression runs.
pub fn bake(config: &Config) -> Result<String, Unbakeable> {
    let mut out = String::new();
    config.bake(&mut out)?;
    Ok(out)
}

/// Append `path { name: value, … rest }`: `rest` is fields the caller writes itself.
fn fields(
    out: &mut String,
    path: &str,
    fields: &[(&str, &dyn Bake)],
    rest: &str,
) -> Result<(), Unbakeable> {
    out.push_str(path);
    out.push_str(" {");
    for (name, value) in fields {
        let _ = write!(out, " {name}: ");
        value.bake(out)?;
        out.push(',');
    }
    out.push_str(rest);
    out.push_str(" }");
    Ok(())
}

/// Append `path(value)`: a tuple variant, or a call with one argument.
fn wrap(out: &mut String, path: &str, value: &dyn Bake) -> Result<(), Unbakeable> {
    out.push_str(path);
    out.push('(');
    value.bake(out)?;
    out.push(')');
    Ok(())
}

/// `Bake` for structs: every field by name. The destructuring without `..` makes a field added
/// to the struct a compile error here, so nothing is left out of the expression silently.
macro_rules! structs {
    ($($path:literal $ty:ident { $($field:ident),* $(,)? })*) => {$(
        impl Bake for $ty {
            fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
                let $ty { $($field),* } = self;
                fields(out, $path, &[$((stringify!($field), $field)),*], "")
            }
        }
    )*};
}

impl Bake for Config {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        let Config {
            port,
            listen_ip,
            timeout,
            cache_ttl,
            debug_endpoint,
            ignore_unenforced,
            echo_endpoint,
            router,
            limits,
            server,
            telemetry,
            guards,
            tls,
            client_tls,
            endpoints,
            redis,
            compression,
            warnings: _,
            routes: _,
        } = self;
        out.push_str("{ let endpoints = ");
        endpoints.bake(out)?;
        out.push_str(";\n");
        fields(
            out,
            "manifold_core::Config",
            &[
                ("port", port),
                ("listen_ip", listen_ip),
                ("timeout", timeout),
                ("cache_ttl", cache_ttl),
                ("debug_endpoint", debug_endpoint),
                ("ignore_unenforced", ignore_unenforced),
                ("echo_endpoint", echo_endpoint),
                ("router", router),
                ("limits", limits),
                ("server", server),
                ("telemetry", telemetry),
                ("guards", guards),
                ("tls", tls),
                ("client_tls", client_tls),
                ("redis", redis),
                ("compression", compression),
            ],
            " routes: manifold_core::config::Routes::of(&endpoints)?, endpoints, \
             warnings: ::std::vec::Vec::new(),",
        )?;
        out.push_str(" }");
        Ok(())
    }
}

/// `Bake` for the parts built from keys, code, files or connections.
macro_rules! unbakeable {
    ($($ty:ident: $what:literal),* $(,)?) => {$(
        impl Bake for $ty {
            fn bake(&self, _: &mut String) -> Result<(), Unbakeable> {
                Err(Unbakeable($what))
            }
        }
    )*};
}

/// `Bake` for the fieldless enums, variant by variant.
macro_rules! unit_enums {
    ($($path:literal $ty:ident { $($variant:ident),* $(,)? })*) => {$(
        impl Bake for $ty {
            fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
                out.push_str(match self {
                    $($ty::$variant => concat!($path, "::", stringify!($variant)),)*
                });
                Ok(())
            }
        }
    )*};
}

/// `Bake` for numbers and booleans: their literal.
macro_rules! literals {
    ($($ty:ty),*) => {$(
        impl Bake for $ty {
            fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
                let _ = write!(out, "{self}");
                Ok(())
            }
        }
    )*};
}

literals!(bool, u8, u16, u32, u64, usize, i64);

structs! {
    "manifold_core::config::ServerTimeouts" ServerTimeouts { read, write, idle, read_header }
    "manifold_core::config::TelemetryOptions" TelemetryOptions { logging, opentelemetry }
    "manifold_core::config::RootGuards" RootGuards {
        cors, security_http, bot_detector, ratelimit_redis,
    }
    "manifold_core::config::EndpointGuards" EndpointGuards {
        bot_detector, ratelimit, ratelimit_redis,
    }
    "manifold_core::config::BackendQos" BackendQos { ratelimit, circuit_breaker, http_cache }
    "manifold_core::RequestLimits" RequestLimits { max_head, max_body }
    "manifold_core::config::extra::Redis" Redis { pools, clusters }
    "manifold_core::config::extra::BackendHttp" BackendHttp {
        return_error_details, return_error_code, no_redirect, allow_cross_origin_redirects,
    }
    "manifold_core::config::extra::FailurePolicy" FailurePolicy {
        required, all_or_nothing, partial_status, problem_details,
    }
    "manifold_core::config::extra::ErrorBodies" ErrorBodies { not_found, method_not_allowed }
    "manifold_core::config::extra::RouterOptions" RouterOptions {
        return_error_msg, hide_version_header, disable_health, health_path, error_body,
        disable_redirect_trailing_slash, disable_redirect_fixed_path, disable_access_log,
        logger_skip_paths, server_timing, forwarded_by_client_ip, remote_ip_headers,
        trusted_proxies, max_payload, auto_options, remove_extra_slash,
        disable_handle_method_not_allowed, app_engine, disable_path_decoding,
        max_multipart_memory,
    }
    "manifold_core::config::Endpoint" Endpoint {
        endpoint, method, timeout, cache_ttl, concurrent_calls, input_headers,
        input_query_strings, output_encoding, backend, sequential, static_response,
        flatmap_filter, params, label, auth_validator, api_keys, auth_signer, json_schema, cel,
        guards, failure, websocket, telemetry,
    }
    "manifold_core::config::extra::Cors" Cors {
        allow_origins, allow_methods, allow_headers, expose_headers, max_age, allow_credentials,
        options_passthrough, options_success_status, debug,
    }
    "manifold_core::config::extra::SecurityHttp" SecurityHttp {
        allowed_hosts, host_proxy_headers, ssl_redirect, ssl_host, ssl_proxy_headers,
        sts_seconds, sts_include_subdomains, sts_preload, force_sts_header, frame_deny,
        custom_frame_options_value, content_type_nosniff, browser_xss_filter,
        content_security_policy, referrer_policy, hpkp_public_key, is_development,
    }
    "manifold_core::config::extra::RouterRateLimit" RouterRateLimit {
        max_rate, capacity, client_max_rate, client_capacity, strategy, key, every, headers,
    }
    "manifold_core::config::extra::ProxyRateLimit" ProxyRateLimit { max_rate, capacity, every }
    "manifold_core::config::extra::CircuitBreaker" CircuitBreaker {
        interval, timeout, max_errors, name, log_status_change,
    }
    "manifold_core::config::extra::Compression" Compression {
        enabled, min_size, gzip_level, brotli_level, encodings,
    }
    "manifold_core::config::extra::StaticResponse" StaticResponse { strategy, data }
    "manifold_core::config::extra::JwtValidator" JwtValidator {
        alg, keys, audience, issuer, roles_key, roles, scopes_key, scopes, scopes_matcher,
        propagate_claims, cookie_key, auth_header_name, leeway,
    }
    "manifold_core::config::extra::Logging" Logging {
        level, prefix, syslog, stdout, format, custom_format, syslog_facility,
    }
    "manifold_core::config::extra::OpenTelemetry" OpenTelemetry {
        service_name, service_version, deploy_env, metric_reporting_period, trace_sample_rate,
        exporters, layers, histograms, skip_paths,
    }
    "manifold_core::config::extra::Histograms" Histograms { time_buckets, size_buckets }
    "manifold_core::config::extra::Exporters" Exporters { otlp, prometheus }
    "manifold_core::config::extra::Otlp" Otlp {
        name, host, port, use_http, disable_metrics, disable_traces,
        custom_metric_reporting_period,
    }
    "manifold_core::config::extra::Prometheus" Prometheus {
        name, port, listen_ip, go_metrics, process_metrics, disable_metrics,
        custom_metric_reporting_period,
    }
    "manifold_core::config::extra::Layers" Layers { global, proxy, backend }
    "manifold_core::config::extra::Layer" Layer {
        disable_metrics, disable_traces, disable_propagation, report_headers, skip_headers,
        metrics_static_attributes, traces_static_attributes, semantic_convention,
    }
    "manifold_core::config::extra::BackendLayer" BackendLayer { metrics, traces }
    "manifold_core::config::extra::TelemetryOverride" TelemetryOverride { global, proxy, backend }
    "manifold_core::config::extra::BackendDetail" BackendDetail {
        disable_stage, round_trip, read_payload, detailed_connection, static_attributes,
        report_headers, skip_headers,
    }
    "manifold_core::config::extra::StaticAttribute" StaticAttribute { key, value }
    "manifold_core::config::extra::HttpCache" HttpCache {
        shared, connection_name, pool_at, max_items, max_size,
    }
    "manifold_core::config::extra::RedisRateLimit" RedisRateLimit {
        limit, pool, on_failure_allow, pool_at,
    }
    "manifold_core::config::extra::RedisPool" RedisPool { spec, path, line, column }
    "manifold_core::config::extra::WebSocket" WebSocket { input_headers, idle_timeout, at }
    "manifold_core::config::Diagnostic" Diagnostic { path, context, message, line, column }
    "manifold_core::config::extra::ClientCredentials" ClientCredentials {
        client_id, client_secret, token_url, scopes, endpoint_params, connection_name, pool_at,
    }
    "manifold_core::config::extra::EndpointApiKeys" EndpointApiKeys {
        keys, roles, strategy, identifier, client_max_rate,
    }
    "manifold_core::config::extra::ApiKeys" ApiKeys {
        keys, strategy, identifier, propagate_role, hash, salt, keys_from,
    }
    "manifold_core::config::extra::ApiKey" ApiKey { id, roles, digest }
    "manifold_core::config::extra::KeysFrom" KeysFrom {
        connection_name, kv_namespace, prefix, cache_ttl, pool_at,
    }
    "manifold_core::config::extra::JsonSchema" JsonSchema {
        never, types, properties, required, additional, items, enumeration, minimum, maximum,
        exclusive_minimum, exclusive_maximum, min_length, max_length, min_items, max_items,
    }
    "manifold_core::config::Backend" Backend {
        host, discovery, url_pattern, method, encoding, allow, deny, mapping, group, target,
        is_collection, input_headers, input_query_strings, http, martian, graphql,
        client_credentials, lambda, cel, flatmap_filter, shadow, shadow_timeout, index, qos,
        required, telemetry,
    }
}

unit_enums! {
    "manifold_core::jose::Alg" Alg {
        HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA,
    }
    "manifold_core::config::extra::ScopesMatcher" ScopesMatcher { Any, All }
    "manifold_core::config::extra::KeyIn" KeyIn { Header, QueryString }
    "manifold_core::config::extra::KeyHash" KeyHash { Plain, Sha256, Sha1, Fnv128 }
    "manifold_core::config::extra::Strategy" Strategy { Ip, Header, Param, ApiKey }
    "manifold_core::config::extra::Coding" Coding { Brotli, Gzip }
    "manifold_core::config::extra::StaticStrategy" StaticStrategy {
        Always, Success, Complete, Errored, Incomplete,
    }
    "manifold_core::config::Encoding" Encoding { Json, SafeJson, String, Xml, Rss, NoOp }
    "manifold_core::config::OutputEncoding" OutputEncoding {
        Json, JsonCollection, String, NoOp, Negotiate, Xml, Yaml,
    }
}

unbakeable! {
    JwtSigner: "auth/signer",
    CelChecks: "validation/cel",
    Martian: "modifier/martian",
    GraphQl: "backend/graphql",
    Lambda: "backend/lambda",
    DnsDiscovery: "sd: dns",
    BotDetector: "security/bot-detector",
    ServerTls: "tls",
    ClientTls: "client_tls",
}

/// Append `{ let mut value = init; value.field = …; … value }`: a struct marked
/// `#[non_exhaustive]` is built by its constructor, then field by field.
fn assigned(out: &mut String, init: &str, fields: &[(&str, &dyn Bake)]) -> Result<(), Unbakeable> {
    let _ = write!(out, "{{ let mut value = {init};");
    for (name, value) in fields {
        let _ = write!(out, " value.{name} = ");
        value.bake(out)?;
        out.push(';');
    }
    out.push_str(" value }");
    Ok(())
}

impl Bake for PoolSpec {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        let PoolSpec {
            name,
            address,
            db,
            username,
            password,
            client_name,
            tls,
            connect_timeout,
            command_timeout,
            connections,
            durable_object,
        } = self;
        let mut init = String::from("manifold_core::platform::PoolSpec::new(");
        name.bake(&mut init)?;
        init.push_str(", ");
        address.bake(&mut init)?;
        init.push(')');
        assigned(
            out,
            &init,
            &[
                ("db", db),
                ("username", username),
                ("password", password),
                ("client_name", client_name),
                ("tls", tls),
                ("connect_timeout", connect_timeout),
                ("command_timeout", command_timeout),
                ("connections", connections),
                ("durable_object", durable_object),
            ],
        )
    }
}

impl Bake for PoolTls {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        let PoolTls {
            insecure,
            ca_certs,
            client_cert,
        } = self;
        assigned(
            out,
            "<manifold_core::platform::PoolTls as ::core::default::Default>::default()",
            &[
                ("insecure", insecure),
                ("ca_certs", ca_certs),
                ("client_cert", client_cert),
            ],
        )
    }
}

impl Bake for Path {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        out.push_str("manifold_core::config::Path::of(::std::vec![");
        for step in self.steps() {
            match step {
                PathSeg::Key(key) => wrap(out, "manifold_core::json::PathSeg::Key", key)?,
                PathSeg::Index(i) => wrap(out, "manifold_core::json::PathSeg::Index", i)?,
            }
            out.push_str(", ");
        }
        out.push_str("])");
        Ok(())
    }
}

impl Bake for String {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        // `str`'s Debug form is a valid Rust string literal (quotes, escapes, `\u{…}`).
        let _ = write!(out, "::std::string::String::from({self:?})");
        Ok(())
    }
}

impl Bake for f64 {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        // Its bits: the very number, whatever its shortest decimal form would round to.
        let _ = write!(out, "f64::from_bits({:#x})", self.to_bits());
        Ok(())
    }
}

impl Bake for Arc<str> {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        let _ = write!(out, "::std::sync::Arc::<str>::from({:?})", &**self);
        Ok(())
    }
}

impl Bake for [u8; 32] {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        let _ = write!(out, "{self:?}");
        Ok(())
    }
}

impl<T: Bake> Bake for Vec<T> {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        out.push_str("::std::vec![");
        for item in self {
            item.bake(out)?;
            out.push_str(", ");
        }
        out.push(']');
        Ok(())
    }
}

impl<T: Bake> Bake for Option<T> {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        match self {
            Some(value) => wrap(out, "::core::option::Option::Some", value),
            None => {
                out.push_str("::core::option::Option::None");
                Ok(())
            }
        }
    }
}

impl<T: Bake> Bake for Box<T> {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        wrap(out, "::std::boxed::Box::new", &**self)
    }
}

/// A JSON value (a schema's `enum`) as its text, parsed at start by the core's own parser:
/// numbers stay digit for digit, keys in their order.
impl Bake for crate::json::Value {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        checked(
            out,
            "manifold_core::json::parse",
            &format!("{JSON_TEXT}{:?}.as_bytes()", self.to_json()),
        )
    }
}

impl<T: Bake> Bake for Arc<T> {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        wrap(out, "::std::sync::Arc::new", &**self)
    }
}

impl<K: Bake, V: Bake> Bake for BTreeMap<K, V> {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        out.push_str("::std::collections::BTreeMap::from([");
        for (key, value) in self {
            out.push('(');
            key.bake(out)?;
            out.push_str(", ");
            value.bake(out)?;
            out.push_str("), ");
        }
        out.push_str("])");
        Ok(())
    }
}

impl<A: Bake, B: Bake> Bake for (A, B) {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        out.push('(');
        self.0.bake(out)?;
        out.push_str(", ");
        self.1.bake(out)?;
        out.push(')');
        Ok(())
    }
}

impl Bake for Duration {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        let (secs, nanos) = (self.as_secs(), self.subsec_nanos());
        let _ = write!(out, "::core::time::Duration::new({secs}, {nanos})");
        Ok(())
    }
}

impl Bake for IpAddr {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        let _ = match self {
            IpAddr::V4(ip) => write!(out, "::std::net::IpAddr::from({:?})", ip.octets()),
            IpAddr::V6(ip) => write!(out, "::std::net::IpAddr::from({:?})", ip.segments()),
        };
        Ok(())
    }
}

/// Append `constructor(argument)?` for a constructor that checks its input (and cannot fail
/// on what came out of the type it builds).
fn checked(out: &mut String, constructor: &str, argument: &str) -> Result<(), Unbakeable> {
    let _ = write!(out, "{constructor}({argument}).map_err(|e| e.to_string())?");
    Ok(())
}

impl Bake for Method {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        // The standard methods are constants: no parse, no error path at start.
        let standard = [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::HEAD,
            Method::OPTIONS,
            Method::CONNECT,
            Method::TRACE,
        ];
        if standard.contains(self) {
            let _ = write!(out, "::http::Method::{}", self.as_str());
            return Ok(());
        }
        let bytes = format!("b{:?}", self.as_str());
        checked(out, "::http::Method::from_bytes", &bytes)
    }
}

impl Bake for HeaderName {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        let bytes = format!("b{:?}", self.as_str());
        checked(out, "::http::header::HeaderName::from_bytes", &bytes)
    }
}

impl Bake for StatusCode {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        checked(
            out,
            "::http::StatusCode::from_u16",
            &self.as_u16().to_string(),
        )
    }
}

impl Bake for UrlPattern {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        // Rebuilt from its source: only if that gives this very pattern back.
        if UrlPattern::parse(&self.source).as_ref() != Ok(self) {
            return Err(Unbakeable("url_pattern"));
        }
        let source = &self.source;
        let _ = write!(out, "manifold_core::url::UrlPattern::parse({source:?})?");
        Ok(())
    }
}

impl Bake for Cidr {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        let (addr, prefix) = (self.addr, self.prefix);
        let _ = write!(
            out,
            "manifold_core::config::extra::Cidr::parse(\"{addr}/{prefix}\")?"
        );
        Ok(())
    }
}

impl Bake for Map {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        // Parsed at start from its JSON text (numbers as written; a map keeps its keys sorted).
        let mut text = String::new();
        crate::json::write_json(&mut text, &crate::json::Value::Object(self.clone()));
        let _ = write!(
            out,
            "match manifold_core::json::parse({JSON_TEXT}{text:?}.as_bytes()).map_err(|e| e.to_string())? {{ \
             manifold_core::json::Value::Object(map) => map, \
             _ => return Err(::std::string::String::from(\"not a JSON object\")) }}"
        );
        Ok(())
    }
}

impl Bake for serde_json::Value {
    fn bake(&self, _: &mut String) -> Result<(), Unbakeable> {
        Err(Unbakeable("router.error_body"))
    }
}

/// `Bake` for the client filters: everything, or exactly a list.
macro_rules! filters {
    ($($path:literal $ty:ident),*) => {$(
        impl Bake for $ty {
            fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
                match self {
                    $ty::All => {
                        out.push_str(concat!($path, "::All"));
                        Ok(())
                    }
                    $ty::Only(list) => wrap(out, concat!($path, "::Only"), list),
                }
            }
        }
    )*};
}

filters!("manifold_core::config::HeaderFilter" HeaderFilter, "manifold_core::config::QueryFilter" QueryFilter);

impl Bake for KeySource {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        match self {
            KeySource::Url { url, ttl } => fields(
                out,
                "manifold_core::config::extra::KeySource::Url",
                &[("url", url), ("ttl", ttl)],
                "",
            ),
            // Parsed again at start from the document it came from (the same function on the
            // same text: the same keys).
            KeySource::Inline(set) => {
                let (alg, document) = set
                    .source()
                    .ok_or(Unbakeable("auth/validator with local or inline keys"))?;
                out.push_str(
                    "manifold_core::config::extra::KeySource::Inline(::std::sync::Arc::new(",
                );
                let _ = write!(
                    out,
                    "manifold_core::jose::KeySet::baked({JSON_TEXT}{document:?}, "
                );
                alg.bake(out)?;
                out.push_str(")?))");
                Ok(())
            }
        }
    }
}

impl Bake for FlatmapOp {
    fn bake(&self, out: &mut String) -> Result<(), Unbakeable> {
        match self {
            FlatmapOp::Move { from, to } => fields(
                out,
                "manifold_core::config::extra::FlatmapOp::Move",
                &[("from", from), ("to", to)],
                "",
            ),
            FlatmapOp::Append { from, to } => fields(
                out,
                "manifold_core::config::extra::FlatmapOp::Append",
                &[("from", from), ("to", to)],
                "",
            ),
            FlatmapOp::Del { paths } => fields(
                out,
                "manifold_core::config::extra::FlatmapOp::Del",
                &[("paths", paths)],
                "",
            ),
        }
    }
}
