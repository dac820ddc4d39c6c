//! Log lines written per thread in batches: one `write` per batch instead of one per line.
//!
//! Under load the access log's `write(2)` of each line cost more kernel time than the rest of
//! the line (bench/profile-notes.md, issue 14). A thread that runs the runtime collects its
//! lines and writes them when it is about to sleep ([`flush_thread`], the runtime's park
//! hook), when it has 16 KiB of them, and when it ends. So a line is out before its thread
//! waits for anything, as soon as unbuffered under light load, and under load many lines go in
//! one call. A thread is buffered only once the park hook has run on it, so other threads
//! (the blocking pool's, the main thread before the runtime) still write each line at once.

use std::cell::RefCell;

/// Lines kept per thread before they are written even though the thread is busy.
const FULL: usize = 16 * 1024;

/// One thread's lines not written yet, for stderr and stdout.
#[derive(Default)]
struct Batch {
    /// The park hook has run here: lines wait for it.
    on: bool,
    stderr: Vec<u8>,
    stdout: Vec<u8>,
}

thread_local! {
    static BATCH: RefCell<Batch> = RefCell::new(Batch::default());
}

/// Write `parts` (one line, its prefix first) to stdout or stderr: kept with this thread's
/// lines when it is buffered, written at once otherwise.
pub fn write(stdout: bool, parts: &[&[u8]]) -> std::io::Result<()> {
    let kept = append(stdout, b"", |out| {
        for part in parts {
            out.extend_from_slice(part);
        }
    });
    if kept {
        return Ok(());
    }
    emit(stdout, &parts.concat())
}

/// Write one line (`prefix`, a space when there is one, then what `line` appends) straight
/// into this thread's kept lines, without building it elsewhere first. False when this
/// thread is not buffered (then `line` was not called: the caller writes the line itself).
pub fn append(stdout: bool, prefix: &[u8], line: impl FnOnce(&mut Vec<u8>)) -> bool {
    let kept = BATCH.try_with(|cell| {
        let Ok(mut batch) = cell.try_borrow_mut() else {
            return false;
        };
        if !batch.on {
            return false;
        }
        let out = if stdout {
            &mut batch.stdout
        } else {
            &mut batch.stderr
        };
        if !prefix.is_empty() {
            out.extend_from_slice(prefix);
            out.push(b' ');
        }
        line(out);
        if out.len() >= FULL {
            send(stdout, out);
        }
        true
    });
    kept == Ok(true)
}

/// Write this thread's kept lines, and keep its next ones until the next call: the runtime's
/// park hook (`on_thread_park`), and the end of `run` on the thread that ran it.
pub fn flush_thread() {
    let _ = BATCH.try_with(|cell| {
        if let Ok(mut batch) = cell.try_borrow_mut() {
            batch.on = true;
            batch.flush();
        }
    });
}

/// Write `out` and empty it (a failed write loses the lines, as an unbuffered one would).
fn send(stdout: bool, out: &mut Vec<u8>) {
    if out.is_empty() {
        return;
    }
    let _ = emit(stdout, out);
    out.clear();
    // A burst of long lines does not keep its memory on an idle thread.
    if out.capacity() > 4 * FULL {
        out.shrink_to(FULL);
    }
}

/// One `write` of `bytes` to stdout or stderr.
#[cfg(not(test))]
fn emit(stdout: bool, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if stdout {
        std::io::stdout().lock().write_all(bytes)
    } else {
        std::io::stderr().lock().write_all(bytes)
    }
}

/// The tests' stdout and stderr: each write, as it was made (a global: a thread's last write
/// happens while its thread-locals are destroyed).
#[cfg(test)]
static SENT: std::sync::Mutex<Vec<(bool, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());

/// The tests' `emit`: recorded, so that they can count the writes.
#[cfg(test)]
fn emit(stdout: bool, bytes: &[u8]) -> std::io::Result<()> {
    SENT.lock().unwrap().push((stdout, bytes.to_vec()));
    Ok(())
}

// === impl Batch ===

impl Batch {
    fn flush(&mut self) {
        send(false, &mut self.stderr);
        send(true, &mut self.stdout);
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // A worker thread's last lines, when the runtime shuts down.
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writes made so far whose bytes start with `tag` (taken): each test has its own.
    fn sent(tag: &[u8]) -> Vec<(bool, Vec<u8>)> {
        let mut all = SENT.lock().unwrap();
        let (mine, others) = all.drain(..).partition(|(_, b)| b.starts_with(tag));
        *all = others;
        mine
    }

    #[test]
    fn lines_wait_only_on_a_thread_the_park_hook_has_run_on() {
        std::thread::spawn(|| {
            // Not a runtime thread yet: each line written at once.
            write(false, &[b"prefix ", b"line 1\n"]).unwrap();
            assert_eq!(sent(b"prefix"), [(false, b"prefix line 1\n".to_vec())]);
            flush_thread();
            write(false, &[b"prefix ", b"line 2\n"]).unwrap();
            write(false, &[b"line 3\n"]).unwrap();
            write(true, &[b"prefix out\n"]).unwrap();
            assert!(sent(b"prefix").is_empty());
            // The hook: one write per stream, the lines in their order.
            flush_thread();
            assert_eq!(
                sent(b"prefix"),
                [
                    (false, b"prefix line 2\nline 3\n".to_vec()),
                    (true, b"prefix out\n".to_vec())
                ]
            );
            flush_thread();
            assert!(sent(b"prefix").is_empty());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_full_batch_is_written_without_waiting_for_the_hook() {
        std::thread::spawn(|| {
            flush_thread();
            let line = [b'x'; 1000];
            for _ in 0..FULL / 1000 {
                write(true, &[&line]).unwrap();
            }
            assert!(sent(b"x").is_empty());
            write(true, &[&line]).unwrap();
            let writes = sent(b"x");
            assert_eq!(writes.len(), 1);
            assert_eq!(writes[0].1.len(), (FULL / 1000 + 1) * 1000);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn appended_lines_are_kept_as_written_ones_are() {
        std::thread::spawn(|| {
            // Not buffered: nothing appended, the caller writes.
            assert!(!append(false, b"appended", |_| panic!("not buffered")));
            flush_thread();
            write(false, &[b"appended ", b"1\n"]).unwrap();
            assert!(append(false, b"appended", |out| out.extend_from_slice(b"2\n")));
            assert!(append(false, b"", |out| out.extend_from_slice(b"appended 3\n")));
            assert!(sent(b"appended").is_empty());
            flush_thread();
            assert_eq!(
                sent(b"appended"),
                [(false, b"appended 1\nappended 2\nappended 3\n".to_vec())]
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_writes_its_kept_lines_when_it_ends() {
        std::thread::spawn(|| {
            flush_thread();
            write(false, &[b"last\n"]).unwrap();
            assert!(sent(b"last").is_empty());
        })
        .join()
        .unwrap();
        assert_eq!(sent(b"last"), [(false, b"last\n".to_vec())]);
    }
}
