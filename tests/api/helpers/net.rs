//! What tests read of servers: their Prometheus text, and a free port to
//! start one on.

/// The sum of the samples of `series` in Prometheus text: a metric name
/// (every label set of it), or a name with its labels written out as the
/// server writes them (that one series). 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(name, _)| {
            *name == series
                || name
                    .strip_prefix(series)
                    .is_some_and(|labels| labels.starts_with('{'))
        })
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}
