//! [`Bell`]: a file descriptor an event loop watches (`loop.add_reader`),
//! rung from any thread. Ringing writes a byte only when the bell is not
//! rung already, so a burst of rings costs one system call.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// A socket pair: ring writes to one end, the loop watches the other.
pub(crate) struct Bell {
    tx: UnixStream,
    rx: UnixStream,
    rung: AtomicBool,
}

impl Bell {
    /// A silent bell (both ends non-blocking).
    pub(crate) fn new() -> io::Result<Bell> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Bell {
            tx,
            rx,
            rung: AtomicBool::new(false),
        })
    }

    /// The descriptor to watch: readable while the bell is rung.
    pub(crate) fn fd(&self) -> i32 {
        self.rx.as_raw_fd()
    }

    /// Makes the descriptor readable (a byte, unless one is there already).
    pub(crate) fn ring(&self) {
        if !self.rung.swap(true, SeqCst) {
            // A full socket buffer means the bell is rung already.
            let _ = (&self.tx).write(&[1]);
        }
    }

    /// Silences the bell. Call it *before* looking at what it announces:
    /// a ring after this point makes the descriptor readable again, so
    /// nothing announced is missed.
    pub(crate) fn clear(&self) {
        self.rung.store(false, SeqCst);
        let mut buf = [0u8; 64];
        while let Ok(n) = (&self.rx).read(&mut buf) {
            if n < buf.len() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads what is waiting on the watched end (without clearing the flag).
    fn pending(b: &Bell) -> usize {
        let mut buf = [0u8; 16];
        match (&b.rx).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => panic!("read: {e}"),
        }
    }

    #[test]
    fn a_burst_of_rings_is_one_byte_and_a_ring_after_clear_is_kept() {
        let b = Bell::new().unwrap();
        assert_eq!(pending(&b), 0, "a new bell is silent");
        b.ring();
        b.ring();
        b.ring();
        assert_eq!(pending(&b), 1, "three rings before a clear: one byte");
        b.ring();
        assert_eq!(pending(&b), 0, "still rung (not cleared): no new byte");
        b.clear();
        b.ring();
        b.clear();
        assert_eq!(pending(&b), 0, "clear reads what rang");
        b.ring();
        assert_eq!(pending(&b), 1, "a ring after a clear is seen");
    }
}
