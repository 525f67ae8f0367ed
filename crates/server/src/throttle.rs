//! Throttling of failed authentications, per client address and per offered key, so that
//! guessing keys costs time and a misconfigured client with a revoked key stops hammering
//! the database. Counts live in memory (they need not survive a restart) in tables of
//! bounded size: a flood of random keys or addresses evicts the oldest entries instead of
//! growing without end.
//!
//! Each entry counts failures in a fixed window that opens with its first failure; once the
//! count reaches the limit, requests are refused until the window closes.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits of failed authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures allowed from one client address per window (IPv6: per /64 network, which
    /// one host usually holds whole); 0 = unlimited.
    pub failures_per_address: u32,
    /// Failures allowed with one key per window; 0 = unlimited.
    pub failures_per_key: u32,
    pub window: Duration,
    /// Most addresses, and most keys, remembered at once.
    pub capacity: usize,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            failures_per_address: 10,
            failures_per_key: 5,
            window: Duration::from_secs(300),
            capacity: 65_536,
        }
    }
}

/// The failure counts of the whole server.
#[derive(Debug)]
pub struct Throttle {
    addresses: Mutex<FailureTable<IpAddr>>,
    keys: Mutex<FailureTable<[u8; 32]>>,
}

impl Throttle {
    pub fn new(settings: &ThrottleSettings) -> Self {
        Self {
            addresses: Mutex::new(FailureTable::new(
                settings.failures_per_address,
                settings.window,
                settings.capacity,
            )),
            keys: Mutex::new(FailureTable::new(
                settings.failures_per_key,
                settings.window,
                settings.capacity,
            )),
        }
    }

    /// How long a request from `address` offering `keys` must wait, if the address or any
    /// of the keys has used up its failures.
    pub fn blocked_for(
        &self,
        address: Option<IpAddr>,
        keys: &[String],
        now: Instant,
    ) -> Option<Duration> {
        let by_address = address
            .and_then(|address| lock(&self.addresses).blocked_for(&address_bucket(address), now));
        let keys_table = lock(&self.keys);
        keys.iter()
            .filter_map(|key| keys_table.blocked_for(&key_bucket(key), now))
            .chain(by_address)
            .max()
    }

    /// Counts one failed authentication from `address` offering `keys`.
    pub fn record_failure(&self, address: Option<IpAddr>, keys: &[String], now: Instant) {
        if let Some(address) = address {
            lock(&self.addresses).record(address_bucket(address), now);
        }
        let mut buckets: Vec<[u8; 32]> = keys.iter().map(|key| key_bucket(key)).collect();
        buckets.sort_unstable();
        buckets.dedup();
        let mut keys_table = lock(&self.keys);
        for bucket in buckets {
            keys_table.record(bucket, now);
        }
    }
}

