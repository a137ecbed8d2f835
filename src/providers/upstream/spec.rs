//! Checking and compiling an `upstream:` section: every template and
//! expression compiles and reads only names that exist, environment
//! variables are listed and set, the map sets the fields an offer needs.
//! Every problem is reported at its line and column.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use minijinja::Value;
use serde_saphyr::Spanned;

use super::breaker::Breaker;
use super::mapping::{self, Expressions};
use super::send::{Retries, Sender};
use super::template::{self, BodyKind, Place, RequestShape};
use super::{Compiled, Upstream};
use crate::providers::cache::CachePolicy;
use crate::providers::definition::UpstreamSpec;
use crate::providers::problems::Problems;

/// Set by `airstream validate --no-environment`: unset variables of `env:`
/// are not errors (the process only lints files; it serves nothing).
static WITHOUT_ENVIRONMENT: AtomicBool = AtomicBool::new(false);

/// Lints provider files without their environment from now on: a CI job
/// without the secrets can still check everything else. Only for the
/// `validate` command; a serving process must never call it.
pub fn lint_without_environment() {
    WITHOUT_ENVIRONMENT.store(true, Ordering::Relaxed);
}

/// Top-level names a request template may read.
const TEMPLATE_ROOTS: [&str; 6] = ["search", "leg", "env", "settings", "provider", "airstream"];
/// Top-level names a response expression may read.
const EXPRESSION_ROOTS: [&str; 6] = ["item", "body", "search", "leg", "settings", "provider"];
/// Top-level names a segment field's expression may read.
const SEGMENT_ROOTS: [&str; 7] = [
    "segment", "item", "body", "search", "leg", "settings", "provider",
];
/// Fields of `search`.
const SEARCH_FIELDS: [&str; 13] = [
    "search_id",
    "from",
    "to",
    "date",
    "return_date",
    "passengers",
    "adults",
    "children",
    "infants",
    "max_stops",
    "cabin",
    "deadline",
    "timeout_ms",
];
/// Fields of `leg`.
const LEG_FIELDS: [&str; 4] = ["direction", "from", "to", "date"];
/// Fields of `provider`.
const PROVIDER_FIELDS: [&str; 4] = ["id", "name", "airline", "airline_name"];

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
                ("auth", Some(f)) if f != "access_token" => {
                    Some(format!("`auth.{f}` does not exist; auth has access_token"))
                }
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
                // Linting without the environment: the variable reads as
                // empty, and every other check still runs.
                Err(_) if WITHOUT_ENVIRONMENT.load(Ordering::Relaxed) => {
                    env_values.insert(name.clone(), Value::from(""));
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
            let Ok(header) = reqwest::header::HeaderName::from_bytes(name.as_bytes()) else {
                problems.at(value, format!("`{name}` is not a valid header name"));
                continue;
            };
            if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.value.to_ascii_lowercase());
            }
            headers.push((header, name.clone()));
            templates.push((Place::Header.template_name(name), value));
        }
        let body_kind = s.body.as_ref().map(|body| {
            let kind = BodyKind::of(content_type.as_deref());
            if kind != BodyKind::Xml && body.value.trim_start().starts_with('<') {
                problems.at(
                    body,
                    "the body looks like XML, but no `Content-Type` header names XML (such as `text/xml; charset=utf-8`), so it would be sent and checked as JSON",
                );
            }
            templates.push((kind.place().template_name(""), body));
            kind
        });
        // `auth` exists only where the file declares it.
        let template_roots: Vec<&str> = TEMPLATE_ROOTS
            .iter()
            .copied()
            .chain(s.auth.is_some().then_some("auth"))
            .collect();
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
                    &template_roots,
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
        let required = match &response.segments {
            Some(_) => mapping::REQUIRED.to_vec(),
            None => [
                &mapping::REQUIRED[..],
                &mapping::REQUIRED_WITHOUT_SEGMENTS[..],
            ]
            .concat(),
        };
        for key in required {
            if !response.map.value.contains_key(key) {
                problems.at(&response.map, format!("`map` must set `{key}`"));
            }
        }
        if !mapping::PRICED_BY
            .iter()
            .any(|k| response.map.value.contains_key(*k))
        {
            problems.at(
                &response.map,
                "`map` must set `price`, `per_passenger` or `price_adult`",
            );
        }
        check_segment_mapping(response, problems);
        let mut exprs: Vec<(&Spanned<String>, &[&str])> =
            vec![(&response.offers, &EXPRESSION_ROOTS)];
        exprs.extend(
            response
                .map
                .value
                .values()
                .map(|v| (v, &EXPRESSION_ROOTS[..])),
        );
        exprs.extend(response.segments.iter().map(|v| (v, &EXPRESSION_ROOTS[..])));
        exprs.extend(
            response
                .segment
                .iter()
                .flat_map(|m| m.value.values())
                .map(|v| (v, &SEGMENT_ROOTS[..])),
        );
        for (node, roots) in exprs {
            match env.compile_expression(&node.value) {
                Err(e) => compile_problem(problems, node, "expression", &e),
                Ok(expr) => {
                    let names = expr.undeclared_variables(true);
                    check_source(problems, node, names, roots, &env_listed, &settings_map);
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
        let coverage = coverage(s, problems);
        let cache = CachePolicy::from_spec(s.cache.as_ref(), problems);
        let oauth = s.auth.as_ref().and_then(|auth| {
            let ctx = minijinja::context! {
                env => Value::from(env_values.clone()),
                settings => template::trusted(&serde_json::Value::Object(settings_map.clone())),
            };
            super::oauth::OAuth2::from_spec(
                &auth.value.oauth2,
                &ctx,
                reqwest::Client::new(),
                problems,
            )
        });
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
        let sources = |map: Option<&Spanned<BTreeMap<String, Spanned<String>>>>| {
            map.iter()
                .flat_map(|m| m.value.iter())
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect::<Vec<(String, String)>>()
        };
        let field_sources = sources(Some(&response.map));
        let segment_sources = sources(response.segment.as_ref());
        let segments_source = response.segments.as_ref().map(|s| s.value.clone());
        let compiled = Compiled::try_new(env, |env| -> Result<Expressions<'_>, minijinja::Error> {
            Ok(Expressions {
                offers_source: offers_expr.clone(),
                offers: env.compile_expression_owned(offers_expr.clone())?,
                fields: compile_all(env, &field_sources)?,
                segments: segments_source
                    .clone()
                    .map(|s| env.compile_expression_owned(s))
                    .transpose()?,
                segment_fields: compile_all(env, &segment_sources)?,
            })
        })
        .ok()?;
        // What was written, without positions: every field takes part in
        // comparing two loads, including any added later.
        let written = match serde_json::to_value(s) {
            Ok(written) => written,
            Err(e) => {
                problems.at(spec, format!("the upstream could not be read: {e}"));
                return None;
            }
        };
        Some(Upstream {
            compiled,
            request: RequestShape {
                headers,
                body: body_kind,
            },
            env: Value::from(env_values),
            settings: template::trusted(&serde_json::Value::Object(settings_map)),
            sender: Sender {
                client,
                method,
                attempt_timeout: s.attempt_timeout.as_ref().map(|t| t.value.get()),
                retries: Retries {
                    attempts: retries.map_or(2, |r| r.value),
                    backoff,
                },
            },
            breaker: Breaker::new(failures, cooldown),
            dropped: AtomicU64::new(0),
            written,
            coverage,
            oauth,
            format: response.format.as_ref().map(|f| f.value),
            cache: cache?,
        })
    }
}

