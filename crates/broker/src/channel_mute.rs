//! Kafka's quota throttling of one connection (KIP-219). A client over a quota gets
//! its answer at once with `throttle_time_ms`, and the broker then reads none of the
//! connection's next requests for that time (the channel is muted); a client whose
//! request version predates KIP-219 gets its answer held back that long instead.
//! While a quota applies to a connection's client, its requests are served one at a
//! time, as Kafka serves every connection, so a throttle decided while answering one
//! request holds back the next.

use std::sync::atomic::{AtomicU64, Ordering};

/// The throttle a connection owes once its current answer is out.
#[derive(Debug, Default)]
pub struct ChannelMute {
    /// Milliseconds to stay muted after the answer being prepared; 0 when none.
    pending_ms: AtomicU64,
}

impl ChannelMute {
    pub fn new() -> Self {
        Self::default()
    }

    /// Mutes the channel for `throttle_ms` once the current answer is sent (the
    /// longest throttle wins when several quotas are exceeded).
    pub fn mute_after_answer(&self, throttle_ms: u64) {
        self.pending_ms.fetch_max(throttle_ms, Ordering::AcqRel);
    }

    /// The throttle owed, now taken; 0 when none.
    pub fn take_ms(&self) -> u64 {
        self.pending_ms.swap(0, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_throttle_is_owed_once() {
        let mute = ChannelMute::new();
        assert_eq!(mute.take_ms(), 0);
        mute.mute_after_answer(300);
        mute.mute_after_answer(100);
        assert_eq!(mute.take_ms(), 300);
        assert_eq!(mute.take_ms(), 0, "taken");
    }
}