/// A poisoned lock only means another request panicked mid-update; the counts are still
/// usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn address_bucket(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// Keys are remembered by digest only, so the table never holds a usable key.
fn key_bucket(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Failure counts per bucket, with the buckets in the order their windows opened so the
/// oldest can be dropped first.
#[derive(Debug)]
struct FailureTable<K> {
    limit: u32,
    window: Duration,
    capacity: usize,
    entries: HashMap<K, Failures>,
    /// Each window that opened, oldest first. An item whose entry has since been replaced
    /// by a newer window (another generation) is stale and skipped.
    opened: VecDeque<(K, u64)>,
    next_generation: u64,
}

#[derive(Debug)]
struct Failures {
    since: Instant,
    count: u32,
    generation: u64,
}

impl<K: Hash + Eq + Clone> FailureTable<K> {
    fn new(limit: u32, window: Duration, capacity: usize) -> Self {
        Self {
            limit,
            window,
            capacity: capacity.max(1),
            entries: HashMap::new(),
            opened: VecDeque::new(),
            next_generation: 0,
        }
    }

    fn is_open(&self, failures: &Failures, now: Instant) -> bool {
        now.saturating_duration_since(failures.since) < self.window
    }

    fn blocked_for(&self, bucket: &K, now: Instant) -> Option<Duration> {
        if self.limit == 0 {
            return None;
        }
        let failures = self.entries.get(bucket)?;
        if failures.count < self.limit || !self.is_open(failures, now) {
            return None;
        }
        Some(self.window - now.saturating_duration_since(failures.since))
    }

    fn record(&mut self, bucket: K, now: Instant) {
        if self.limit == 0 {
            return;
        }
        if let Some(failures) = self.entries.get(&bucket)
            && self.is_open(failures, now)
        {
            let failures = self.entries.get_mut(&bucket).expect("just found");
            failures.count = failures.count.saturating_add(1);
            return;
        }
        self.make_room(now);
        let generation = self.next_generation;
        self.next_generation += 1;
        self.entries.insert(
            bucket.clone(),
            Failures {
                since: now,
                count: 1,
                generation,
            },
        );
        self.opened.push_back((bucket, generation));
        // Stale items pile up only when clocks of concurrent requests interleave; drop
        // them long before they could matter.
        if self.opened.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.opened.retain(|(bucket, generation)| {
                entries
                    .get(bucket)
                    .is_some_and(|failures| failures.generation == *generation)
            });
        }
    }

    /// Forgets closed windows from the oldest on, then the oldest open ones while full.
    fn make_room(&mut self, now: Instant) {
        while let Some((bucket, generation)) = self.opened.front() {
            let current = self
                .entries
                .get(bucket)
                .filter(|failures| failures.generation == *generation);
            match current {
                None => {}
                Some(failures)
                    if self.is_open(failures, now) && self.entries.len() < self.capacity =>
                {
                    break;
                }
                Some(_) => {
                    self.entries.remove(bucket);
                }
            }
            self.opened.pop_front();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn settings(per_address: u32, per_key: u32, capacity: usize) -> ThrottleSettings {
        ThrottleSettings {
            failures_per_address: per_address,
            failures_per_key: per_key,
            window: WINDOW,
            capacity,
        }
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn an_address_is_blocked_after_its_failures_until_the_window_closes() {
        let throttle = Throttle::new(&settings(3, 0, 100));
        let start = Instant::now();
        for _ in 0..2 {
            throttle.record_failure(ip("192.0.2.1"), &[], start);
        }
        assert_eq!(throttle.blocked_for(ip("192.0.2.1"), &[], start), None);
        throttle.record_failure(ip("192.0.2.1"), &[], start);
        let later = start + Duration::from_secs(20);
        assert_eq!(
            throttle.blocked_for(ip("192.0.2.1"), &[], later),
            Some(Duration::from_secs(40))
        );
        assert_eq!(throttle.blocked_for(ip("192.0.2.2"), &[], later), None);
        assert_eq!(throttle.blocked_for(None, &[], later), None);
        assert_eq!(
            throttle.blocked_for(ip("192.0.2.1"), &[], start + WINDOW),
            None
        );
        // A new window starts from scratch.
        throttle.record_failure(ip("192.0.2.1"), &[], start + WINDOW);
        assert_eq!(
            throttle.blocked_for(ip("192.0.2.1"), &[], start + WINDOW),
            None
        );
    }

    #[test]
    fn a_key_is_blocked_from_every_address() {
        let throttle = Throttle::new(&settings(0, 2, 100));
        let now = Instant::now();
        let key = vec!["k".repeat(40)];
        throttle.record_failure(ip("192.0.2.1"), &key, now);
        throttle.record_failure(ip("198.51.100.1"), &key, now);
        assert!(throttle.blocked_for(ip("203.0.113.1"), &key, now).is_some());
        assert!(throttle.blocked_for(None, &key, now).is_some());
        let other = vec!["o".repeat(40)];
        assert_eq!(throttle.blocked_for(ip("203.0.113.1"), &other, now), None);
        // Offering the same key twice in one request is one failure.
        let twice = vec!["t".repeat(40), "t".repeat(40)];
        throttle.record_failure(None, &twice, now);
        assert_eq!(throttle.blocked_for(None, &twice, now), None);
    }

    #[test]
    fn ipv6_addresses_count_per_64_network() {
        let throttle = Throttle::new(&settings(2, 0, 100));
        let now = Instant::now();
        throttle.record_failure(ip("2001:db8:1:2::1"), &[], now);
        throttle.record_failure(ip("2001:db8:1:2:ffff::9"), &[], now);
        assert!(
            throttle
                .blocked_for(ip("2001:db8:1:2::77"), &[], now)
                .is_some()
        );
        assert_eq!(throttle.blocked_for(ip("2001:db8:1:3::1"), &[], now), None);
        throttle.record_failure(ip("::ffff:192.0.2.1"), &[], now);
        throttle.record_failure(ip("192.0.2.1"), &[], now);
        assert!(throttle.blocked_for(ip("192.0.2.1"), &[], now).is_some());
    }

    #[test]
    fn tables_stay_bounded_under_a_flood_and_forget_the_oldest_first() {
        let mut table: FailureTable<u64> = FailureTable::new(3, WINDOW, 1_000);
        let start = Instant::now();
        for _ in 0..3 {
            table.record(u64::MAX, start);
        }
        assert!(table.blocked_for(&u64::MAX, start).is_some());
        for bucket in 0..100_000u64 {
            table.record(bucket, start + Duration::from_millis(bucket / 100));
            assert!(table.len() <= 1_000);
            assert!(table.opened.len() <= 2 * 1_000);
        }
        assert_eq!(table.len(), 1_000);
        assert!(
            table.blocked_for(&u64::MAX, start).is_none(),
            "the oldest went first"
        );
        assert!(table.entries.contains_key(&99_999));
        assert!(!table.entries.contains_key(&98_999));
    }

    #[test]
    fn closed_windows_are_dropped_before_open_ones() {
        let mut table: FailureTable<u32> = FailureTable::new(1, WINDOW, 3);
        let start = Instant::now();
        table.record(1, start);
        table.record(2, start + Duration::from_secs(30));
        // Bucket 1's window closes; reopening it must not leave two live items.
        table.record(1, start + WINDOW + Duration::from_secs(1));
        assert_eq!(table.len(), 2);
        assert_eq!(table.opened.len(), 2);
        table.record(3, start + WINDOW + Duration::from_secs(2));
        table.record(4, start + WINDOW + Duration::from_secs(3));
        // Full: bucket 2, the oldest, gives way.
        assert_eq!(table.len(), 3);
        assert!(!table.entries.contains_key(&2));
        assert!(
            table
                .blocked_for(&1, start + WINDOW + Duration::from_secs(3))
                .is_some()
        );
    }

    #[test]
    fn zero_limits_never_block() {
        let throttle = Throttle::new(&settings(0, 0, 10));
        let now = Instant::now();
        for _ in 0..100 {
            throttle.record_failure(ip("192.0.2.1"), &["k".repeat(40)], now);
        }
        assert_eq!(
            throttle.blocked_for(ip("192.0.2.1"), &["k".repeat(40)], now),
            None
        );
        assert_eq!(lock(&throttle.addresses).len(), 0);
    }
}
