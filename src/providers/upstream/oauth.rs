//! OAuth2 client credentials (RFC 6749 section 4.4) for an upstream
//! airline: a token fetched on first use, cached until shortly before it
//! expires, fetched once however many searches wait for it, and given up
//! when the airline refuses it (`401`). Secrets and tokens never reach a
//! log line, an error or an answer.

use std::time::Duration;

use minijinja::Value;
use serde::Deserialize;
use serde_saphyr::Spanned;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::UpstreamError;
use crate::providers::definition::OAuth2Spec;
use crate::providers::problems::Problems;

/// Longest a token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(5);

/// A provider's client credentials and its cached token.
pub struct OAuth2 {
    /// The token URL's template, rendered when a token is fetched (it may
    /// name `airstream.url`, this process's own address).
    token_url: String,
    /// What that template reads besides `airstream`: `env` and `settings`.
    ctx: Value,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    /// Credentials in the form body instead of HTTP Basic.
    in_form: bool,
    client: reqwest::Client,
    /// Held while a token is fetched, so concurrent searches wait for one
    /// request instead of each making their own.
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    token: String,
    renew_at: Instant,
}

/// A token endpoint's answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

impl std::fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2")
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl OAuth2 {
    /// Reads `auth.oauth2`: its values are templates over `env` and
    /// `settings`, rendered once at load (secrets belong in `env`); the
    /// token URL may also name `airstream.url`, and is rendered when a
    /// token is fetched.
    pub fn from_spec(
        spec: &Spanned<OAuth2Spec>,
        ctx: &Value,
        client: reqwest::Client,
        problems: &mut Problems,
    ) -> Option<Self> {
        let s = &spec.value;
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // Checked here with a stand-in for this process's address.
        let with_self = |ctx: &Value| {
            minijinja::context! { airstream => minijinja::context! { url => "http://127.0.0.1:1" }, ..ctx.clone() }
        };
        let token_url = match env.render_str(&s.token_url.value, with_self(ctx)) {
            Ok(v) => Some(v.trim().to_string()),
            Err(e) => {
                problems.at(
                    &s.token_url,
                    format!("`auth.oauth2.token_url` cannot be rendered: {e}"),
                );
                None
            }
        };
        let mut render = |node: &Spanned<String>, what: &str| -> Option<String> {
            match env.render_str(&node.value, ctx) {
                Ok(v) => Some(v.trim().to_string()),
                Err(e) => {
                    problems.at(
                        node,
                        format!("`auth.oauth2.{what}` cannot be rendered: {e}"),
                    );
                    None
                }
            }
        };
        let client_id = render(&s.client_id, "client_id");
        let client_secret = render(&s.client_secret, "client_secret");
        let scope = s.scope.as_ref().and_then(|v| render(v, "scope"));
        let in_form = match s.credentials.as_ref().map(|c| c.value.as_str()) {
            None | Some("basic") => false,
            Some("form") => true,
            Some(other) => {
                problems.at(
                    s.credentials.as_ref().unwrap_or(&s.token_url),
                    format!("`credentials` is `basic` (HTTP Basic, the default) or `form`, not `{other}`"),
                );
                false
            }
        };
        let token_url = token_url?;
        match reqwest::Url::parse(&token_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                problems.at(
                    &s.token_url,
                    "`auth.oauth2.token_url` is not an http(s) URL",
                );
                return None;
            }
        };
        Some(Self {
            token_url: s.token_url.value.clone(),
            ctx: ctx.clone(),
            client_id: client_id?,
            client_secret: client_secret?,
            scope,
            in_form,
            client,
            cached: Mutex::new(None),
        })
    }

    /// A valid token: the cached one, or a new one fetched once for every
    /// search waiting for it.
    pub async fn token(
        &self,
        provider: &super::Provider<'_>,
        deadline: Instant,
    ) -> Result<String, UpstreamError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(c.token.clone());
        }
        let fresh = self.fetch(provider.self_url, deadline).await;
        let outcome = if fresh.is_ok() { "ok" } else { "error" };
        metrics::counter!(crate::metrics::UPSTREAM_TOKENS, "provider" => provider.id.to_string(), "outcome" => outcome).increment(1);
        let fresh = fresh?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets `rejected` (the airline answered `401` to it), so the next
    /// call fetches a new token; a newer one already cached is kept.
    pub async fn reject(&self, rejected: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == rejected) {
            *cached = None;
        }
    }

    async fn fetch(&self, self_url: &str, deadline: Instant) -> Result<Cached, UpstreamError> {
        let token_error = |reason: String| UpstreamError::Token { reason };
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let ctx = minijinja::context! { airstream => minijinja::context! { url => self_url }, ..self.ctx.clone() };
        let token_url = env
            .render_str(&self.token_url, ctx)
            .ok()
            .and_then(|url| reqwest::Url::parse(url.trim()).ok())
            .ok_or_else(|| token_error("the token URL template did not make a URL".into()))?;
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(TOKEN_TIMEOUT);
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        let mut request = self.client.post(token_url.clone()).timeout(left);
        if self.in_form {
            form.push(("client_id", &self.client_id));
            form.push(("client_secret", &self.client_secret));
        } else {
            request = request.basic_auth(&self.client_id, Some(&self.client_secret));
        }
        let started = std::time::Instant::now();
        let response = request.form(&form).send().await.map_err(|e| {
            token_error(if e.is_timeout() {
                format!(
                    "the token endpoint did not answer within {} ms",
                    left.as_millis()
                )
            } else if e.is_connect() {
                "the token endpoint cannot be reached".into()
            } else {
                "the token request failed".into()
            })
        })?;
        let status = response.status();
        if !status.is_success() {
            // Its body is not quoted: a token endpoint may echo what it got.
            return Err(token_error(format!(
                "the token endpoint answered HTTP {}",
                status.as_u16()
            )));
        }
        let body = response
            .bytes()
            .await
            .map_err(|_| token_error("the token endpoint's answer broke off".into()))?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            token_error(
                "the token endpoint's answer is not a JSON token (`access_token`, `expires_in`)"
                    .into(),
            )
        })?;
        if answer.access_token.is_empty() {
            return Err(token_error(
                "the token endpoint answered an empty `access_token`".into(),
            ));
        }
        // Renewed a little before it expires: a tenth of its life, at most
        // a minute (one hour without `expires_in`).
        let life = Duration::from_secs(answer.expires_in.unwrap_or(3600));
        let margin = (life / 10).min(Duration::from_secs(60));
        tracing::info!(
            token_url = token_url.as_str(),
            expires_in_s = life.as_secs(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "fetched an access token"
        );
        Ok(Cached {
            token: answer.access_token,
            renew_at: Instant::now() + life - margin,
        })
    }
}
