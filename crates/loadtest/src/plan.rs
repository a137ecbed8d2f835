//! The command line of `airstream loadtest` and the plan it becomes: every
//! option checked, and the search request serialized once.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::contract::CABINS;
use crate::error::LoadtestError;

/// The most searches in flight at once that `--concurrency` accepts.
pub const MAX_CONCURRENCY: usize = 100_000;
/// The longest `--max-wait-secs` accepted (one day).
pub const MAX_WAIT_SECS: u64 = 86_400;
/// The longest an open-loop schedule (`--searches / --rate`) may last (7 days).
const MAX_SCHEDULE_SECS: f64 = 7.0 * 86_400.0;

/// Command-line options of `airstream loadtest`.
#[derive(Clone, Debug, clap::Args)]
pub struct LoadtestArgs {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// Searches to run in all.
    #[arg(long, short = 'n', default_value_t = 1000)]
    pub searches: u64,
    /// Searches in flight at once. Without --rate this is the number of
    /// closed-loop workers; with --rate it caps the searches in flight, and a
    /// search due while the cap is reached is dropped and counted as an error.
    #[arg(long, short = 'c', default_value_t = 50)]
    pub concurrency: usize,
    /// Open-loop arrival rate in searches per second (optional).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Origin airport (IATA code).
    #[arg(long, default_value = "CGK")]
    pub from: String,
    /// Destination airport (IATA code).
    #[arg(long, default_value = "DPS")]
    pub to: String,
    /// Departure date, YYYY-MM-DD (default: today + 14 days).
    #[arg(long)]
    pub date: Option<String>,
    /// Passengers (1..9).
    #[arg(long, default_value_t = 1)]
    pub passengers: u8,
    /// Cabin class: economy, premium_economy, business or first.
    #[arg(long, default_value = "economy")]
    pub cabin: String,
    /// Provider ids to ask, as a comma-separated list (default: all).
    #[arg(long)]
    pub providers: Option<String>,
    /// Search deadline in milliseconds sent to the server (capped by it).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Give up on one search after this many seconds (client-side safety net).
    #[arg(long, default_value_t = 60)]
    pub max_wait_secs: u64,
    /// Share of searches (0 to 1) that repeat a question asked earlier in
    /// the run; the others each ask a new one (another date, then other
    /// travellers; --passengers is then not used). Without it, every search
    /// is the same.
    #[arg(long)]
    pub repeat: Option<f64>,
    /// Send `"cache": false`: the server asks every airline live instead of
    /// reusing kept answers.
    #[arg(long)]
    pub no_cache: bool,
    /// API key sent with every search (`X-Api-Key`), for a server with API
    /// keys on; read from `AIRSTREAM_API_KEY` when not given, so it stays
    /// out of the shell's history.
    #[arg(long, env = "AIRSTREAM_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

impl LoadtestArgs {
    /// Parses the options as `airstream loadtest` receives them (without the
    /// program and subcommand names), for a caller with no command line of
    /// its own, such as a test.
    pub fn try_from_options<I, T>(options: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{Args, FromArgMatches};
        let command = Self::augment_args(clap::Command::new("loadtest"));
        let argv = std::iter::once("loadtest".into()).chain(options.into_iter().map(Into::into));
        let matches = command.try_get_matches_from(argv)?;
        Self::from_arg_matches(&matches)
    }
}

/// Validated options.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Base URL without a trailing slash.
    pub(crate) base: String,
    /// Searches to run in all.
    pub(crate) searches: u64,
    /// Searches in flight at most (closed-loop workers, or the open-loop cap).
    pub(crate) concurrency: usize,
    /// Open-loop arrivals per second; `None` for the closed loop.
    pub(crate) rate: Option<f64>,
    /// The client-side limit of one search.
    pub(crate) max_wait: Duration,
    /// The serialized search requests.
    pub(crate) questions: std::sync::Arc<crate::questions::Questions>,
    /// The API key header's value, marked sensitive.
    pub(crate) api_key: Option<reqwest::header::HeaderValue>,
}

/// The JSON body of `POST /api/flights/search`.
#[derive(Debug, Serialize)]
struct SearchBody<'a> {
    from: &'a str,
    to: &'a str,
    date: String,
    passengers: serde_json::Value,
    cabin: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    providers: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<bool>,
}

