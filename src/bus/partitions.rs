//! The requested and results streams, partitioned so that their load
//! spreads over a Redis Cluster's masters. A search belongs to one
//! partition, by its id: it is published to that partition's requested
//! stream, where every airline has its consumer group, and its airlines'
//! answers go to the same partition's results stream. With one partition
//! (the default, and always on the embedded bus) the streams keep their
//! plain names; with more, each name carries a hash tag picked so that the
//! partitions spread evenly over the slots ([`super::slots`]).

use std::sync::Arc;

use uuid::Uuid;

use super::slots::spread_tags;

/// The stream that carries one entry per search (field `data`: the search).
pub const REQUESTED: &str = "flight.search.requested";
/// The stream that carries one entry per airline answer.
pub const RESULTS: &str = "flight.search.results";
/// Partitions at most.
pub const MAX_PARTITIONS: usize = 64;

/// The partitions' stream names. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct Partitions(Arc<Vec<(String, String)>>);

impl Partitions {
    /// `count` partitions (at least 1, at most [`MAX_PARTITIONS`]).
    pub fn new(count: usize) -> Self {
        let count = count.clamp(1, MAX_PARTITIONS);
        let names = if count == 1 {
            vec![(REQUESTED.to_string(), RESULTS.to_string())]
        } else {
            spread_tags("p", count)
                .into_iter()
                .map(|tag| {
                    (
                        format!("{REQUESTED}:{{{tag}}}"),
                        format!("{RESULTS}:{{{tag}}}"),
                    )
                })
                .collect()
        };
        Self(Arc::new(names))
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never: there is always at least one.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The partition of a search.
    pub fn of(&self, search: &Uuid) -> usize {
        (search.as_u128() % self.0.len() as u128) as usize
    }

    /// The requested stream of partition `at`.
    pub fn requested(&self, at: usize) -> &str {
        &self.0[at].0
    }

    /// The results stream of partition `at`.
    pub fn results(&self, at: usize) -> &str {
        &self.0[at].1
    }

    /// Every requested stream.
    pub fn all_requested(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(requested, _)| requested.as_str())
    }

    /// Every results stream.
    pub fn all_results(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(_, results)| results.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::slots::slot;

    #[test]
    fn one_partition_keeps_the_plain_names_and_more_spread_over_the_slots() {
        let one = Partitions::new(1);
        assert_eq!(one.requested(0), REQUESTED);
        assert_eq!(one.results(0), RESULTS);
        assert_eq!(one.of(&Uuid::new_v4()), 0);
        let three = Partitions::new(3);
        let slots: Vec<u16> = three
            .all_results()
            .map(|name| slot(name.as_bytes()))
            .collect();
        // One in each third of the slots: one on each master of a cluster
        // that splits them evenly.
        for (i, s) in slots.iter().enumerate() {
            assert_eq!(usize::from(*s) * 3 / 16384, i, "{slots:?}");
        }
        for at in 0..3 {
            assert_eq!(
                slot(three.requested(at).as_bytes()),
                slot(three.results(at).as_bytes())
            );
        }
    }
}
