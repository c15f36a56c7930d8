//! Token requests shielded from SIGINT and SIGTERM: from just before a token request is sent
//! until its answer is stored, a signal is held off, then honoured. Killing the process in
//! that window would lose a rotated refresh token for good (the provider has already spent
//! the old one).
//!
//! The library never exits by itself: the program sets a [`Handler`], told when a signal is
//! held off and when to act on it. Nothing is listened for until the first token request
//! ([`hold`]); from then on the signals go through here for the rest of the process (tokio
//! cannot give them back to the system), and a signal outside a held section is acted on at
//! once. Without a handler, [`hold`] does nothing.

use std::sync::Mutex;

/// The signals held off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// What a shell reports for a process ended by this signal: 130 for SIGINT, 143 for
    /// SIGTERM.
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// When the program hears of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// It arrived during a token request: the program will be told again once the answer is
    /// stored.
    HeldOff,
    /// Act on it now (it arrived outside a token request, or the request's answer is stored).
    Act,
}

/// What the program does about a signal.
pub type Handler = fn(Signal, Moment);

struct State {
    held: usize,
    pending: Option<Signal>,
    handler: Option<Handler>,
    listening: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    held: 0,
    pending: None,
    handler: None,
    listening: false,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets what signals do once token requests are shielded from them.
pub fn set_handler(handler: Handler) {
    state().handler = Some(handler);
}

/// Holds SIGINT and SIGTERM off until the guard is dropped (the last guard, when several
/// requests are in flight).
#[must_use = "signals are held off only while the guard lives"]
pub fn hold() -> Held {
    let mut state = state();
    if state.handler.is_some() && !state.listening {
        state.listening = listen();
    }
    state.held += 1;
    Held(())
}

/// Signals are held off while this lives.
#[derive(Debug)]
pub struct Held(());

impl Drop for Held {
    fn drop(&mut self) {
        let act = {
            let mut state = state();
            state.held -= 1;
            if state.held == 0 {
                state.pending.take().zip(state.handler)
            } else {
                None
            }
        };
        if let Some((signal, handler)) = act {
            handler(signal, Moment::Act);
        }
    }
}

/// A signal arrived.
fn deliver(signal: Signal) {
    let call = {
        let mut state = state();
        match state.handler {
            None => None,
            Some(handler) if state.held == 0 => Some((handler, Moment::Act)),
            Some(handler) if state.pending.is_none() => {
                state.pending = Some(signal);
                Some((handler, Moment::HeldOff))
            }
            Some(_) => None,
        }
    };
    if let Some((handler, moment)) = call {
        handler(signal, moment);
    }
}

/// Starts listening; the signals are registered before this returns, so none slips between
/// the hold and the listener. False outside a tokio runtime.
fn listen() -> bool {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return false;
        };
        runtime.spawn(async move {
            loop {
                let signal = tokio::select! {
                    Some(()) = interrupt.recv() => Signal::Interrupt,
                    Some(()) = terminate.recv() => Signal::Terminate,
                    else => return,
                };
                deliver(signal);
            }
        });
    }
    #[cfg(not(unix))]
    runtime.spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            deliver(Signal::Interrupt);
        }
    });
    true
}
