//! Upstream providers: a search becomes an HTTP call to an airline's API,
//! described in the provider file with templates (see [`template`]), and
//! the answer becomes normalized offers (see [`mapping`]). One pooled client
//! per provider; retries with backoff for connection errors, timeouts and
//! 5xx, never past the deadline; a circuit breaker per provider.

pub mod mapping;
pub mod template;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use minijinja::{Environment, Expression, Value, context};
use serde::Serialize;
use serde_saphyr::Spanned;
use tokio::time::Instant;

use super::definition::UpstreamSpec;
use super::load::Problems;
use crate::model::{AirlineRef, Leg, Offer, SearchRequest};
use template::Place;

/// Top-level names a request template may read.
const TEMPLATE_ROOTS: [&str; 6] = ["search", "leg", "env", "settings", "provider", "airstream"];
/// Top-level names a response expression may read.
const EXPRESSION_ROOTS: [&str; 6] = ["item", "body", "search", "leg", "settings", "provider"];
/// Fields of `search`.
const SEARCH_FIELDS: [&str; 9] = [
    "search_id",
    "from",
    "to",
    "date",
    "return_date",
    "passengers",
    "cabin",
    "deadline",
    "timeout_ms",
];
/// Fields of `leg`.
const LEG_FIELDS: [&str; 4] = ["direction", "from", "to", "date"];
/// Fields of `provider`.
const PROVIDER_FIELDS: [&str; 4] = ["id", "name", "airline", "airline_name"];
/// Largest answer read, in bytes.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// Slack kept before the deadline so this call, not the runtime's own
/// timer, reports the timeout (and the breaker counts it).
const DEADLINE_SLACK: Duration = Duration::from_millis(3);

/// The compiled expressions of a provider's response mapping.
struct Expressions<'env> {
    offers: Expression<'env, 'static>,
    fields: Vec<(String, Expression<'env, 'static>)>,
}

self_cell::self_cell!(
    /// The environment holding a provider's templates, with the response
    /// expressions compiled against it.
    struct Compiled {
        owner: Environment<'static>,
        #[not_covariant]
        dependent: Expressions,
    }
);

