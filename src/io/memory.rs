//! Sizes that come from a file or an argument, checked before anything is
//! allocated.
//!
//! The one rule: a buffer whose size a file header or a command-line
//! argument decides is first compared with what the file can hold (by the
//! caller, which knows the format) and with the memory this machine can
//! give the process ([`available_bytes`]: `MemAvailable` from
//! `/proc/meminfo`, capped by the address-space limit `RLIMIT_AS` from
//! `/proc/self/limits`). Large buffers are then allocated with
//! `try_reserve`, so a request that still fails is an error, not an abort.
//! The error names the file or argument, the size needed, the memory
//! available and how to get under it.

use crate::{Error, Result};

/// Bytes as a short human-readable size (binary units).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `MemAvailable` in bytes from the text of `/proc/meminfo`.
fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The soft "Max address space" limit in bytes from the text of
/// `/proc/self/limits` (`None` when unlimited or absent).
fn parse_as_limit(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max address space"))?;
    line.trim_start_matches("Max address space")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Memory this process can still use, bytes: the machine's available
/// memory, capped by the address-space limit (minus what is mapped now).
/// `None` where neither can be read (then only `try_reserve` guards).
pub fn available_bytes() -> Option<u64> {
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .as_deref()
        .and_then(parse_meminfo);
    let as_room = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .as_deref()
        .and_then(parse_as_limit)
        .map(|limit| {
            // Address space already mapped: VmSize in /proc/self/status.
            let used = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    let l = s.lines().find(|l| l.starts_with("VmSize:"))?.to_string();
                    l.split_whitespace().nth(1)?.parse::<u64>().ok()
                })
                .map_or(0, |kib| kib.saturating_mul(1024));
            limit.saturating_sub(used)
        });
    match (mem, as_room) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The error for `what` needing `bytes` when `available` are free.
pub fn too_large(what: &str, bytes: u64, available: Option<u64>, hint: &str) -> Error {
    Error::TooLarge {
        what: what.to_string(),
        needed: human_bytes(bytes),
        available: match available {
            Some(a) => format!("this machine has {} of memory available", human_bytes(a)),
            None => "that much memory cannot be allocated".to_string(),
        },
        hint: hint.to_string(),
    }
}

/// Refuse `bytes` for `what` (a file or argument and the buffer, e.g.
/// "raster of data.csv") when it exceeds the memory available; `hint` says
/// how to need less (a larger bin, fewer units, ...).
pub fn ensure_fits(what: &str, bytes: u64, hint: &str) -> Result<()> {
    // Small buffers are never worth a /proc read.
    if bytes < (64 << 20) {
        return Ok(());
    }
    match available_bytes() {
        Some(a) if bytes > a => Err(too_large(what, bytes, Some(a), hint)),
        _ => Ok(()),
    }
}

/// `count` elements of `elem_bytes` each, as bytes (saturating: an
/// overflow is simply "too large").
pub fn bytes_of(count: u64, elem_bytes: u64) -> u64 {
    count.saturating_mul(elem_bytes)
}

/// A zero-filled `Vec` of `len` elements after [`ensure_fits`]; the error
/// names `what` and says how to need less.
///
/// The room is first reserved fallibly (an address-space limit or an
/// absurd size ends here as an error), released, and the buffer then
/// allocated as `vec![0; len]`, which the allocator serves with lazily
/// zeroed pages (calloc): writing the zeros here would fault in every page
/// on one thread before the parallel fill touches them.
pub fn try_zeroed<T: Clone + Default>(what: &str, len: usize, hint: &str) -> Result<Vec<T>> {
    let bytes = bytes_of(len as u64, std::mem::size_of::<T>() as u64);
    ensure_fits(what, bytes, hint)?;
    let mut probe: Vec<T> = Vec::new();
    probe
        .try_reserve_exact(len)
        .map_err(|_| too_large(what, bytes, available_bytes(), hint))?;
    drop(probe);
    Ok(vec![T::default(); len])
}

/// An empty `Vec` with room for `len` elements, allocated fallibly (see
/// [`try_zeroed`]).
pub fn try_with_capacity<T>(what: &str, len: usize, hint: &str) -> Result<Vec<T>> {
    let bytes = bytes_of(len as u64, std::mem::size_of::<T>() as u64);
    ensure_fits(what, bytes, hint)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| too_large(what, bytes, available_bytes(), hint))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_parsed() {
        let meminfo =
            "MemTotal:       16000000 kB\nMemFree:         1000 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(parse_meminfo(meminfo), Some(8_000_000 * 1024));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax address space         4294967296           unlimited            bytes\n";
        assert_eq!(parse_as_limit(limits), Some(4_294_967_296));
        let unlimited =
            "Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(parse_as_limit(unlimited), None);
    }

    #[test]
    fn huge_requests_are_errors_naming_what() {
        // 2^62 bytes (2^62 / 2^40 = 2^22 = 4194304 TiB) exceeds any
        // machine's memory.
        let e = ensure_fits("raster of x.csv", 1 << 62, "use a larger bin")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("raster of x.csv")
                && e.contains("4194304.0 TiB")
                && e.contains("larger bin"),
            "{e}"
        );
        assert!(try_zeroed::<u64>("buffer", usize::MAX / 16, "less").is_err());
        assert_eq!(try_zeroed::<u8>("small", 3, "").unwrap(), vec![0, 0, 0]);
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
