//! The HTTP metrics of every request, counted with handles kept per route:
//! a lookup by name and labels allocates the label strings and builds and
//! hashes the key each time, about 4 K instructions per request, two
//! requests per search.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use axum::http::Method;
use metrics::{Counter, Histogram};

/// Handles of the routes that have served a request, each made on its
/// first request (so the series that exist are the same as with a lookup
/// per request).
#[derive(Debug, Default)]
pub struct HttpMetrics {
    routes: RwLock<HashMap<String, Route>>,
}

/// One route pattern's handles.
#[derive(Debug)]
struct Route {
    duration: Histogram,
    /// Requests by method and status class: the few a route has seen.
    requests: Vec<(&'static str, &'static str, Counter)>,
}

impl HttpMetrics {
    /// Counts one request to `route` (its pattern), answered with a
    /// `class` status (`2xx` ...), and records its duration.
    pub fn record(&self, route: &str, method: &Method, class: &'static str, seconds: f64) {
        let method = counted(method);
        {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(handles) = routes.get(route)
                && let Some((_, _, counter)) = handles
                    .requests
                    .iter()
                    .find(|(m, c, _)| *m == method && *c == class)
            {
                counter.increment(1);
                handles.duration.record(seconds);
                return;
            }
        }
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let handles = routes.entry(route.to_string()).or_insert_with(|| Route {
            duration: metrics::histogram!(crate::metrics::HTTP_DURATION, "route" => route.to_string()),
            requests: Vec::new(),
        });
        let at = match handles
            .requests
            .iter()
            .position(|(m, c, _)| *m == method && *c == class)
        {
            Some(at) => at,
            None => {
                let counter = metrics::counter!(crate::metrics::HTTP_REQUESTS, "route" => route.to_string(), "method" => method, "status" => class);
                handles.requests.push((method, class, counter));
                handles.requests.len() - 1
            }
        };
        handles.requests[at].2.increment(1);
        handles.duration.record(seconds);
    }
}

/// The method as counted: one of HTTP's own, else `OTHER`, so that a
/// client making methods up cannot make series without end.
fn counted(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The series in Prometheus's text, without comments, sorted.
    fn series(render: &str) -> Vec<String> {
        let mut lines: Vec<String> = render
            .lines()
            .filter(|l| l.starts_with("airstream_http_request"))
            .filter(|l| !l.contains("_bucket") && !l.contains("quantile"))
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn each_route_method_and_class_is_counted_in_its_own_series() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let http = HttpMetrics::default();
            let search = "/api/flights/search";
            http.record(search, &Method::POST, "2xx", 0.001);
            http.record(search, &Method::POST, "2xx", 0.002);
            http.record(search, &Method::POST, "4xx", 0.003);
            http.record(search, &Method::GET, "2xx", 0.004);
            http.record("/healthz", &Method::GET, "2xx", 0.005);
        });
        let counts = |route: &str, method: &str, status: &str, n: u64| {
            format!(
                "airstream_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            )
        };
        let got = series(&handle.render());
        for want in [
            counts("/api/flights/search", "POST", "2xx", 2),
            counts("/api/flights/search", "POST", "4xx", 1),
            counts("/api/flights/search", "GET", "2xx", 1),
            counts("/healthz", "GET", "2xx", 1),
            "airstream_http_request_duration_seconds_count{route=\"/api/flights/search\"} 4".into(),
            "airstream_http_request_duration_seconds_count{route=\"/healthz\"} 1".into(),
        ] {
            assert!(got.contains(&want), "{want} not in {got:#?}");
        }
        // Nothing counted is not shown: no 5xx series, for instance.
        assert!(!got.iter().any(|l| l.contains("5xx")), "{got:#?}");
    }
}
