//! Sharding per-neuron fits across processes or cluster nodes.
//!
//! The exact maximum-likelihood fit ([`crate::fit::ml`]) and the
//! state-space EM ([`crate::state_space`]) are separable by receiving
//! neuron: neuron i's parameters depend on the whole raster but on no other
//! neuron's parameters, and both solvers stop per neuron. A shard fits the
//! receiving neurons `A ≤ i < B` and writes their rows plus a
//! [`ShardManifest`]; a merge checks that the shards agree (same raster
//! content, same options, same program version, same CPU kernel) and cover
//! `0..N` exactly once, then writes what a single run writes, byte for byte.
//!
//! The manifest is written last and atomically (temporary file + rename),
//! so a shard that was killed never leaves a complete-looking manifest.

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// File name of a shard's manifest inside its output folder.
pub const MANIFEST: &str = "shard_manifest.ron";

/// What a shard ran and on what; written last by the shard.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardManifest {
    /// Always "isingscope".
    pub program: String,
    /// The program version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// Which fit: `"fit-ml"` or `"state-space"`.
    pub command: String,
    /// The raster file as given to the shard (made absolute).
    pub raster: PathBuf,
    /// SHA-256 of the raster file's bytes, lower-case hex.
    pub raster_sha256: String,
    /// Number of units N of the raster.
    pub n_units: usize,
    /// Every option that affects the result, by name (values as text).
    pub options: BTreeMap<String, String>,
    /// Receiving neurons fitted, `[start, end)`.
    pub neurons: (usize, usize),
    /// Output files of the shard (names inside its folder).
    pub files: Vec<String>,
}

impl ShardManifest {
    /// The receiving-neuron range.
    pub fn range(&self) -> Range<usize> {
        self.neurons.0..self.neurons.1
    }

    /// Write `dir/`[`MANIFEST`] atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST);
        let text = ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
            .map_err(|e| Error::format(&path, format!("cannot serialise the manifest: {e}")))?;
        crate::io::output::write_bytes(&path, text.as_bytes())
    }

    /// Read `dir/`[`MANIFEST`]; `Ok(None)` when it does not exist (a shard
    /// that has not finished or was killed).
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let m: Self = ron::from_str(&text)
            .map_err(|e| Error::format(&path, format!("not a shard manifest: {e}")))?;
        if m.program != "isingscope" {
            return Err(Error::format(&path, "not an isingscope shard manifest"));
        }
        Ok(Some(m))
    }

    /// Whether `other` comes from the same raster, command, version and
    /// options; `Err` names the first difference.
    pub fn check_compatible(&self, other: &Self) -> std::result::Result<(), String> {
        if self.command != other.command {
            return Err(format!("command {} vs {}", self.command, other.command));
        }
        if self.raster_sha256 != other.raster_sha256 || self.n_units != other.n_units {
            return Err(format!(
                "a different raster (SHA-256 {}… of {} vs {}… of {})",
                &self.raster_sha256[..self.raster_sha256.len().min(12)],
                self.raster.display(),
                &other.raster_sha256[..other.raster_sha256.len().min(12)],
                other.raster.display()
            ));
        }
        if self.version != other.version {
            return Err(format!(
                "program version {} vs {}",
                self.version, other.version
            ));
        }
        let keys: std::collections::BTreeSet<&String> =
            self.options.keys().chain(other.options.keys()).collect();
        let diff: Vec<String> = keys
            .into_iter()
            .filter(|k| self.options.get(*k) != other.options.get(*k))
            .map(|k| {
                format!(
                    "{k} = {} vs {}",
                    self.options.get(k).map_or("(unset)", String::as_str),
                    other.options.get(k).map_or("(unset)", String::as_str)
                )
            })
            .collect();
        if !diff.is_empty() {
            return Err(format!("different options: {}", diff.join(", ")));
        }
        Ok(())
    }
}

/// The CPU kernel the numeric inner loops dispatch to on this machine. The
/// AVX2+FMA and generic builds round differently, so shards run on
/// different CPU kinds would not merge into the single-run bits; the
/// manifest records it as an option.
pub fn cpu_kernel() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "x86_64 avx2+fma".into();
        }
        "x86_64 generic".into()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        format!("{} generic", std::env::consts::ARCH)
    }
}

