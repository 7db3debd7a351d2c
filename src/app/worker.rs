//! Background jobs: a named thread per job that holds no egui type.
//!
//! A job is a closure that gets a [`JobContext`] (progress, a trace of
//! objective values for live convergence plots, and a stop token) and
//! returns its result. The UI keeps a [`Job`] handle, drains its events in
//! `App::logic` (never blocking) and draws from what it has received. The
//! event channel is bounded: progress and trace messages are dropped when
//! it is full (the next one carries newer information), the final result is
//! always delivered. After each message the job calls the `wake` closure
//! (the app passes `ctx.request_repaint()`), so the UI repaints without
//! polling and tests run headless.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;

use crate::progress::{Progress, StopToken};

/// A repaint request the worker can call from any thread.
pub use crate::model::live::Wake;

/// What a job reports back.
#[derive(Debug)]
pub enum JobEvent<T> {
    /// `done` of `total` units finished.
    Progress(u64, u64),
    /// One more value of the objective (e.g. log-likelihood per iteration).
    Trace(f64),
    /// The job finished: its result, or an error message for the user.
    Done(Result<T, String>),
}

/// What a running job can use.
pub struct JobContext<T> {
    tx: SyncSender<JobEvent<T>>,
    wake: Wake,
    /// Honoured by the library's long computations.
    pub stop: StopToken,
}

impl<T> JobContext<T> {
    /// Send a trace value (dropped if the UI is behind).
    pub fn trace(&self, value: f64) {
        if self.tx.try_send(JobEvent::Trace(value)).is_ok() {
            (self.wake)();
        }
    }
}

impl<T: Send> Progress for JobContext<T> {
    fn report(&self, done: u64, total: u64) {
        match self.tx.try_send(JobEvent::Progress(done, total)) {
            Ok(()) => (self.wake)(),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        }
    }
    fn objective(&self, _iteration: usize, value: f64) {
        self.trace(value);
    }
}

/// The UI's handle on a background job.
pub struct Job<T> {
    /// What the job does, for the status bar ("Fitting couplings").
    pub label: String,
    /// `None` only while dropping (so the worker's last send cannot block).
    rx: Option<Receiver<JobEvent<T>>>,
    stop: StopToken,
    thread: Option<JoinHandle<()>>,
    /// Latest progress `(done, total)`.
    pub progress: (u64, u64),
    /// Every trace value received, in order.
    pub trace: Vec<f64>,
    /// Boxed: a finished result may be large, the handle stays small.
    result: Option<Box<Result<T, String>>>,
}

impl<T: Send + 'static> Job<T> {
    /// Start `work` on a new named thread.
    pub fn spawn(
        label: impl Into<String>,
        wake: Wake,
        work: impl FnOnce(&JobContext<T>) -> Result<T, String> + Send + 'static,
    ) -> Self {
        let label = label.into();
        let (tx, rx) = sync_channel(256);
        let stop = StopToken::new();
        let ctx = JobContext {
            tx,
            wake,
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("isingscope: {label}"))
            .spawn(move || {
                let result = work(&ctx);
                // The UI may already be gone; nothing to do then.
                let _ = ctx.tx.send(JobEvent::Done(result));
                (ctx.wake)();
            })
            .ok();
        let mut job = Self {
            label,
            rx: Some(rx),
            stop,
            thread,
            progress: (0, 0),
            trace: Vec::new(),
            result: None,
        };
        if job.thread.is_none() {
            job.result = Some(Box::new(Err("could not start a worker thread".into())));
        }
        job
    }

    /// Drain pending events without blocking. Returns the result once, when
    /// the job has finished.
    pub fn poll(&mut self) -> Option<Result<T, String>> {
        let rx = self.rx.as_ref()?;
        loop {
            match rx.try_recv() {
                Ok(JobEvent::Progress(d, t)) => self.progress = (d, t),
                Ok(JobEvent::Trace(v)) => self.trace.push(v),
                Ok(JobEvent::Done(r)) => {
                    self.result = Some(Box::new(r));
                    break;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if self.result.is_none() {
                        self.result = Some(Box::new(Err(format!(
                            "{} stopped unexpectedly",
                            self.label
                        ))));
                    }
                    break;
                }
            }
        }
        let r = self.result.take().map(|b| *b);
        if r.is_some()
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
        r
    }

    /// Ask the job to stop; its result will be `Err("cancelled")` or
    /// whatever it returns when it notices.
    pub fn cancel(&self) {
        self.stop.stop();
    }

    /// Fraction done in [0, 1] (0 while unknown).
    pub fn fraction(&self) -> f32 {
        let (d, t) = self.progress;
        if t == 0 {
            0.0
        } else {
            (d as f32 / t as f32).min(1.0)
        }
    }
}

impl<T> Drop for Job<T> {
    fn drop(&mut self) {
        self.stop.stop();
        // Drop the receiver first: a worker blocked in its final send then
        // gets an error at once instead of waiting for a reader forever.
        self.rx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Lower the calling thread's scheduling priority (nice 10 on Unix; a no-op
/// elsewhere), for background estimates that must not take CPU from the
/// live simulation and the UI on a 2-core machine.
pub fn lower_thread_priority() {
    #[cfg(unix)]
    // SAFETY: setpriority has no memory effects; on Linux `who = 0` with
    // PRIO_PROCESS names the calling thread. Failure leaves the priority
    // as it was, which is harmless.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS as _, 0, 10);
    }
}

/// A one-thread rayon pool whose thread runs at lowered priority: library
/// code that parallelises with rayon runs there instead of in the global
/// pool the live simulation uses.
pub fn background_pool(name: &str) -> Result<rayon::ThreadPool, String> {
    let name = name.to_string();
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(move |_| format!("isingscope: {name}"))
        .start_handler(|_| lower_thread_priority())
        .build()
        .map_err(|e| e.to_string())
}

/// Turn a library error into the one-line message the UI shows.
pub fn message(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    if s == "cancelled" {
        "Cancelled.".to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn job_delivers_progress_and_result() {
        let wake: Wake = Arc::new(|| {});
        let mut job = Job::spawn("test", wake, |ctx| {
            ctx.report(1, 2);
            ctx.trace(0.5);
            Ok(42)
        });
        let mut result = None;
        for _ in 0..1000 {
            if let Some(r) = job.poll() {
                result = Some(r);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(result, Some(Ok(42)));
        assert_eq!(job.trace, vec![0.5]);
    }

    #[test]
    fn dropping_a_busy_job_does_not_hang() {
        // The worker floods the channel (progress every iteration) and only
        // stops when asked; dropping the handle must stop and join it even
        // though nobody reads the full channel.
        let wake: Wake = Arc::new(|| {});
        let job = Job::<()>::spawn("flood", wake, |ctx| {
            while !ctx.stop.is_stopped() {
                ctx.report(1, 2);
            }
            Err("cancelled".into())
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(job);
    }

    #[test]
    fn cancel_reaches_the_job() {
        let wake: Wake = Arc::new(|| {});
        let mut job = Job::<()>::spawn("loop", wake, |ctx| {
            while !ctx.stop.is_stopped() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err("cancelled".into())
        });
        job.cancel();
        let mut result = None;
        for _ in 0..2000 {
            if let Some(r) = job.poll() {
                result = Some(r);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(result, Some(Err("cancelled".to_string())));
    }
}
