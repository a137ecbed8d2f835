//! Upstream providers: a search becomes an HTTP call to an airline's API,
//! described in the provider file with templates, and the answer becomes
//! normalized offers.
//!
//! - [`spec`]: checking and compiling the `upstream:` section at load.
//! - [`template`]: the request templates, their escaping, and rendering
//!   one search's request.
//! - [`send`]: sending it with one pooled client per provider, retries
//!   with backoff, never past the deadline.
//! - [`mapping`]: reading offers out of the answer.
//! - [`xml`]: XML and SOAP answers as a tree, and XML request bodies.
//! - [`breaker`]: the circuit breaker of each provider.
//! - [`error`]: why a call gave no offers.

pub mod breaker;
mod convert;
pub mod error;
pub mod mapping;
mod oauth;
mod price;
mod segments;
pub mod send;
pub mod spec;
pub mod template;
pub mod xml;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use minijinja::{Environment, Value, context};
use serde::Serialize;
use tokio::time::Instant;

use crate::model::{AirlineRef, Leg, Offer, SearchRequest};
use crate::providers::definition::AnswerFormat;
use breaker::{Breaker, BreakerSnapshot};
pub use error::{Failure, UpstreamError};
use mapping::Expressions;
use send::Sender;
use template::RequestShape;

/// Slack kept before the deadline so this call, not the runtime's own
/// timer, reports the timeout (and the breaker counts it).
const DEADLINE_SLACK: Duration = Duration::from_millis(3);

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
    /// The templates and the response expressions.
    compiled: Compiled,
    /// The headers and body the request has.
    request: RequestShape,
    /// The listed environment variables, read at load.
    env: Value,
    /// The provider's `settings:`.
    settings: Value,
    /// The client, method, attempt timeout and retries.
    sender: Sender,
    /// This provider's circuit breaker.
    breaker: Breaker,
    /// Offers dropped because they could not be mapped.
    dropped: AtomicU64,
    /// The `upstream:` section as written, without positions: two loads
    /// compare equal when it says the same, so a reload keeps this one
    /// (and its breaker and pooled connections) only then.
    written: serde_json::Value,
    /// Where it flies, as its file declares.
    coverage: crate::providers::Coverage,
    /// OAuth2 client credentials and the cached token, when the API wants
    /// them.
    oauth: Option<oauth::OAuth2>,
    /// How answers are read, when the file says (else by `Content-Type`).
    format: Option<AnswerFormat>,
    /// How long its answers are kept; `None`: asked for every search.
    cache: Option<crate::providers::cache::CachePolicy>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("method", &self.sender.method)
            .field("retries", &self.sender.retries.attempts)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Upstream {
    fn eq(&self, other: &Self) -> bool {
        self.written == other.written
    }
}

impl Upstream {
    /// Where it flies, as its file declares (everywhere when it does not).
    pub fn coverage(&self) -> &crate::providers::Coverage {
        &self.coverage
    }

    /// How long its answers are kept; `None`: asked for every search.
    pub fn cache(&self) -> Option<&crate::providers::cache::CachePolicy> {
        self.cache.as_ref()
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
        let guard = self
            .breaker
            .allow()
            .map_err(|refused| Failure::Error(refused.into()))?;
        let mut result = self.call(provider, search, leg, deadline).await;
        // A token the airline refuses is given up once, and the call made
        // again with a new one.
        if let (
            Some(oauth),
            Err((Failure::Error(UpstreamError::Status { status: 401 }), Some(token))),
        ) = (&self.oauth, &result)
        {
            oauth.reject(token).await;
            result = self.call(provider, search, leg, deadline).await;
        }
        let result = result.map_err(|(failure, _)| failure);
        guard.record(result.is_ok());
        result
    }

