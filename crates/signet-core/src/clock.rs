//! The system clock and the system CSPRNG: the only places that read them.

use crate::ports::{Clock, Rng};
use time::OffsetDateTime;

/// Wall-clock time, truncated to whole seconds (what certificates and the
/// store can represent).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // INVARIANT: the one sanctioned reader of the system clock.
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    }
}

/// A clock that says what it is told; for tests.
#[derive(Debug)]
pub struct FixedClock(pub std::sync::Mutex<OffsetDateTime>);

impl FixedClock {
    pub fn new(t: OffsetDateTime) -> Self {
        Self(std::sync::Mutex::new(t))
    }

    pub fn advance(&self, d: time::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += d;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        match self.0.lock() {
            Ok(t) => *t,
            Err(p) => *p.into_inner(),
        }
    }
}

/// The operating system's CSPRNG, through aws-lc.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRng;

impl Rng for SystemRng {
    fn fill(&self, buf: &mut [u8]) {
        use aws_lc_rs::rand::SecureRandom;
        // aws-lc's system RNG does not fail on supported platforms; if it ever
        // did, abort rather than issue with predictable serials.
        if aws_lc_rs::rand::SystemRandom::new().fill(buf).is_err() {
            std::process::abort();
        }
    }
}