/// Compiles each `(field, expression)`.
fn compile_all<'env>(
    env: &'env minijinja::Environment<'static>,
    sources: &[(String, String)],
) -> Result<Vec<(String, minijinja::Expression<'env, 'static>)>, minijinja::Error> {
    sources
        .iter()
        .map(|(k, v)| Ok((k.clone(), env.compile_expression_owned(v.clone())?)))
        .collect()
}

/// `segments` and `segment` come together, and `segment` sets known
/// fields, the required ones among them.
fn check_segment_mapping(
    response: &crate::providers::definition::ResponseSpec,
    problems: &mut Problems,
) {
    match (&response.segments, &response.segment) {
        (None, None) => {}
        (Some(list), None) => problems.at(
            list,
            "`segments` needs `segment:` beside it: one expression per segment field",
        ),
        (None, Some(map)) => problems.at(
            map,
            "`segment` needs `segments:` beside it: the expression selecting an offer's flights",
        ),
        (Some(_), Some(map)) => {
            for key in map.value.keys() {
                if !super::segments::FIELDS.contains(&key.as_str()) {
                    problems.at(
                        map,
                        format!(
                            "`segment` sets unknown field `{key}`; the fields are {}",
                            super::segments::FIELDS.join(", ")
                        ),
                    );
                }
            }
            for key in super::segments::REQUIRED {
                if !map.value.contains_key(key) {
                    problems.at(map, format!("`segment` must set `{key}`"));
                }
            }
            if !map.value.contains_key("arrive_at") && !map.value.contains_key("duration") {
                problems.at(map, "`segment` must set `arrive_at` or `duration`");
            }
        }
    }
}

/// Where an upstream airline flies: its `routes` (each way) and
/// `airports`, or everywhere when it lists neither.
fn coverage(
    s: &crate::providers::definition::UpstreamSpec,
    problems: &mut Problems,
) -> crate::providers::Coverage {
    let mut coverage = crate::providers::Coverage::default();
    let known = crate::providers::coverage::airport;
    for route in s.routes.iter().flat_map(|r| &r.value) {
        let Some((a, b)) = route.value.split_once('-') else {
            problems.at(
                route,
                format!("`{}` is not a route such as CGK-DPS", route.value),
            );
            continue;
        };
        let part = |text: &str| Spanned {
            value: text.trim().to_string(),
            referenced: route.referenced,
            defined: route.defined,
        };
        if let (Some(a), Some(b)) = (known(&part(a), problems), known(&part(b), problems)) {
            coverage.routes.insert((a.clone(), b.clone()));
            coverage.routes.insert((b, a));
        }
    }
    for code in s.airports.iter().flat_map(|a| &a.value) {
        if let Some(code) = known(code, problems) {
            coverage.airports.insert(code);
        }
    }
    coverage.everywhere = s.routes.is_none() && s.airports.is_none();
    coverage
}
