//! One airline's answer to one search: the fate and delay drawn from its
//! latency profile, then its offers (from the mock table or its API),
//! through the answer cache when its answers are kept, within its budget
//! and the search's deadline.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::model::{AnswerStatus, Offer, ProviderAnswer, SearchRequest};
use crate::providers::cache::{AnswerCache, Outcome, Question};
use crate::providers::latency::Fate;
use crate::providers::mock::{MockTable, Quoter};
use crate::providers::upstream::{Failure, Provider, UpstreamError};
use crate::providers::{ProviderDef, ProviderMode};

/// The fate and delay drawn for one call from the airline's profile.
#[derive(Clone, Copy, Debug)]
pub(super) struct Draw {
    fate: Fate,
    delay: Duration,
}

impl Draw {
    pub(super) fn sample(def: &ProviderDef) -> Self {
        let mut rng = rand::rng();
        Draw {
            fate: def.latency.fate(&mut rng),
            delay: def.latency.distribution.sample(&mut rng),
        }
    }

    /// Whether the answer comes without waiting.
    pub(super) fn is_instant(&self) -> bool {
        self.delay.is_zero() && self.fate != Fate::Hang
    }
}

/// Answers one search for one airline, within the airline's budget and the
/// search's deadline; `None` when the deadline comes first, as nobody then
/// waits for the answer. An airline whose answers are kept is asked through
/// `cache` (unless the server turned it off): a kept answer, or one
/// another search is getting, serves.
pub(super) async fn answer(
    def: &ProviderDef,
    search: &SearchRequest,
    draw: Draw,
    self_url: &str,
    cache: Option<&AnswerCache>,
) -> Option<ProviderAnswer> {
    let budget = def.timeout.min(crate::model::time_left(search.deadline));
    let deadline = tokio::time::Instant::now() + budget;
    // The search's deadline, not the airline's budget, limits this call.
    let cut_short = budget < def.timeout;
    let ask = || ask(def, search, draw, deadline, self_url, budget, cut_short);
    let outcome = match cache.zip(def.cache()) {
        Some((cache, policy)) => {
            let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
            let question = Question::new(def, policy, search, today);
            // Boxed, as an API call is (see `call`).
            tokio::time::timeout(budget, Box::pin(cache.answer(&question, ask)))
                .await
                .unwrap_or_else(|_| out_of_time(budget, cut_short))?
        }
        None => ask().await?,
    };
    Some(finish(def, search, outcome))
}

/// Asks the airline once, within `budget`; `None` when the search's
/// deadline (`cut_short`) ended it.
async fn ask(
    def: &ProviderDef,
    search: &SearchRequest,
    draw: Draw,
    deadline: tokio::time::Instant,
    self_url: &str,
    budget: Duration,
    cut_short: bool,
) -> Option<Outcome> {
    match tokio::time::timeout(budget, call(def, search, draw, deadline, self_url)).await {
        Ok(called) => settled(called, cut_short),
        Err(_) => out_of_time(budget, cut_short),
    }
}

/// The outcome of a call that ended within its budget; `None` when the
/// search's deadline (`cut_short`) timed it out.
fn settled(called: Result<Vec<Offer>, Failure>, cut_short: bool) -> Option<Outcome> {
    match called {
        Ok(offers) => Some(Outcome::Ok {
            offers,
            stored_at: None,
        }),
        // What an airline's answer made us say is quoted only in part.
        Err(Failure::Error(reason)) => Some(Outcome::Error {
            reason: crate::text::cap_quotes(&reason.to_string()),
        }),
        Err(Failure::Timeout(_)) if cut_short => None,
        Err(Failure::Timeout(reason)) => Some(Outcome::Timeout {
            reason: reason.to_string(),
        }),
    }
}

/// The outcome when `budget` ran out: nobody's when the search's deadline
/// (`cut_short`) set it, else the airline's own timeout.
fn out_of_time(budget: Duration, cut_short: bool) -> Option<Outcome> {
    (!cut_short).then(|| Outcome::Timeout {
        reason: format!("no answer within {}ms", budget.as_millis()),
    })
}

/// The search's answer from the airline's: its own filters and currency
/// applied to the offers, and how old they are when they were kept.
fn finish(def: &ProviderDef, search: &SearchRequest, outcome: Outcome) -> ProviderAnswer {
    let now = Timestamp::now();
    let (status, offers, error, age_ms) = match outcome {
        Outcome::Ok {
            mut offers,
            stored_at,
        } => {
            // One rule for every kind of airline: a search's `max_stops`
            // holds whoever made the offers.
            if let Some(most) = search.max_stops {
                offers.retain(|o| o.stops <= most);
            }
            if let Some(conversion) = &search.convert {
                offers.iter_mut().for_each(|o| conversion.apply(o));
            }
            let age = stored_at.map(|at| now.duration_since(at).as_millis().max(0) as u64);
            (AnswerStatus::Ok, offers, None, age)
        }
        Outcome::Error { reason } => (AnswerStatus::Error, Vec::new(), Some(reason), None),
        Outcome::Timeout { reason } => (AnswerStatus::Timeout, Vec::new(), Some(reason), None),
    };
    ProviderAnswer {
        search_id: search.search_id,
        provider: def.id.clone(),
        status,
        offers,
        error,
        elapsed_ms: now.duration_since(search.created_at).as_millis().max(0) as u64,
        cached: age_ms.is_some(),
        age_ms,
    }
}

