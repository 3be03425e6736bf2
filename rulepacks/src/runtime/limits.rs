//! What bounds each store besides fuel: the limiter that traps growth
//! beyond the caps, the gate on stores alive at once, the ticker that
//! drives epoch deadlines, and how a failure is classified.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use wasmtime::{Engine, ResourceLimiter, Trap};

use super::RuntimeError;

/// Per-store data: only the limiter.
pub(super) struct CallState {
    pub(super) limiter: CapLimiter,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum LimitHit {
    Memory,
    Table { elements: usize },
}

/// Traps on growth beyond the caps and records which cap was hit, so the
/// failure is reported as `OutOfMemory` / `TableTooLarge` whatever shape
/// the trap takes. Growth beyond a module's own declared maximum (below
/// the cap) fails the standard way, `memory.grow` returning −1.
pub(super) struct CapLimiter {
    pub(super) memory_cap: usize,
    pub(super) table_cap: usize,
    pub(super) hit: Option<LimitHit>,
}

impl ResourceLimiter for CapLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.hit = Some(LimitHit::Memory);
            wasmtime::bail!("memory cap of {} bytes exceeded", self.memory_cap);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_cap {
            self.hit = Some(LimitHit::Table { elements: desired });
            wasmtime::bail!("table cap of {} elements exceeded", self.table_cap);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Instantiate,
    Call,
}

/// Maps a wasmtime error to the runtime's error kinds: a recorded limit
/// first, then the trap code; anything else is a trap message (during a
/// call) or an instantiation failure.
pub(super) fn classify(
    err: wasmtime::Error,
    state: &CallState,
    cap_bytes: u64,
    phase: Phase,
) -> RuntimeError {
    match state.limiter.hit {
        Some(LimitHit::Memory) => return RuntimeError::OutOfMemory { cap_bytes },
        Some(LimitHit::Table { elements }) => {
            return RuntimeError::TableTooLarge {
                elements: elements as u64,
                cap: state.limiter.table_cap as u64,
            };
        }
        None => {}
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => RuntimeError::OutOfFuel,
        Some(Trap::Interrupt) => RuntimeError::DeadlineExceeded,
        Some(Trap::StackOverflow) => RuntimeError::StackOverflow,
        Some(trap) => RuntimeError::Trap(trap.to_string()),
        None if phase == Phase::Instantiate => RuntimeError::Instantiate(format!("{err:#}")),
        None => RuntimeError::Trap(format!("{err:#}")),
    }
}

/// A counting semaphore bounding the stores alive at once.
pub(super) struct Gate {
    free: Mutex<u32>,
    freed: Condvar,
}

pub(super) struct Permit<'a> {
    gate: &'a Gate,
}

impl Gate {
    pub(super) fn new(slots: u32) -> Self {
        Self {
            free: Mutex::new(slots),
            freed: Condvar::new(),
        }
    }

    pub(super) fn acquire(&self) -> Permit<'_> {
        // Nothing panics while the lock is held, so poisoning carries no
        // broken invariant; recover the guard.
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Permit { gate: self }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self
            .gate
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        self.gate.freed.notify_one();
    }
}

/// The thread that advances the engine's epoch every tick; stopped and
/// joined on drop.
pub(super) struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    pub(super) fn start(engine: Engine, tick: Duration) -> Result<Self, RuntimeError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("kaohe-epoch".to_owned())
            .spawn(move || {
                // Waiting on the channel (not sleeping) lets drop stop the
                // thread at once: dropping the sender disconnects it.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| RuntimeError::Config(format!("spawn epoch ticker: {e}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread cannot panic; a join error would only repeat one.
            let _ = thread.join();
        }
    }
}
