//! Which search each search of a run sends. By default every search is the
//! same one (the options'). With `--repeat R`, a share `R` of the searches
//! repeat a question asked earlier in the run and the others ask a new one,
//! so the answer cache of the server meets a known repeat rate: the
//! questions differ by date (the options' date and up to 299 days after)
//! and then by travellers (1 to 9 adults with 0 to 8 children, 9 seats at
//! most: 45 mixes), 13,500 in all, after which they come round again. The
//! choice of search `i` is a fixed function of `i`, the same in every run.

use bytes::Bytes;

/// Distinct dates, then traveller mixes, the questions go through.
const DATES: u32 = 300;
/// Adults and children, at most 9 seats: 45 mixes.
const MIXES: u32 = 45;

/// Traveller mix `m` (0 to 44): adults and children, one adult alone first.
fn mix_of(m: u32) -> (u8, u8) {
    let mut left = m;
    for adults in 1..=9u8 {
        let choices = u32::from(10 - adults);
        if left < choices {
            return (adults, left as u8);
        }
        left -= choices;
    }
    (1, 0)
}

/// The request bodies of a run.
#[derive(Debug)]
pub(crate) struct Questions {
    /// Each distinct question's body.
    bodies: Vec<Bytes>,
    /// The question of each search, when they vary.
    order: Option<Vec<u32>>,
}

impl Questions {
    /// Every search sends `body`.
    pub(crate) fn one(body: Bytes) -> Self {
        Questions {
            bodies: vec![body],
            order: None,
        }
    }

    /// `searches` searches of which a share `repeat` repeat an earlier
    /// question; `body(date_offset, (adults, children))` makes a question's
    /// body.
    pub(crate) fn mixed<E>(
        searches: u64,
        repeat: f64,
        mut body: impl FnMut(u32, (u8, u8)) -> Result<Bytes, E>,
    ) -> Result<Self, E> {
        let n = usize::try_from(searches).unwrap_or(usize::MAX);
        let mut order = Vec::with_capacity(n);
        let mut asked: u32 = 0;
        for i in 0..searches {
            let again = asked > 0 && unit(mix(i)) < repeat;
            let question = if again {
                (mix(i ^ 0x5bd1_e995) % u64::from(asked)) as u32
            } else {
                asked = asked.saturating_add(1);
                (asked - 1) % (DATES * MIXES)
            };
            order.push(question);
        }
        let distinct = asked.min(DATES * MIXES);
        let bodies = (0..distinct)
            .map(|q| body(q % DATES, mix_of(q / DATES % MIXES)))
            .collect::<Result<_, E>>()?;
        Ok(Questions {
            bodies,
            order: Some(order),
        })
    }

    /// The body of search `i`.
    pub(crate) fn body(&self, i: u64) -> Bytes {
        let question = self
            .order
            .as_ref()
            .and_then(|o| o.get(usize::try_from(i).ok()?))
            .map_or(0, |&q| q as usize % self.bodies.len());
        self.bodies[question].clone()
    }

    /// Searches that repeat an earlier one's question.
    #[cfg(test)]
    fn repeats(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        self.order
            .iter()
            .flatten()
            .filter(|q| !seen.insert(**q))
            .count()
    }
}

/// A fixed pseudo-random number for `i` (splitmix64).
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `x` as a number in [0, 1).
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bodies(searches: u64, repeat: f64) -> Questions {
        Questions::mixed(searches, repeat, |d, (a, c)| {
            Ok::<_, ()>(Bytes::from(format!("{d}/{a}+{c}")))
        })
        .unwrap()
    }

    #[test]
    fn the_share_of_repeats_is_the_one_asked_for() {
        let q = bodies(10_000, 0.3);
        let share = q.repeats() as f64 / 10_000.0;
        assert!((0.28..0.32).contains(&share), "{share}");
        // No repeat: every search a new question (until they come round).
        assert_eq!(bodies(2_000, 0.0).repeats(), 0);
        // Always repeat: one question.
        assert_eq!(bodies(500, 1.0).bodies.len(), 1);
    }

    #[test]
    fn questions_differ_by_date_then_passengers_and_are_the_same_every_run() {
        let q = bodies(1_000, 0.0);
        assert_eq!(q.body(0), Bytes::from("0/1+0"));
        assert_eq!(q.body(299), Bytes::from("299/1+0"));
        assert_eq!(q.body(300), Bytes::from("0/1+1"));
        assert_eq!(mix_of(8), (1, 8));
        assert_eq!(mix_of(9), (2, 0));
        assert_eq!(mix_of(44), (9, 0));
        let again = bodies(1_000, 0.0);
        assert!((0..1_000).all(|i| q.body(i) == again.body(i)));
        assert_eq!(Questions::one(Bytes::from("x")).body(7), Bytes::from("x"));
    }
}