/// The airline's simulated delay and fate, then its offers: from the mock
/// table, or from its API (where `latency:` adds to the real call).
async fn call(
    def: &ProviderDef,
    search: &SearchRequest,
    draw: Draw,
    deadline: tokio::time::Instant,
    self_url: &str,
) -> Result<Vec<Offer>, Failure> {
    let Draw { fate, delay } = draw;
    if fate == Fate::Hang {
        std::future::pending::<()>().await;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if fate == Fate::Fail {
        return Err(simulated_failure(def));
    }
    match &def.mode {
        ProviderMode::Mock(table) => Ok(mock_offers(def, table, search)),
        ProviderMode::Upstream(upstream) => {
            let provider = Provider {
                id: &def.id,
                airline: &def.airline,
                self_url,
            };
            // Boxed: an API call's future is kilobytes, which every
            // search's task would otherwise hold while it waits, mock
            // airlines' too (an idle stream's search costs that much).
            Box::pin(upstream.answer(&provider, search, deadline)).await
        }
    }
}

/// The failure a `fail_rate` draws.
fn simulated_failure(def: &ProviderDef) -> Failure {
    Failure::Error(UpstreamError::Simulated {
        airline: def.name.clone(),
    })
}

/// A mock airline's offers for a search, priced today.
fn mock_offers(def: &ProviderDef, table: &MockTable, search: &SearchRequest) -> Vec<Offer> {
    let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
    let quoter = Quoter {
        provider: &def.id,
        airline: &def.airline,
    };
    table.offers(&quoter, search, today)
}

/// A mock airline's answer that must wait, decided when the search is
/// read: it is due after the drawn delay, or when the budget runs out if
/// the airline hangs or is slower than that. Nothing else can change it
/// meanwhile (a mock airline asks nobody), so the runtime keeps this, not
/// a task, while the delay runs (see `waiting`).
#[derive(Clone, Copy, Debug)]
pub(super) struct MockDue {
    /// How long after the read the answer is due.
    pub(super) after: Duration,
    ending: Ending,
}

#[derive(Clone, Copy, Debug)]
enum Ending {
    /// The airline answers, or fails as drawn.
    Answers(Fate),
    /// The budget runs out first.
    OutOfTime { budget: Duration, cut_short: bool },
}

impl MockDue {
    /// The due answer of a mock airline whose draw makes it wait; `None`
    /// for an airline of another kind, one whose answers are kept (the
    /// cache decides when it asks), or an instant draw.
    pub(super) fn new(
        def: &ProviderDef,
        search: &SearchRequest,
        draw: Draw,
        caching: bool,
    ) -> Option<Self> {
        let mock = matches!(def.mode, ProviderMode::Mock(_));
        if !mock || draw.is_instant() || (caching && def.cache().is_some()) {
            return None;
        }
        let budget = def.timeout.min(crate::model::time_left(search.deadline));
        let cut_short = budget < def.timeout;
        // As with `timeout(budget, call)`: a delay equal to the budget
        // still answers.
        Some(if draw.fate == Fate::Hang || draw.delay > budget {
            MockDue {
                after: budget,
                ending: Ending::OutOfTime { budget, cut_short },
            }
        } else {
            MockDue {
                after: draw.delay,
                ending: Ending::Answers(draw.fate),
            }
        })
    }

    /// The answer, now that it is due; `None` when the search's deadline
    /// came first, as with [`answer`].
    pub(super) fn answer(
        self,
        def: &ProviderDef,
        search: &SearchRequest,
    ) -> Option<ProviderAnswer> {
        let outcome = match self.ending {
            Ending::OutOfTime { budget, cut_short } => out_of_time(budget, cut_short)?,
            Ending::Answers(Fate::Fail) => settled(Err(simulated_failure(def)), false)?,
            Ending::Answers(_) => match &def.mode {
                ProviderMode::Mock(table) => Outcome::Ok {
                    offers: mock_offers(def, table, search),
                    stored_at: None,
                },
                // `new` makes one for mock airlines only, and a
                // definition never changes.
                ProviderMode::Upstream(_) => Outcome::Error {
                    reason: "this airline is no longer a mock airline".into(),
                },
            },
        };
        Some(finish(def, search, outcome))
    }
}
