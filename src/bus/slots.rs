//! Redis Cluster hash slots: which of the 16,384 slots a key lives in, and
//! hash tags chosen so that a set of partitions spreads evenly over them.
//! Bare tags like `{0}`..`{15}` hash wherever CRC16 puts them, which can
//! leave a master with none; tags picked by their slot land one in each
//! stretch of the slot space, so masters that split the slots evenly (as
//! `redis-cli --cluster create` does) get their share.

/// Slots in a Redis Cluster.
pub const SLOTS: u16 = 16_384;

/// CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The slot of `key`: of its hash tag (the text between the first `{` and
/// the next `}`, when not empty), else of the whole key.
pub fn slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % SLOTS
}

/// `count` hash tags (`<name>0`, `<name>1-7`, ...), the i-th near the
/// middle of the i-th of `count` equal stretches of the slot space (the
/// middle eighth of it), so masters that split the slots evenly get one
/// each, or their even share. Deterministic, so every process picks the
/// same.
pub fn spread_tags(name: &str, count: usize) -> Vec<String> {
    let count = count.clamp(1, usize::from(SLOTS));
    (0..count)
        .map(|i| {
            let start = i * usize::from(SLOTS) / count;
            let end = (i + 1) * usize::from(SLOTS) / count;
            let (middle, reach) = ((start + end) / 2, (end - start) / 16);
            let (low, high) = (middle - reach, middle + reach + 1);
            (0u32..)
                .map(|n| match n {
                    0 => format!("{name}{i}"),
                    n => format!("{name}{i}-{n}"),
                })
                .find(|tag| (low..high).contains(&usize::from(slot(tag.as_bytes()))))
                .expect("every stretch of slots has a tag")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_those_redis_computes() {
        // `CLUSTER KEYSLOT` on a real Redis.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"somekey"), 11058);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
    }

    #[test]
    fn spread_tags_land_one_in_each_stretch() {
        for count in [1, 3, 16, 64] {
            let tags = spread_tags("d", count);
            assert_eq!(tags.len(), count);
            for (i, tag) in tags.iter().enumerate() {
                let s = usize::from(slot(tag.as_bytes()));
                assert!(
                    s >= i * 16384 / count && s < (i + 1) * 16384 / count,
                    "{tag}: {s}"
                );
            }
        }
        assert_eq!(spread_tags("d", 16), spread_tags("d", 16));
    }
}