fn invalid(arg: &'static str, reason: impl Into<String>) -> LoadtestError {
    LoadtestError::InvalidArgument {
        arg,
        reason: reason.into(),
    }
}

/// Checks that the option `arg` is between 1 and `max`.
fn one_to(arg: &'static str, value: u64, max: u64) -> Result<(), LoadtestError> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            arg,
            format!("must be between 1 and {max}, got {value}"),
        ))
    }
}

impl Plan {
    /// Checks every option and serializes the search request.
    pub(crate) fn from_args(args: &LoadtestArgs) -> Result<Self, LoadtestError> {
        let base = validate_url(&args.url)?;
        if args.searches == 0 {
            return Err(invalid("searches", "must be at least 1"));
        }
        one_to(
            "concurrency",
            args.concurrency as u64,
            MAX_CONCURRENCY as u64,
        )?;
        if let Some(rate) = args.rate {
            if !rate.is_finite() || rate <= 0.0 {
                return Err(invalid(
                    "rate",
                    format!("must be a positive number of searches per second, got {rate}"),
                ));
            }
            let schedule = args.searches as f64 / rate;
            if schedule > MAX_SCHEDULE_SECS {
                return Err(invalid(
                    "rate",
                    format!(
                        "{rate}/s is too low for {} searches (the schedule would last {schedule:.0} s)",
                        args.searches
                    ),
                ));
            }
        }
        one_to("max-wait-secs", args.max_wait_secs, MAX_WAIT_SECS)?;
        one_to("passengers", u64::from(args.passengers), 9)?;
        let from = args.from.trim();
        let to = args.to.trim();
        for (arg, code) in [("from", from), ("to", to)] {
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(invalid(
                    arg,
                    format!("{code:?} is not a 3-letter IATA code"),
                ));
            }
        }
        let cabin = args.cabin.trim();
        if !CABINS.contains(&cabin) {
            return Err(invalid(
                "cabin",
                format!("{cabin:?} is not one of {}", CABINS.join(", ")),
            ));
        }
        let date = match &args.date {
            Some(d) => d
                .trim()
                .parse::<jiff::civil::Date>()
                .map_err(|e| invalid("date", format!("{d:?} is not a YYYY-MM-DD date: {e}")))?,
            None => jiff::ZonedDateTime::now()
                .date()
                .checked_add(jiff::SignedDuration::from_hours(14 * 24))
                .map_err(|e| invalid("date", format!("cannot compute today + 14 days: {e}")))?,
        };
        let providers = match &args.providers {
            None => None,
            Some(list) => {
                let ids: Vec<&str> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                if ids.is_empty() {
                    return Err(invalid("providers", "the list is empty"));
                }
                Some(ids)
            }
        };
        let body = |days: u32, passengers: serde_json::Value| -> Result<Bytes, LoadtestError> {
            let date = date
                .checked_add(jiff::Span::new().days(i64::from(days)))
                .map_err(|e| invalid("date", format!("cannot add {days} days: {e}")))?;
            let body = SearchBody {
                from,
                to,
                date: date.to_string(),
                passengers,
                cabin,
                providers: providers.clone(),
                timeout_ms: args.timeout_ms,
                cache: args.no_cache.then_some(false),
            };
            Ok(Bytes::from(
                serde_json::to_vec(&body).map_err(LoadtestError::Request)?,
            ))
        };
        let questions = std::sync::Arc::new(match args.repeat {
            None => crate::questions::Questions::one(body(0, args.passengers.into())?),
            Some(r) if !(0.0..=1.0).contains(&r) => {
                return Err(invalid(
                    "repeat",
                    format!("must be a share from 0 to 1, got {r}"),
                ));
            }
            Some(r) => crate::questions::Questions::mixed(args.searches, r, |days, (a, c)| {
                body(days, serde_json::json!({"adults": a, "children": c}))
            })?,
        });
        let api_key = match &args.api_key {
            None => None,
            Some(key) => {
                let mut value = reqwest::header::HeaderValue::from_str(key.trim())
                    .map_err(|_| invalid("api-key", "is not a value an HTTP header can carry"))?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(Self {
            api_key,
            base,
            searches: args.searches,
            concurrency: args.concurrency,
            rate: args.rate,
            max_wait: Duration::from_secs(args.max_wait_secs),
            questions,
        })
    }
}

/// Checks that `url` is an absolute http(s) URL and returns it without a
/// trailing slash.
fn validate_url(url: &str) -> Result<String, LoadtestError> {
    let bad = |reason: String| LoadtestError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "scheme {:?} is not http or https",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".to_owned()));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("a base URL has no query or fragment".to_owned()));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Args;

    fn args(extra: &[&str]) -> LoadtestArgs {
        LoadtestArgs::try_from_options(extra).expect("valid test arguments")
    }

    #[test]
    fn cli_definition_is_consistent_and_has_defaults() {
        LoadtestArgs::augment_args(clap::Command::new("loadtest")).debug_assert();
        let a = args(&[]);
        assert_eq!(a.url, "http://127.0.0.1:3000");
        assert_eq!(a.searches, 1000);
        assert_eq!(a.concurrency, 50);
        assert_eq!(a.rate, None);
        assert_eq!((a.from.as_str(), a.to.as_str()), ("CGK", "DPS"));
        assert_eq!(a.passengers, 1);
        assert_eq!(a.cabin, "economy");
        assert_eq!(a.max_wait_secs, 60);
        assert!(!a.json);
        let a = args(&[
            "-n",
            "7",
            "-c",
            "3",
            "--rate",
            "12.5",
            "--providers",
            "garuda,lion",
        ]);
        assert_eq!((a.searches, a.concurrency, a.rate), (7, 3, Some(12.5)));
    }

    #[test]
    fn request_body_holds_the_options() {
        let a = args(&[
            "--from",
            "cgk",
            "--to",
            "sub",
            "--date",
            "2030-01-31",
            "--passengers",
            "2",
            "--cabin",
            "business",
            "--providers",
            "garuda, lion,",
            "--timeout-ms",
            "900",
        ]);
        let plan = Plan::from_args(&a).expect("valid");
        let body: serde_json::Value =
            serde_json::from_slice(&plan.questions.body(0)).expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "from": "cgk", "to": "sub", "date": "2030-01-31", "passengers": 2,
                "cabin": "business", "providers": ["garuda", "lion"], "timeout_ms": 900
            })
        );
        // Defaults: no optional fields, a date 14 days ahead.
        let plan = Plan::from_args(&args(&["--url", "http://h:1/"])).expect("valid");
        assert_eq!(plan.base, "http://h:1");
        let body: serde_json::Value =
            serde_json::from_slice(&plan.questions.body(0)).expect("json");
        let date: jiff::civil::Date = body["date"].as_str().expect("date").parse().expect("date");
        let today = jiff::ZonedDateTime::now().date();
        assert!(date > today);
        assert!(body.get("providers").is_none() && body.get("timeout_ms").is_none());
    }

    #[test]
    fn invalid_arguments_are_rejected() {
        let cases: &[(&[&str], &str)] = &[
            (&["-n", "0"], "--searches"),
            (&["-c", "0"], "--concurrency"),
            (&["--rate", "0"], "--rate"),
            (&["--rate=-3"], "--rate"),
            (&["--rate", "NaN"], "--rate"),
            (&["--rate", "0.000001", "-n", "1000000"], "--rate"),
            (&["--max-wait-secs", "0"], "--max-wait-secs"),
            (&["--passengers", "0"], "--passengers"),
            (&["--passengers", "10"], "--passengers"),
            (&["--cabin", "coach"], "--cabin"),
            (&["--date", "31/01/2030"], "--date"),
            (&["--from", "CGKX"], "--from"),
            (&["--providers", " , "], "--providers"),
        ];
        for (extra, needle) in cases {
            let err = Plan::from_args(&args(extra)).expect_err("invalid");
            assert!(
                matches!(err, LoadtestError::InvalidArgument { .. }),
                "{extra:?}: {err:?}"
            );
            assert!(err.to_string().contains(needle), "{extra:?}: {err}");
        }
        for url in [
            "not a url",
            "ftp://host/",
            "http://h:1/?q=1",
            "localhost:3000",
        ] {
            let err = Plan::from_args(&args(&["--url", url])).expect_err("invalid");
            assert!(
                matches!(err, LoadtestError::InvalidUrl { .. }),
                "{url}: {err:?}"
            );
            assert!(err.to_string().contains(url), "{err}");
        }
    }
}