/// `k`-th of `k_total` contiguous ranges of `0..costs.len()` with nearly
/// equal total cost: range k ends at the first index where the prefix sum
/// of costs reaches `(k+1)/K` of the total. Every range is non-empty (needs
/// `1 ≤ K ≤ N`, `k < K`, costs ≥ 0 finite).
pub fn balanced_range(costs: &[f64], k: usize, k_total: usize) -> Result<Range<usize>> {
    let n = costs.len();
    if k_total == 0 || k_total > n {
        return Err(Error::param(
            "shards",
            k_total,
            format!("need between 1 and the number of neurons ({n}) shards"),
        ));
    }
    if k >= k_total {
        return Err(Error::param(
            "shard",
            format!("{k}/{k_total}"),
            format!("the shard index counts from 0 and must be below {k_total}"),
        ));
    }
    if costs.iter().any(|c| !(c.is_finite() && *c >= 0.0)) {
        return Err(Error::param(
            "costs",
            "?",
            "shard costs must be finite and >= 0",
        ));
    }
    let total: f64 = costs.iter().sum();
    let mut bounds = vec![0usize; k_total + 1];
    bounds[k_total] = n;
    let mut acc = 0.0;
    let mut i = 0;
    for (b, bound) in bounds.iter_mut().enumerate().take(k_total).skip(1) {
        let target = total * b as f64 / k_total as f64;
        while i < n && acc + 0.5 * costs[i] < target {
            acc += costs[i];
            i += 1;
        }
        *bound = i;
    }
    // Non-empty ranges: at least one neuron before each cut and enough left
    // after it for the remaining shards.
    for b in 1..k_total {
        let lo = bounds[b - 1] + 1;
        let hi = n - (k_total - b);
        bounds[b] = bounds[b].clamp(lo, hi);
    }
    Ok(bounds[k]..bounds[k + 1])
}

/// Gaps and overlaps of a set of ranges against `0..n`: the neurons not
/// covered (as ranges) and the neurons covered more than once (as ranges).
pub fn coverage(ranges: &[Range<usize>], n: usize) -> (Vec<Range<usize>>, Vec<Range<usize>>) {
    let mut count = vec![0u32; n];
    for r in ranges {
        for c in &mut count[r.start.min(n)..r.end.min(n)] {
            *c += 1;
        }
    }
    let runs = |pred: &dyn Fn(u32) -> bool| {
        let mut out: Vec<Range<usize>> = Vec::new();
        for (i, &c) in count.iter().enumerate() {
            if pred(c) {
                match out.last_mut() {
                    Some(r) if r.end == i => r.end = i + 1,
                    _ => out.push(i..i + 1),
                }
            }
        }
        out
    };
    (runs(&|c| c == 0), runs(&|c| c > 1))
}

/// Format ranges as `A..B, C..D` for messages.
pub fn format_ranges(rs: &[Range<usize>]) -> String {
    rs.iter()
        .map(|r| format!("{}..{}", r.start, r.end))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parse `A..B` (receiving neurons `A ≤ i < B`).
pub fn parse_range(s: &str) -> Result<Range<usize>> {
    let bad = || {
        Error::param(
            "neurons",
            s,
            "expected A..B with whole numbers A < B (neurons A <= i < B)",
        )
    };
    let (a, b) = s.trim().split_once("..").ok_or_else(bad)?;
    let a: usize = a.trim().parse().map_err(|_| bad())?;
    let b: usize = b.trim().parse().map_err(|_| bad())?;
    if a >= b {
        return Err(bad());
    }
    Ok(a..b)
}

/// Parse `k/K` (the k-th of K shards, k counted from 0).
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || {
        Error::param(
            "shard",
            s,
            "expected k/K with whole numbers 0 <= k < K (k counts from 0, as SLURM_ARRAY_TASK_ID with --array=0-(K-1))",
        )
    };
    let (k, kk) = s.trim().split_once('/').ok_or_else(bad)?;
    let k: usize = k.trim().parse().map_err(|_| bad())?;
    let kk: usize = kk.trim().parse().map_err(|_| bad())?;
    if kk == 0 || k >= kk {
        return Err(bad());
    }
    Ok((k, kk))
}

/// SHA-256 of a file's bytes, lower-case hex (FIPS 180-4; streamed).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let k = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
    }
    Ok(h.hex())
}

