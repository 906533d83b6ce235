//! Client-side write limits: a token bucket, and per-object exponential backoff.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// A token bucket: `burst` writes at once, `qps` per second sustained.
#[derive(Debug)]
pub struct RateLimiter {
    qps: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(qps: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            qps: qps.max(0.001),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        let wait = {
            let mut state = self.state.lock().await;
            let (tokens, last) = &mut *state;
            let now = Instant::now();
            *tokens =
                (*tokens + now.duration_since(*last).as_secs_f64() * self.qps).min(self.burst);
            *last = now;
            *tokens -= 1.0;
            if *tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-*tokens / self.qps)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Backoff after failures: `initial`, doubling up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

/// After an ordinary error: 250 ms doubling to 60 s.
pub const ERROR_BACKOFF: Policy = Policy {
    initial: Duration::from_millis(250),
    max: Duration::from_secs(60),
};

/// After a conflict (409: the object changed since it was read; the watch catches up within
/// moments): 100 ms doubling to 5 s.
pub const CONFLICT_BACKOFF: Policy = Policy {
    initial: Duration::from_millis(100),
    max: Duration::from_secs(5),
};

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    next: Instant,
}

/// Per-key backoff, reset on success.
#[derive(Debug)]
pub struct Backoffs<K> {
    entries: BTreeMap<K, Entry>,
}

impl<K> Default for Backoffs<K> {
    fn default() -> Self {
        Backoffs {
            entries: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> Backoffs<K> {
    /// When the key may be tried again, if it must wait.
    pub fn not_before(&self, key: &K, now: Instant) -> Option<Instant> {
        self.entries
            .get(key)
            .map(|e| e.next)
            .filter(|next| *next > now)
    }

    /// Records a failure; returns the delay before the next try.
    pub fn failed(&mut self, key: &K, policy: Policy, now: Instant) -> Duration {
        let failures = self.entries.get(key).map_or(0, |e| e.failures) + 1;
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        let delay = policy.initial.saturating_mul(factor).min(policy.max);
        self.entries.insert(
            key.clone(),
            Entry {
                failures,
                next: now + delay,
            },
        );
        delay
    }

    /// Records a success: the next failure starts from the initial delay.
    pub fn succeeded(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// The earliest time a waiting key may be tried again.
    pub fn next_due(&self, now: Instant) -> Option<Instant> {
        self.entries
            .values()
            .map(|e| e.next)
            .filter(|n| *n > now)
            .min()
    }

    /// How many keys are waiting.
    pub fn waiting(&self, now: Instant) -> usize {
        self.entries.values().filter(|e| e.next > now).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_on_success() {
        let mut b = Backoffs::default();
        let now = Instant::now();
        let delays: Vec<Duration> = (0..12)
            .map(|_| b.failed(&"k", ERROR_BACKOFF, now))
            .collect();
        assert_eq!(delays[0], Duration::from_millis(250));
        assert_eq!(delays[1], Duration::from_millis(500));
        assert_eq!(delays[11], Duration::from_secs(60));
        assert!(b.not_before(&"k", now).is_some());
        assert_eq!(b.waiting(now), 1);
        b.succeeded(&"k");
        assert!(b.not_before(&"k", now).is_none());
        assert_eq!(
            b.failed(&"k", CONFLICT_BACKOFF, now),
            Duration::from_millis(100)
        );
    }

    #[tokio::test]
    async fn the_bucket_allows_a_burst_then_paces() {
        let limiter = RateLimiter::new(50.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(15));
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert!(
            start.elapsed() >= Duration::from_millis(90),
            "{:?}",
            start.elapsed()
        );
    }
}
