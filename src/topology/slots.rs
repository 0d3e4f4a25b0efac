//! Sets of hash slots (0..16384) as a fixed bitmap, with range parsing and printing in the
//! `0-5460 10923` form that `CLUSTER NODES` and our plans use.

use std::fmt;

/// Number of hash slots in a Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

const WORDS: usize = SLOT_COUNT as usize / 64;

/// A set of hash slots. Cheap to copy around (2 KiB) and exact: no range normalisation needed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SlotSet {
    bits: Box<[u64; WORDS]>,
}

/// An inclusive range of slots, `start..=end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct SlotRange {
    /// First slot of the range.
    pub start: u16,
    /// Last slot of the range (inclusive).
    pub end: u16,
}

impl SlotRange {
    /// Number of slots in the range.
    pub fn len(&self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    /// A range is never empty; provided for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for SlotRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Why a slot or slot range could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlotParseError {
    /// Not a number.
    #[error("invalid slot `{0}`")]
    NotANumber(String),
    /// A number at or past 16384.
    #[error("slot {0} is out of range (0-16383)")]
    OutOfRange(u32),
    /// `end < start`.
    #[error("slot range `{0}` ends before it starts")]
    Reversed(String),
}

/// Parses one slot number, checking it is below 16384.
pub fn parse_slot(s: &str) -> Result<u16, SlotParseError> {
    let n: u32 = s
        .parse()
        .map_err(|_| SlotParseError::NotANumber(s.to_string()))?;
    if n >= u32::from(SLOT_COUNT) {
        return Err(SlotParseError::OutOfRange(n));
    }
    // Checked just above: n < 16384 fits in u16.
    Ok(n as u16)
}

impl SlotRange {
    /// Parses `N` or `A-B`.
    pub fn parse(s: &str) -> Result<Self, SlotParseError> {
        match s.split_once('-') {
            Some((a, b)) => {
                let (start, end) = (parse_slot(a)?, parse_slot(b)?);
                if end < start {
                    return Err(SlotParseError::Reversed(s.to_string()));
                }
                Ok(Self { start, end })
            }
            None => {
                let slot = parse_slot(s)?;
                Ok(Self {
                    start: slot,
                    end: slot,
                })
            }
        }
    }
}

impl Default for SlotSet {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotSet {
    /// The empty set.
    pub fn new() -> Self {
        Self {
            bits: Box::new([0; WORDS]),
        }
    }

    /// Every slot, 0-16383.
    pub fn all() -> Self {
        Self {
            bits: Box::new([u64::MAX; WORDS]),
        }
    }

    /// The set holding exactly the given range.
    pub fn from_range(range: SlotRange) -> Self {
        let mut set = Self::new();
        set.insert_range(range);
        set
    }

    /// Adds one slot.
    pub fn insert(&mut self, slot: u16) {
        self.bits[usize::from(slot) / 64] |= 1 << (slot % 64);
    }

    /// Removes one slot.
    pub fn remove(&mut self, slot: u16) {
        self.bits[usize::from(slot) / 64] &= !(1 << (slot % 64));
    }

    /// Adds every slot of `range`.
    pub fn insert_range(&mut self, range: SlotRange) {
        for slot in range.start..=range.end {
            self.insert(slot);
        }
    }

    /// Whether `slot` is in the set.
    pub fn contains(&self, slot: u16) -> bool {
        self.bits[usize::from(slot) / 64] & (1 << (slot % 64)) != 0
    }

    /// Number of slots in the set.
    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether no slot is in the set.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// Slots in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        // Word by word, skipping empty words: a master's set is 256 words, mostly zero, and
        // views of 40 nodes walk 40 × 40 of them per observation.
        self.bits.iter().enumerate().flat_map(|(i, &word)| {
            let base = (i * 64) as u16;
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as u16;
                    rest &= rest - 1;
                    base + bit
                })
            })
        })
    }

    /// Maximal runs of consecutive slots, ascending.
    pub fn ranges(&self) -> Vec<SlotRange> {
        let mut out: Vec<SlotRange> = Vec::new();
        for slot in self.iter() {
            match out.last_mut() {
                Some(last) if last.end + 1 == slot => last.end = slot,
                _ => out.push(SlotRange {
                    start: slot,
                    end: slot,
                }),
            }
        }
        out
    }

    /// Slots in both sets.
    pub fn intersection(&self, other: &Self) -> Self {
        self.zip_with(other, |a, b| a & b)
    }

    /// Slots in either set.
    pub fn union(&self, other: &Self) -> Self {
        self.zip_with(other, |a, b| a | b)
    }

    /// Slots in `self` but not in `other`.
    pub fn difference(&self, other: &Self) -> Self {
        self.zip_with(other, |a, b| a & !b)
    }

    /// Slots not in the set.
    pub fn complement(&self) -> Self {
        Self::all().difference(self)
    }

    /// Word-wise combination of two bitmaps.
    fn zip_with(&self, other: &Self, op: impl Fn(u64, u64) -> u64) -> Self {
        let mut out = Self::new();
        for (i, word) in out.bits.iter_mut().enumerate() {
            *word = op(self.bits[i], other.bits[i]);
        }
        out
    }
}