/// A validated, compiled upstream provider.
pub struct Upstream {
    compiled: Compiled,
    method: reqwest::Method,
    headers: Vec<String>,
    has_body: bool,
    json_body: bool,
    env: Value,
    settings: Value,
    offers_expr: String,
    client: reqwest::Client,
    retries: u32,
    backoff: Duration,
    attempt_timeout: Option<Duration>,
    breaker: Breaker,
    dropped: AtomicU64,
    /// The spec as written, so two loads of one file compare equal.
    fingerprint: String,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("method", &self.method)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Upstream {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

/// Where a template sits in its file, to report its problems there.
fn report<T>(
    problems: &mut Problems,
    node: &Spanned<T>,
    source: &str,
    offset: usize,
    message: String,
) {
    // A multi-line template is a block scalar, whose position is that of
    // its first line.
    let before = &source[..offset.min(source.len())];
    let line_in = before.matches('\n').count() as u64;
    let (line, column) = if source.contains('\n') {
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64;
        (
            node.referenced.line() + line_in,
            node.referenced.column() + col,
        )
    } else {
        (
            node.referenced.line(),
            node.referenced.column() + before.chars().count() as u64,
        )
    };
    problems.at_position(line, column, message);
}

/// A template or expression that does not compile, at the error's place.
fn compile_problem(
    problems: &mut Problems,
    node: &Spanned<String>,
    what: &str,
    e: &minijinja::Error,
) {
    let offset = e.range().map_or(0, |r| r.start);
    let reason = e.detail().unwrap_or("syntax error");
    report(
        problems,
        node,
        &node.value,
        offset,
        format!("{what} does not compile: {reason}"),
    );
}

/// Reports each name a template or expression reads that does not exist,
/// where it is first written.
fn check_source(
    problems: &mut Problems,
    node: &Spanned<String>,
    names: impl IntoIterator<Item = String>,
    roots: &[&str],
    env_listed: &[String],
    settings: &serde_json::Map<String, serde_json::Value>,
) {
    for (var, problem) in check_names(names, roots, env_listed, settings) {
        let offset = node.value.find(&var).unwrap_or(0);
        report(problems, node, &node.value, offset, problem);
    }
}

/// Checks the names a template or expression reads against what exists.
fn check_names(
    names: impl IntoIterator<Item = String>,
    roots: &[&str],
    env_listed: &[String],
    settings: &serde_json::Map<String, serde_json::Value>,
) -> Vec<(String, String)> {
    let mut bad = Vec::new();
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    for name in names {
        let mut parts = name.split('.');
        let root = parts.next().unwrap_or_default();
        let field = parts.next();
        let problem = if !roots.contains(&root) {
            Some(format!(
                "`{root}` is not defined here; the names are {}",
                roots.join(", ")
            ))
        } else {
            match (root, field) {
                ("env", Some(var)) if !env_listed.iter().any(|v| v == var) => Some(format!(
                    "reads environment variable `{var}`, which is not listed in `env:`"
                )),
                ("search", Some(f)) if !SEARCH_FIELDS.contains(&f) => Some(format!(
                    "`search.{f}` does not exist; search has {}",
                    SEARCH_FIELDS.join(", ")
                )),
                ("leg", Some(f)) if !LEG_FIELDS.contains(&f) => Some(format!(
                    "`leg.{f}` does not exist; leg has {}",
                    LEG_FIELDS.join(", ")
                )),
                ("provider", Some(f)) if !PROVIDER_FIELDS.contains(&f) => Some(format!(
                    "`provider.{f}` does not exist; provider has {}",
                    PROVIDER_FIELDS.join(", ")
                )),
                ("airstream", Some(f)) if f != "url" => {
                    Some(format!("`airstream.{f}` does not exist; airstream has url"))
                }
                ("settings", Some(f)) if !settings.contains_key(f) => {
                    Some(format!("`settings.{f}` is not set under `settings:`"))
                }
                _ => None,
            }
        };
        if let Some(p) = problem {
            bad.push((name, p));
        }
    }
    bad
}

impl Upstream {
    /// Validates and compiles `spec`, recording every problem.
    pub fn from_spec(spec: &Spanned<UpstreamSpec>, problems: &mut Problems) -> Option<Upstream> {
        let before = problems.len();
        let s = &spec.value;
        // Environment variables: listed, well named, and set.
        let mut env_listed = Vec::new();
        let mut env_values = BTreeMap::new();
        for var in s.env.iter().flat_map(|l| l.value.iter()) {
            let name = &var.value;
            let well_named = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if !well_named {
                problems.at(
                    var,
                    format!("`{name}` is not an environment variable name (A-Z, 0-9, _)"),
                );
                continue;
            }
            match std::env::var(name) {
                Ok(value) => {
                    env_values.insert(name.clone(), Value::from_safe_string(value));
                }
                Err(_) => problems.at(
                    var,
                    format!("environment variable `{name}` is listed in `env:` but not set"),
                ),
            }
            env_listed.push(name.clone());
        }
        let settings_map = s
            .settings
            .as_ref()
            .map(|m| m.value.clone())
            .unwrap_or_default();
        let method = match &s.method {
            None => reqwest::Method::GET,
            Some(m) => match m.value.to_ascii_uppercase().as_str() {
                "GET" => reqwest::Method::GET,
                "POST" => reqwest::Method::POST,
                "PUT" => reqwest::Method::PUT,
                "PATCH" => reqwest::Method::PATCH,
                other => {
                    problems.at(
                        m,
                        format!("method `{other}` is not GET, POST, PUT or PATCH"),
                    );
                    reqwest::Method::GET
                }
            },
        };
        // Templates.
        let mut env = template::environment();
        let mut templates: Vec<(String, &Spanned<String>)> =
            vec![(Place::Url.template_name(""), &s.url)];
        let mut headers = Vec::new();
        let mut content_type = None;
        for (name, value) in s.headers.iter().flat_map(|h| h.value.iter()) {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.at(value, format!("`{name}` is not a valid header name"));
                continue;
            }
            if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.value.to_ascii_lowercase());
            }
            headers.push(name.clone());
            templates.push((Place::Header.template_name(name), value));
        }
        if let Some(body) = &s.body {
            templates.push((Place::Body.template_name(""), body));
        }
        for (name, node) in &templates {
            if let Err(e) = env.add_template_owned(name.clone(), node.value.clone()) {
                compile_problem(problems, node, "template", &e);
                continue;
            }
            if let Ok(tmpl) = env.get_template(name) {
                let names = tmpl.undeclared_variables(true);
                check_source(
                    problems,
                    node,
                    names,
                    &TEMPLATE_ROOTS,
                    &env_listed,
                    &settings_map,
                );
            }
        }
        // The response mapping.
        let response = &s.response.value;
        for key in response.map.value.keys() {
            if !mapping::FIELDS.contains(&key.as_str()) {
                problems.at(
                    &response.map,
                    format!(
                        "`map` sets unknown field `{key}`; the fields are {}",
                        mapping::FIELDS.join(", ")
                    ),
                );
            }
        }
        for key in mapping::REQUIRED {
            if !response.map.value.contains_key(key) {
                problems.at(&response.map, format!("`map` must set `{key}`"));
            }
        }
        if !response.map.value.contains_key("price")
            && !response.map.value.contains_key("per_passenger")
        {
            problems.at(&response.map, "`map` must set `price` or `per_passenger`");
        }
        let mut exprs: Vec<(String, &Spanned<String>)> =
            vec![("offers".to_string(), &response.offers)];
        exprs.extend(response.map.value.iter().map(|(k, v)| (k.clone(), v)));
        for (_, node) in &exprs {
            match env.compile_expression(&node.value) {
                Err(e) => compile_problem(problems, node, "expression", &e),
                Ok(expr) => {
                    let names = expr.undeclared_variables(true);
                    check_source(
                        problems,
                        node,
                        names,
                        &EXPRESSION_ROOTS,
                        &env_listed,
                        &settings_map,
                    );
                }
            }
        }
        // Calling.
        let connect_timeout = s
            .connect_timeout
            .as_ref()
            .map_or(Duration::from_secs(1), |d| d.value.get());
        let retries = s.retries.as_ref().and_then(|r| r.value.attempts.as_ref());
        if let Some(r) = retries.filter(|r| r.value > 10) {
            problems.at(
                r,
                format!("retries.attempts must be from 0 to 10, got {}", r.value),
            );
        }
        let backoff = s
            .retries
            .as_ref()
            .and_then(|r| r.value.backoff.as_ref())
            .map_or(Duration::from_millis(100), |b| b.value.get());
        let failures = s
            .breaker
            .as_ref()
            .and_then(|b| b.value.failures.as_ref())
            .map_or(5, |f| f.value);
        let cooldown = s
            .breaker
            .as_ref()
            .and_then(|b| b.value.cooldown.as_ref())
            .map_or(Duration::from_secs(10), |c| c.value.get());
        if problems.len() > before {
            return None;
        }
        let client = match reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                problems.at(spec, format!("HTTP client could not be built: {e}"));
                return None;
            }
        };
        let offers_expr = response.offers.value.clone();
        let field_sources: Vec<(String, String)> = response
            .map
            .value
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        let compiled = Compiled::try_new(env, |env| -> Result<Expressions<'_>, minijinja::Error> {
            Ok(Expressions {
                offers: env.compile_expression_owned(offers_expr.clone())?,
                fields: field_sources
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), env.compile_expression_owned(v.clone())?)))
                    .collect::<Result<_, minijinja::Error>>()?,
            })
        })
        .ok()?;
        let fingerprint = format!(
            "{method} {} {:?} {:?} {:?} {offers_expr} {field_sources:?} {settings_map:?} {env_listed:?} {connect_timeout:?} {:?} {retries:?} {backoff:?} {failures} {cooldown:?}",
            s.url.value,
            s.headers.as_ref().map(|h| h
                .value
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect::<Vec<_>>()),
            s.body.as_ref().map(|b| b.value.clone()),
            content_type,
            s.attempt_timeout.as_ref().map(|t| t.value.get()),
            retries = retries.map(|r| r.value),
        );
        Some(Upstream {
            compiled,
            method,
            headers,
            has_body: s.body.is_some(),
            json_body: s.body.is_some()
                && content_type.as_deref().is_none_or(|c| c.contains("json")),
            env: Value::from(env_values),
            settings: template::trusted(&serde_json::Value::Object(settings_map)),
            offers_expr,
            client,
            retries: retries.map_or(2, |r| r.value),
            attempt_timeout: s.attempt_timeout.as_ref().map(|t| t.value.get()),
            backoff,
            breaker: Breaker::new(failures, cooldown),
            dropped: AtomicU64::new(0),
            fingerprint,
        })
    }

    /// The breaker's state and the offers dropped so far, for
    /// `/api/providers`.
    pub fn status(&self) -> UpstreamStatus {
        UpstreamStatus {
            breaker: self.breaker.snapshot(),
            offers_dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// Answers one search: one call per leg (two for a round trip), within
    /// the deadline.
    pub async fn answer(
        &self,
        provider: &Provider<'_>,
        search: &SearchRequest,
        deadline: Instant,
    ) -> Result<Vec<Offer>, Failure> {
        let deadline = deadline.checked_sub(DEADLINE_SLACK).unwrap_or(deadline);
        let outbound = self.leg(provider, search, Leg::Outbound, deadline);
        match search.return_date {
            None => outbound.await,
            Some(_) => {
                let inbound = self.leg(provider, search, Leg::Inbound, deadline);
                let (out, back) = tokio::join!(outbound, inbound);
                let mut offers = out?;
                offers.extend(back?);
                Ok(offers)
            }
        }
    }

    async fn leg(
        &self,
        provider: &Provider<'_>,
        search: &SearchRequest,
        leg: Leg,
        deadline: Instant,
    ) -> Result<Vec<Offer>, Failure> {
        let (from, to, date) = match leg {
            Leg::Outbound => (&search.from, &search.to, search.date),
            Leg::Inbound => (
                &search.to,
                &search.from,
                search.return_date.unwrap_or(search.date),
            ),
        };
        let timeout_ms = search
            .deadline
            .duration_since(search.created_at)
            .as_millis()
            .max(0);
        let search_value = context! {
            search_id => search.search_id.to_string(),
            from => &search.from,
            to => &search.to,
            date => search.date.to_string(),
            return_date => search.return_date.map(|d| d.to_string()),
            passengers => search.passengers,
            cabin => search.cabin.as_str(),
            deadline => search.deadline.to_string(),
            timeout_ms => timeout_ms as u64,
        };
        let leg_value = context! {
            direction => match leg { Leg::Outbound => "outbound", Leg::Inbound => "inbound" },
            from => from,
            to => to,
            date => date.to_string(),
        };
        let provider_value = context! {
            id => Value::from_safe_string(provider.id.to_string()),
            name => Value::from_safe_string(provider.airline.name.clone()),
            airline => Value::from_safe_string(provider.airline.code.clone()),
            airline_name => Value::from_safe_string(provider.airline.name.clone()),
        };
        let ctx = context! {
            search => search_value,
            leg => leg_value,
            env => self.env.clone(),
            settings => self.settings.clone(),
            provider => provider_value,
            airstream => context! { url => Value::from_safe_string(provider.self_url.to_string()) },
        };
        let request = self.render(&ctx).map_err(Failure::Error)?;
        let guard = self.breaker.allow().map_err(Failure::Error)?;
        let result = self.send(provider.id, request, deadline).await;
        let result = match result {
            Ok(bytes) => self.map(&bytes, &ctx, provider, search, leg, from, to),
            Err(f) => Err(f),
        };
        guard.record(result.is_ok());
        result
    }

    /// Renders the request; search values are escaped where they land.
    fn render(&self, ctx: &Value) -> Result<Rendered, String> {
        let env = self.compiled.borrow_owner();
        let render = |name: &str| -> Result<String, String> {
            env.get_template(name)
                .and_then(|t| t.render(ctx))
                .map_err(|e| format!("the `{name}` template failed: {e:#}"))
        };
        let url = render("url")?;
        let url = reqwest::Url::parse(url.trim())
            .map_err(|e| format!("the URL template produced `{url}`, which is not a URL: {e}"))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for name in &self.headers {
            let value = render(&Place::Header.template_name(name))?;
            let value = reqwest::header::HeaderValue::from_str(value.trim()).map_err(|_| {
                format!("the `{name}` header template produced a value that is not a header value")
            })?;
            headers.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| e.to_string())?,
                value,
            );
        }
        let body = if self.has_body {
            let body = render("body")?;
            if self.json_body {
                serde_json::from_str::<serde::de::IgnoredAny>(&body)
                    .map_err(|e| format!("the body template produced invalid JSON ({e})"))?;
                headers.entry(reqwest::header::CONTENT_TYPE).or_insert(
                    reqwest::header::HeaderValue::from_static("application/json"),
                );
            }
            Some(body)
        } else {
            None
        };
        Ok(Rendered { url, headers, body })
    }

    /// Sends with retries (connection errors, timeouts, 5xx), never past
    /// the deadline; returns the answer's body.
    async fn send(
        &self,
        provider: &str,
        request: Rendered,
        deadline: Instant,
    ) -> Result<bytes::Bytes, Failure> {
        let mut attempt = 0u32;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::Timeout(format!(
                    "no answer within the deadline after {attempt} attempt(s)"
                )));
            }
            let mut builder = self
                .client
                .request(self.method.clone(), request.url.clone())
                .headers(request.headers.clone())
                .timeout(self.attempt_timeout.map_or(left, |t| t.min(left)));
            if let Some(body) = &request.body {
                builder = builder.body(body.clone());
            }
            attempt += 1;
            let sent = builder.send().await;
            let label = match &sent {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) if e.is_timeout() => "timeout".to_string(),
                Err(e) if e.is_connect() => "connect_error".to_string(),
                Err(_) => "error".to_string(),
            };
            metrics::counter!(crate::metrics::UPSTREAM_CALLS, "provider" => provider.to_string(), "status" => label).increment(1);
            let outcome = match sent {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        match read_limited(response).await {
                            Ok(Some(bytes)) => return Ok(bytes),
                            Ok(None) => {
                                return Err(Failure::Error(format!(
                                    "the answer is larger than {} MiB",
                                    MAX_BODY >> 20
                                )));
                            }
                            Err(e) if e.is_timeout() => Retry::Timeout(format!(
                                "the answer did not arrive in time: {}",
                                e.without_url()
                            )),
                            Err(e) => Retry::Yes(format!(
                                "reading the answer failed: {}",
                                e.without_url()
                            )),
                        }
                    } else {
                        // The airline's own words stay in our log: passed on,
                        // they could tell a client anything the airline says.
                        let body = snippet(&response.bytes().await.unwrap_or_default());
                        tracing::warn!(provider, status = status.as_u16(), %body, "the airline answered with an error");
                        let reason = format!("HTTP {} from the airline", status.as_u16());
                        if status.is_server_error() {
                            Retry::Yes(reason)
                        } else {
                            return Err(Failure::Error(reason));
                        }
                    }
                }
                Err(e) if e.is_timeout() => {
                    Retry::Timeout(format!("no answer in time ({attempt} attempt(s))"))
                }
                // Without the URL: its query may carry a key.
                Err(e) if e.is_connect() => Retry::Yes(format!(
                    "cannot connect: {}",
                    source_chain(&e.without_url())
                )),
                Err(e) => Retry::Yes(format!(
                    "request failed: {}",
                    source_chain(&e.without_url())
                )),
            };
            let wait = self
                .backoff
                .saturating_mul(1 << (attempt - 1).min(10))
                .mul_f64(rand::random_range(0.5..=1.0));
            let (reason, timed_out) = match outcome {
                Retry::Yes(r) => (r, false),
                Retry::Timeout(r) => (r, true),
            };
            let room = deadline.saturating_duration_since(Instant::now());
            if attempt > self.retries || room <= wait {
                let reason = if attempt > 1 {
                    format!("{reason} (after {attempt} attempts)")
                } else {
                    reason
                };
                return Err(if timed_out {
                    Failure::Timeout(reason)
                } else {
                    Failure::Error(reason)
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Maps the answer's body to offers; an offer that cannot be read is
    /// dropped and counted.
    #[allow(clippy::too_many_arguments)]
    fn map(
        &self,
        bytes: &[u8],
        ctx: &Value,
        provider: &Provider<'_>,
        search: &SearchRequest,
        leg: Leg,
        from: &str,
        to: &str,
    ) -> Result<Vec<Offer>, Failure> {
        let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            tracing::warn!(provider = provider.id, body = %snippet(bytes), "the airline's answer is not JSON");
            Failure::Error(format!("the answer is not JSON ({e})"))
        })?;
        let body = Value::from_serialize(&json);
        let base = context! { body => body, ..ctx.clone() };
        self.compiled.with_dependent(|_, exprs| {
            let list = exprs.offers.eval(&base).map_err(|e| {
                Failure::Error(format!("`{}` could not be read from the answer: {e}", self.offers_expr))
            })?;
            if list.is_none() || list.is_undefined() {
                tracing::warn!(provider = provider.id, body = %snippet(bytes), "the airline's answer has no offers list");
                return Err(Failure::Error(format!(
                    "`{}` found nothing in the answer",
                    self.offers_expr,
                )));
            }
            let items = list.try_iter().ok().filter(|_| list.kind() == minijinja::value::ValueKind::Seq).ok_or_else(|| {
                Failure::Error(format!("`{}` is not a list in the answer (found {})", self.offers_expr, list.kind()))
            })?;
            let defaults = mapping::Defaults {
                provider: provider.id,
                airline: provider.airline,
                leg,
                from,
                to,
                cabin: search.cabin,
                passengers: search.passengers,
            };
            let mut offers = Vec::new();
            for (index, item) in items.enumerate() {
                let item_ctx = context! { item => item, ..base.clone() };
                let values = |name: &str| -> Result<Option<Value>, String> {
                    let Some((_, expr)) = exprs.fields.iter().find(|(k, _)| k == name) else {
                        return Ok(None);
                    };
                    let v = expr.eval(&item_ctx).map_err(|e| format!("`{name}`: {e}"))?;
                    Ok((!v.is_none() && !v.is_undefined()).then_some(v))
                };
                match mapping::offer(&values, &defaults) {
                    Ok(offer) => offers.push(offer),
                    Err(reason) => {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(provider = %provider.id, search_id = %search.search_id, offer = index, %reason, "offer dropped: it could not be mapped");
                    }
                }
            }
            Ok(offers)
        })
    }
}