/// A small streaming SHA-256 (FIPS 180-4), enough to name a raster's
/// content; not constant-time, not for secrets.
pub struct Sha256 {
    state: [u32; 8],
    block: [u8; 64],
    fill: usize,
    len: u64,
}

const K256: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    /// The initial state.
    pub fn new() -> Self {
        Self {
            state: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            block: [0; 64],
            fill: 0,
            len: 0,
        }
    }

    /// Absorb bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        while !data.is_empty() {
            let take = (64 - self.fill).min(data.len());
            self.block[self.fill..self.fill + take].copy_from_slice(&data[..take]);
            self.fill += take;
            data = &data[take..];
            if self.fill == 64 {
                let b = self.block;
                self.compress(&b);
                self.fill = 0;
            }
        }
    }

    fn compress(&mut self, b: &[u8; 64]) {
        let mut w = [0u32; 64];
        for (t, c) in b.chunks_exact(4).enumerate() {
            w[t] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for t in 16..64 {
            let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
            let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16]
                .wrapping_add(s0)
                .wrapping_add(w[t - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut bb, mut c, mut d, mut e, mut f, mut g, mut h] = self.state;
        for t in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = h
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K256[t])
                .wrapping_add(w[t]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & bb) ^ (a & c) ^ (bb & c);
            let t2 = s0.wrapping_add(maj);
            h = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = bb;
            bb = a;
            a = t1.wrapping_add(t2);
        }
        for (s, v) in self.state.iter_mut().zip([a, bb, c, d, e, f, g, h]) {
            *s = s.wrapping_add(v);
        }
    }

    /// Finish and return the digest as lower-case hex.
    pub fn hex(mut self) -> String {
        let bits = self.len.wrapping_mul(8);
        self.update(&[0x80]);
        while self.fill != 56 {
            self.update(&[0]);
        }
        let mut b = self.block;
        b[56..].copy_from_slice(&bits.to_be_bytes());
        self.compress(&b);
        self.state.iter().map(|v| format!("{v:08x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(s: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(s);
        h.hex()
    }

    #[test]
    fn sha256_known_vectors() {
        // FIPS 180-4 examples (one block, two blocks) and the empty string.
        assert_eq!(
            sha(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        // Streaming in odd pieces gives the same digest.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut h = Sha256::new();
        for c in data.chunks(37) {
            h.update(c);
        }
        assert_eq!(h.hex(), sha(&data));
    }

    #[test]
    fn balanced_ranges_cover_and_balance() {
        for n in [1usize, 2, 7, 10, 13] {
            for kk in 1..=n {
                let costs = vec![1.0; n];
                let rs: Vec<_> = (0..kk)
                    .map(|k| balanced_range(&costs, k, kk).unwrap())
                    .collect();
                let (missing, overlap) = coverage(&rs, n);
                assert!(missing.is_empty() && overlap.is_empty(), "{n} {kk} {rs:?}");
                // Equal costs: sizes differ by at most one.
                let sizes: Vec<usize> = rs.iter().map(|r| r.len()).collect();
                let (mn, mx) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(mx - mn <= 1 && *mn >= 1, "{n} {kk} {sizes:?}");
            }
        }
        // Unequal costs: the heavy neuron gets a shard of its own.
        let costs = [10.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        assert_eq!(balanced_range(&costs, 0, 2).unwrap(), 0..1);
        assert_eq!(balanced_range(&costs, 1, 2).unwrap(), 1..11);
        assert!(balanced_range(&costs, 2, 2).is_err());
        assert!(balanced_range(&costs, 0, 12).is_err());
    }

    #[test]
    fn coverage_reports_gaps_and_overlaps() {
        let (m, o) = coverage(&[0..3, 5..8, 2..4], 10);
        assert_eq!(m, vec![4..5, 8..10]);
        assert_eq!(o, vec![2..3]);
        assert_eq!(format_ranges(&m), "4..5, 8..10");
    }

    #[test]
    fn parse_range_and_shard() {
        assert_eq!(parse_range("3..7").unwrap(), 3..7);
        assert!(parse_range("7..3").is_err());
        assert!(parse_range("3-7").is_err());
        assert_eq!(parse_shard("2/5").unwrap(), (2, 5));
        assert!(parse_shard("5/5").is_err());
        assert!(parse_shard("1/0").is_err());
    }
}
