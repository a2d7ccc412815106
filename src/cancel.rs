//! Stopping a run on request: Ctrl-C or SIGTERM at the command line, a `KeyboardInterrupt`
//! in Python. A request is process-wide; the long loops (files, chunks, groups of spectra,
//! Jacobian rows, training steps, shards) look at it between units of work that take well
//! under a second, and return [`Error::Cancelled`]. Their outputs are temporary files until
//! a run completes, so a stopped run leaves nothing behind (training keeps its best model).

use crate::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// The state of stop requests (the process has one, [`STATE`]).
struct Requests {
    requested: AtomicBool,
    /// The signal that asked (0 for a request that came otherwise, such as from Python).
    signal: AtomicI32,
    /// Calls in progress that answer requests ([`Scope`]).
    active: AtomicUsize,
}

impl Requests {
    const fn new() -> Self {
        Requests {
            requested: AtomicBool::new(false),
            signal: AtomicI32::new(0),
            active: AtomicUsize::new(0),
        }
    }

    fn request(&self, signal: i32) {
        self.signal.store(signal, Ordering::SeqCst);
        self.requested.store(true, Ordering::SeqCst);
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }

    fn enter(&self) {
        self.active.fetch_add(1, Ordering::SeqCst);
    }

    /// Leaves a call; the last one out forgets the request.
    fn leave(&self) {
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.requested.store(false, Ordering::SeqCst);
            self.signal.store(0, Ordering::SeqCst);
        }
    }
}

static STATE: Requests = Requests::new();

/// Asks every run of the process to stop (`signal`: the signal that asked, or 0).
pub fn request(signal: i32) {
    STATE.request(signal);
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    STATE.requested()
}

/// The signal that asked for the stop, if one did.
pub fn signal() -> Option<i32> {
    STATE.signal()
}

/// `Err(Error::Cancelled)` once a stop was asked for.
pub fn check() -> Result<()> {
    if requested() {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

/// A call that answers stop requests. The request is forgotten when the last scope ends,
/// so the next call starts afresh (a Python session goes on after a `KeyboardInterrupt`).
pub struct Scope(());

impl Scope {
    /// Enters a call.
    pub fn enter() -> Scope {
        STATE.enter();
        Scope(())
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        STATE.leave();
    }
}

/// SIGINT and SIGTERM turned into stop requests while this lives (the command line's),
/// the handlers before it restored on drop. A second signal while a stop is under way ends
/// the process at once, as the default handler would.
#[cfg(unix)]
pub struct SignalHandlers {
    previous: Vec<(libc::c_int, libc::sighandler_t)>,
}

#[cfg(unix)]
extern "C" fn on_signal(signal: libc::c_int) {
    if STATE.requested.swap(true, Ordering::SeqCst) {
        // SAFETY: signal and raise are async-signal-safe; restoring the default action and
        // raising the signal again ends the process as an unhandled signal would.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
    STATE.signal.store(signal, Ordering::SeqCst);
}

#[cfg(unix)]
impl SignalHandlers {
    /// Installs the handlers.
    pub fn install() -> SignalHandlers {
        let previous = [libc::SIGINT, libc::SIGTERM]
            .into_iter()
            .map(|signal| {
                let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                // SAFETY: the handler only touches atomics (and signal/raise, which are
                // async-signal-safe).
                (signal, unsafe { libc::signal(signal, handler) })
            })
            .collect();
        SignalHandlers { previous }
    }
}

#[cfg(unix)]
impl Drop for SignalHandlers {
    fn drop(&mut self) {
        for &(signal, handler) in &self.previous {
            if handler != libc::SIG_ERR {
                // SAFETY: puts back the handler that was there before `install`.
                unsafe { libc::signal(signal, handler) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_holds_until_the_last_call_ends() {
        let state = Requests::new();
        state.enter();
        state.enter();
        assert!(!state.requested());
        state.request(2);
        assert!(state.requested() && state.signal() == Some(2));
        state.leave();
        assert!(state.requested(), "another call is still stopping");
        state.leave();
        assert!(!state.requested() && state.signal().is_none());
    }
}