    /// One call for one leg, with a token when the API wants one; on
    /// failure, the token it carried.
    async fn call(
        &self,
        provider: &Provider<'_>,
        search: &SearchRequest,
        leg: Leg,
        deadline: Instant,
    ) -> Result<Vec<Offer>, (Failure, Option<String>)> {
        let token = match &self.oauth {
            Some(oauth) => Some(
                oauth
                    .token(provider, deadline)
                    .await
                    .map_err(|e| (Failure::Error(e), None))?,
            ),
            None => None,
        };
        let fail = |failure| (failure, token.clone());
        let ctx = self.context(provider, search, leg, token.as_deref());
        let mut request = self
            .request
            .render(self.compiled.borrow_owner(), &ctx)
            .map_err(|e| fail(Failure::Error(e)))?;
        if let Some(token) = &token {
            let bearer = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| {
                    fail(Failure::Error(UpstreamError::Token {
                        reason: "the access token is not a valid header value".into(),
                    }))
                })?;
            request
                .headers
                .entry(reqwest::header::AUTHORIZATION)
                .or_insert(bearer);
        }
        let answer = self
            .sender
            .send(provider.id, &request, deadline)
            .await
            .map_err(fail)?;
        let format = xml::answer_format(self.format, answer.content_type.as_deref());
        self.map(&answer.body, format, &ctx, provider, search, leg)
            .map_err(fail)
    }

    /// Maps an answer's body for one leg of a search without sending
    /// anything: the entry point the property tests and fuzzers drive with
    /// hostile answers.
    #[doc(hidden)]
    pub fn map_answer(
        &self,
        provider: &Provider<'_>,
        search: &SearchRequest,
        leg: Leg,
        bytes: &[u8],
    ) -> Result<Vec<Offer>, Failure> {
        let ctx = self.context(provider, search, leg, None);
        let format = self.format.unwrap_or(AnswerFormat::Json);
        self.map(bytes, format, &ctx, provider, search, leg)
    }

    /// What the templates and expressions of one leg's call read.
    fn context(
        &self,
        provider: &Provider<'_>,
        search: &SearchRequest,
        leg: Leg,
        token: Option<&str>,
    ) -> Value {
        let (from, to, date) = leg_route(search, leg);
        let timeout_ms = search
            .deadline
            .duration_since(search.created_at)
            .as_millis()
            .max(0);
        let travellers = search.travellers();
        let search_value = context! {
            search_id => search.search_id.to_string(),
            from => &search.from,
            to => &search.to,
            date => search.date.to_string(),
            return_date => search.return_date.map(|d| d.to_string()),
            passengers => search.passengers,
            adults => travellers.adults,
            children => travellers.children,
            infants => travellers.infants,
            max_stops => search.max_stops,
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
        context! {
            search => search_value,
            leg => leg_value,
            env => self.env.clone(),
            settings => self.settings.clone(),
            provider => provider_value,
            airstream => context! { url => Value::from_safe_string(provider.self_url.to_string()) },
            // Escaped where it lands, as search values are: it comes from
            // outside.
            auth => context! { access_token => token },
        }
    }

    /// Maps the answer's body to offers; an offer that cannot be read is
    /// dropped, counted and logged.
    fn map(
        &self,
        bytes: &[u8],
        format: AnswerFormat,
        ctx: &Value,
        provider: &Provider<'_>,
        search: &SearchRequest,
        leg: Leg,
    ) -> Result<Vec<Offer>, Failure> {
        let (from, to, _) = leg_route(search, leg);
        let defaults = &mapping::Defaults {
            provider: provider.id,
            airline: provider.airline,
            leg,
            from,
            to,
            cabin: search.cabin,
            travellers: search.travellers(),
        };
        let mapped = self
            .compiled
            .with_dependent(|_, exprs| exprs.read(bytes, format, ctx, defaults))
            .map_err(Failure::Error)?;
        for (index, reason) in &mapped.dropped {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(provider = %defaults.provider, search_id = %search.search_id, offer = *index, %reason, "offer dropped: it could not be mapped");
        }
        Ok(mapped.offers)
    }
}

/// Where one leg of a search goes, and when: a return leg flies back.
fn leg_route(search: &SearchRequest, leg: Leg) -> (&str, &str, jiff::civil::Date) {
    match leg {
        Leg::Outbound => (&search.from, &search.to, search.date),
        Leg::Inbound => (
            &search.to,
            &search.from,
            search.return_date.unwrap_or(search.date),
        ),
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

/// Upstream state shown in `/api/providers`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UpstreamStatus {
    /// The circuit breaker.
    pub breaker: BreakerSnapshot,
    /// Offers dropped because they could not be mapped.
    pub offers_dropped: u64,
}