impl FromIterator<u16> for SlotSet {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> Self {
        let mut set = Self::new();
        for slot in iter {
            set.insert(slot);
        }
        set
    }
}

impl fmt::Display for SlotSet {
    /// Space-separated ranges, e.g. `0-5460 10923`; `-` for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges = self.ranges();
        if ranges.is_empty() {
            return f.write_str("-");
        }
        for (i, r) in ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotSet({self})")
    }
}

impl serde::Serialize for SlotSet {
    /// Serialised as a list of `[start, end]` pairs, compact and lossless.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<[u16; 2]> = self.ranges().iter().map(|r| [r.start, r.end]).collect();
        pairs.serialize(s)
    }
}

/// The hash slot of a key, as Redis Cluster computes it (CRC16/XMODEM of the hash tag or key).
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|b| *b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|b| *b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) % SLOT_COUNT
}

/// CRC16-CCITT (XMODEM), the checksum Redis Cluster uses for key slots.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in data {
        crc ^= u16::from(*byte) << 8;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_print_like_cluster_nodes() {
        let mut set = SlotSet::from_range(SlotRange {
            start: 0,
            end: 5460,
        });
        set.insert(10923);
        assert_eq!(set.to_string(), "0-5460 10923");
        assert_eq!(set.len(), 5462);
        assert_eq!(SlotSet::new().to_string(), "-");
    }

    #[test]
    fn a_range_parses_from_one_slot_or_a_span() {
        assert_eq!(SlotRange::parse("7"), Ok(SlotRange { start: 7, end: 7 }));
        assert_eq!(
            SlotRange::parse("0-16383"),
            Ok(SlotRange {
                start: 0,
                end: 16383
            })
        );
        assert_eq!(
            SlotRange::parse("16384"),
            Err(SlotParseError::OutOfRange(16384))
        );
        assert!(matches!(
            SlotRange::parse("9-3"),
            Err(SlotParseError::Reversed(_))
        ));
        assert!(matches!(
            SlotRange::parse("x"),
            Err(SlotParseError::NotANumber(_))
        ));
    }

    #[test]
    fn key_slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0.15.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(key_slot(b"123456789"), 0x31C3 % SLOT_COUNT);
    }

    fn slot_set() -> impl Strategy<Value = SlotSet> {
        proptest::collection::vec(0..SLOT_COUNT, 0..400).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn iter_lists_exactly_the_members_in_ascending_order(set in slot_set()) {
            let listed: Vec<u16> = set.iter().collect();
            let members: Vec<u16> = (0..SLOT_COUNT).filter(|s| set.contains(*s)).collect();
            prop_assert_eq!(listed, members);
        }

        #[test]
        fn ranges_rebuild_the_same_set(set in slot_set()) {
            let mut rebuilt = SlotSet::new();
            for r in set.ranges() {
                rebuilt.insert_range(r);
            }
            prop_assert_eq!(&rebuilt, &set);
        }

        #[test]
        fn ranges_are_sorted_disjoint_and_maximal(set in slot_set()) {
            let ranges = set.ranges();
            for pair in ranges.windows(2) {
                prop_assert!(pair[0].end + 1 < pair[1].start);
            }
            prop_assert_eq!(ranges.iter().map(SlotRange::len).sum::<usize>(), set.len());
        }

        #[test]
        fn printed_ranges_parse_back(set in slot_set()) {
            let text = set.to_string();
            let mut parsed = SlotSet::new();
            if text != "-" {
                for part in text.split(' ') {
                    parsed.insert_range(SlotRange::parse(part).unwrap());
                }
            }
            prop_assert_eq!(parsed, set);
        }

        #[test]
        fn a_set_and_its_complement_partition_all_slots(set in slot_set()) {
            let rest = set.complement();
            prop_assert!(set.intersection(&rest).is_empty());
            prop_assert_eq!(set.union(&rest), SlotSet::all());
            prop_assert_eq!(set.len() + rest.len(), usize::from(SLOT_COUNT));
        }
    }
}