/// The provider an upstream call is made for.
pub struct Provider<'a> {
    /// Provider id.
    pub id: &'a str,
    /// Its airline.
    pub airline: &'a AirlineRef,
    /// This process's own base URL (`airstream.url` in templates).
    pub self_url: &'a str,
}

/// Why an upstream call gave no offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The airline failed or answered something unusable.
    Error(String),
    /// The deadline passed.
    Timeout(String),
}

enum Retry {
    Yes(String),
    Timeout(String),
}

struct Rendered {
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    body: Option<String>,
}

/// The answer's body, or `None` when it is larger than [`MAX_BODY`].
async fn read_limited(
    mut response: reqwest::Response,
) -> Result<Option<bytes::Bytes>, reqwest::Error> {
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if buf.len() + chunk.len() > MAX_BODY {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The start of a body, for error messages.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        format!("`{}`", text.replace('\n', " "))
    }
}

/// A circuit breaker: closed; open after `threshold` failures in a row,
/// refusing calls for `cooldown`; then half-open, letting one trial call
/// through whose outcome closes or reopens it.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    failures: u32,
    open_until: Option<Instant>,
    trial: bool,
}

/// The breaker's state as shown in `/api/providers`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct BreakerSnapshot {
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    /// Failed searches in a row.
    pub consecutive_failures: u32,
    /// Milliseconds until a trial call, while open.
    pub retry_in_ms: Option<u64>,
}

