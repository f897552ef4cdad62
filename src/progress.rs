//! What a long command tells whoever watches it. On a terminal each long stage draws a bar with
//! its rate and time left (`indicatif`); off one (cron, CI) a stage logs a line when it starts
//! and ends and at most one progress line every few seconds between; quiet, nothing. Lines go
//! through `tracing`, so `RUST_LOG` and `--log-format json` apply to them as to every log.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Off a terminal, at most one progress line per stage this often.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Bars on standard error, a terminal.
    Bars,
    /// A log line per stage and a progress line every few seconds.
    Lines,
    /// Nothing (`--quiet`, and library callers that show their own).
    Quiet,
}

/// What a stage counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes of input.
    Bytes,
    /// Things, named in the plural, e.g. `mentions`.
    Items(&'static str),
}

/// Progress of a command: hands out one `Stage` per long stage.
#[derive(Clone)]
pub struct Progress {
    display: Display,
    bars: MultiProgress,
}

impl Progress {
    /// Bars when standard error is a terminal, lines otherwise; nothing when `quiet`.
    pub fn for_stderr(quiet: bool) -> Progress {
        use std::io::IsTerminal;
        let display = match (quiet, std::io::stderr().is_terminal()) {
            (true, _) => Display::Quiet,
            (false, true) => Display::Bars,
            (false, false) => Display::Lines,
        };
        Progress::new(display)
    }

    /// Progress shown as `display`.
    pub fn new(display: Display) -> Progress {
        let target = if display == Display::Bars { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        Progress { display, bars: MultiProgress::with_draw_target(target) }
    }

    /// Progress that shows nothing.
    pub fn hidden() -> Progress {
        Progress::new(Display::Quiet)
    }

    /// How progress is shown.
    pub fn display(&self) -> Display {
        self.display
    }

    /// A writer for log lines that lifts the bars while it writes.
    pub fn log_writer(&self) -> LogWriter {
        LogWriter { bars: self.bars.clone() }
    }

    /// A stage of `total` units starts.
    pub fn stage(&self, name: &'static str, total: u64, unit: Unit) -> Stage {
        let bar = (self.display == Display::Bars).then(|| {
            let template = match unit {
                Unit::Bytes => "{prefix:>8} [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec} {eta} left {msg}",
                Unit::Items(_) => "{prefix:>8} [{bar:32}] {human_pos}/{human_len} {percent}% {eta} left {msg}",
            };
            let style = ProgressStyle::with_template(template).expect("the templates are valid").progress_chars("=> ");
            self.bars.add(ProgressBar::new(total).with_style(style).with_prefix(name))
        });
        if self.display == Display::Lines {
            tracing::info!(stage = name, total, "{name}: started, {}", amount(total, unit));
        }
        Stage {
            inner: Arc::new(StageState {
                name,
                unit,
                lines: self.display == Display::Lines,
                bar,
                done: AtomicU64::new(0),
                total,
                started: Instant::now(),
                next_line_ms: AtomicU64::new(LINE_EVERY.as_millis() as u64),
            }),
        }
    }
}

/// Standard error for `tracing`, with the bars lifted while a line is written.
#[derive(Clone)]
pub struct LogWriter {
    bars: MultiProgress,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        self.clone()
    }
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bars.suspend(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn amount(n: u64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => format!("{:.1} MB", n as f64 / 1e6),
        Unit::Items(what) => format!("{n} {what}"),
    }
}

/// One stage's progress; cheap to clone and to tick from many threads.
#[derive(Clone)]
pub struct Stage {
    inner: Arc<StageState>,
}

struct StageState {
    name: &'static str,
    unit: Unit,
    lines: bool,
    bar: Option<ProgressBar>,
    done: AtomicU64,
    total: u64,
    started: Instant,
    /// Milliseconds since the start after which the next progress line may be logged.
    next_line_ms: AtomicU64,
}

impl Stage {
    /// A stage that shows nothing.
    pub fn hidden() -> Stage {
        Progress::hidden().stage("", 0, Unit::Items(""))
    }

    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        let s = &*self.inner;
        let done = s.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &s.bar {
            bar.inc(n);
        }
        if s.lines {
            let now = s.started.elapsed().as_millis() as u64;
            let next = s.next_line_ms.load(Ordering::Relaxed);
            // One thread wins the slot; the others go on without logging.
            if now >= next && s.next_line_ms.compare_exchange(next, now + LINE_EVERY.as_millis() as u64, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                tracing::info!(stage = s.name, done, total = s.total, "{}", self.line(done));
            }
        }
    }

    /// What the stage is at, e.g. the file being read.
    pub fn set_message(&self, message: String) {
        if let Some(bar) = &self.inner.bar {
            bar.set_message(message);
        }
    }

    /// The stage ended.
    pub fn finish(&self) {
        let s = &*self.inner;
        if let Some(bar) = &s.bar {
            bar.finish_with_message("done");
        }
        if s.lines {
            let done = s.done.load(Ordering::Relaxed);
            tracing::info!(stage = s.name, done, seconds = s.started.elapsed().as_secs_f64(), "{}: done, {} in {:.1} s", s.name, amount(done, s.unit), s.started.elapsed().as_secs_f64());
        }
    }

    /// `link: 45% (450000 of 1000000 mentions, 90000/s, 6 s left)`.
    fn line(&self, done: u64) -> String {
        let s = &*self.inner;
        let total = s.total.max(done).max(1);
        let seconds = s.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / seconds;
        let left = if rate > 0.0 { (total - done) as f64 / rate } else { f64::INFINITY };
        let rate = match s.unit {
            Unit::Bytes => format!("{:.1} MB/s", rate / 1e6),
            Unit::Items(_) => format!("{rate:.0}/s"),
        };
        format!("{}: {:.0}% ({} of {}, {rate}, {left:.0} s left)", s.name, done as f64 / total as f64 * 100.0, amount(done, s.unit), amount(total, s.unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_counts_from_every_thread_and_says_how_far_it_is() {
        let stage = Progress::new(Display::Quiet).stage("link", 100, Unit::Items("mentions"));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let stage = stage.clone();
                scope.spawn(move || (0..10).for_each(|_| stage.inc(1)));
            }
        });
        let line = stage.line(40);
        assert!(line.starts_with("link: 40% (40 mentions of 100 mentions,"), "{line}");
        assert_eq!(stage.inner.done.load(Ordering::Relaxed), 40);
        stage.finish();
    }
}
