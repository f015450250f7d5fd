//! Slows down password guessing at the console's login: after a few wrong logins in a
//! row for one user name (or for the token), that name is locked for a while, twice as
//! long at each further failure up to a cap; a locked name is answered 429 without
//! checking any password, and a right login clears its count.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Wrong logins in a row a name may have before it is locked.
pub const LOGIN_FAILURES_FREE: u32 = 5;
/// The first lock; each further failure doubles it.
pub const LOGIN_LOCK_FIRST: Duration = Duration::from_secs(1);
/// The longest lock.
pub const LOGIN_LOCK_MAX: Duration = Duration::from_secs(60);
/// Names whose failures are remembered at most (the stalest goes first).
pub const LOGIN_TRACKED_NAMES_MAX: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    in_a_row: u32,
    locked_until: Option<Instant>,
    last: Instant,
}

/// Failure counts per login name.
pub struct LoginThrottle {
    names: Mutex<HashMap<String, Failures>>,
    names_max: usize,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(LOGIN_TRACKED_NAMES_MAX)
    }
}

impl LoginThrottle {
    pub fn new(names_max: usize) -> Self {
        assert!(names_max > 0, "a throttle tracks a name");
        LoginThrottle {
            names: Mutex::new(HashMap::new()),
            names_max,
        }
    }

    /// How long `name` must still wait before a login is checked; None when it may try.
    pub fn locked_for(&self, name: &str, now: Instant) -> Option<Duration> {
        let names = self.names.lock();
        let until = names.get(name)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a wrong login for `name`; returns the lock it now has, if any.
    pub fn failed(&self, name: &str, now: Instant) -> Option<Duration> {
        let mut names = self.names.lock();
        if !names.contains_key(name) && names.len() >= self.names_max {
            if let Some(stalest) = names
                .iter()
                .min_by_key(|(_, f)| f.last)
                .map(|(k, _)| k.clone())
            {
                names.remove(&stalest);
            }
        }
        let entry = names.entry(name.to_string()).or_insert(Failures {
            in_a_row: 0,
            locked_until: None,
            last: now,
        });
        entry.in_a_row = entry.in_a_row.saturating_add(1);
        entry.last = now;
        let over = entry.in_a_row.checked_sub(LOGIN_FAILURES_FREE)?;
        // 1 s at the first failure over the allowance, then 2 s, 4 s, … up to the cap.
        let lock = LOGIN_LOCK_FIRST
            .checked_mul(1u32 << over.min(16))
            .map_or(LOGIN_LOCK_MAX, |d| d.min(LOGIN_LOCK_MAX));
        entry.locked_until = Some(now + lock);
        Some(lock)
    }

    /// A right login: `name` starts afresh.
    pub fn succeeded(&self, name: &str) {
        self.names.lock().remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_locked_after_the_free_failures_longer_each_time() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 1..LOGIN_FAILURES_FREE {
            assert_eq!(t.failed("alice", now), None);
            assert_eq!(t.locked_for("alice", now), None);
        }
        assert_eq!(t.failed("alice", now), Some(LOGIN_LOCK_FIRST));
        assert_eq!(t.locked_for("alice", now), Some(LOGIN_LOCK_FIRST));
        assert_eq!(t.locked_for("bob", now), None, "other names are not locked");
        let later = now + LOGIN_LOCK_FIRST;
        assert_eq!(t.locked_for("alice", later), None, "the lock ends");
        assert_eq!(t.failed("alice", later), Some(LOGIN_LOCK_FIRST * 2));
        assert_eq!(t.failed("alice", later), Some(LOGIN_LOCK_FIRST * 4));
        for _ in 0..40 {
            t.failed("alice", later);
        }
        assert_eq!(t.locked_for("alice", later), Some(LOGIN_LOCK_MAX));
        t.succeeded("alice");
        assert_eq!(t.locked_for("alice", later), None);
        assert_eq!(t.failed("alice", later), None, "the count starts afresh");
    }

    #[test]
    fn tracked_names_are_bounded() {
        let t = LoginThrottle::new(2);
        let now = Instant::now();
        for _ in 0..=LOGIN_FAILURES_FREE {
            t.failed("a", now);
        }
        t.failed("b", now + Duration::from_millis(1));
        t.failed("c", now + Duration::from_millis(2));
        assert_eq!(t.names.lock().len(), 2);
        assert_eq!(t.locked_for("a", now), None, "the stalest name went first");
    }
}