/// Upstream state shown in `/api/providers`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct UpstreamStatus {
    /// The circuit breaker.
    pub breaker: BreakerSnapshot,
    /// Offers dropped because they could not be mapped.
    pub offers_dropped: u64,
}

/// Records the outcome of an allowed call.
pub struct BreakerGuard<'a>(&'a Breaker);

impl BreakerGuard<'_> {
    /// Closes the breaker on success; counts a failure otherwise.
    pub fn record(self, ok: bool) {
        let breaker = self.0;
        let mut st = breaker.state.lock().expect("breaker lock");
        st.trial = false;
        if ok {
            st.failures = 0;
            st.open_until = None;
        } else {
            st.failures = st.failures.saturating_add(1);
            if breaker.threshold > 0 && st.failures >= breaker.threshold {
                st.open_until = Some(Instant::now() + breaker.cooldown);
            }
        }
    }
}

impl Breaker {
    /// A closed breaker; `threshold` 0 never opens.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
            state: Mutex::new(BreakerState::default()),
        }
    }

    /// Whether a call may go: `Err` with the reason while open (or while a
    /// trial call is out).
    pub fn allow(&self) -> Result<BreakerGuard<'_>, String> {
        let mut st = self.state.lock().expect("breaker lock");
        if let Some(until) = st.open_until {
            let now = Instant::now();
            if now < until {
                return Err(format!(
                    "circuit open after {} failures in a row; next try in {} ms",
                    st.failures,
                    (until - now).as_millis()
                ));
            }
            if st.trial {
                return Err("circuit half-open: a trial call is in flight".to_string());
            }
            st.trial = true;
        }
        Ok(BreakerGuard(self))
    }

    /// The state now.
    pub fn snapshot(&self) -> BreakerSnapshot {
        let st = self.state.lock().expect("breaker lock");
        let now = Instant::now();
        let (state, retry_in_ms) = match st.open_until {
            None => ("closed", None),
            Some(until) if now < until => ("open", Some((until - now).as_millis() as u64)),
            Some(_) => ("half_open", None),
        };
        BreakerSnapshot {
            state,
            consecutive_failures: st.failures,
            retry_in_ms,
        }
    }
}
