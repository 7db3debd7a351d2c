//! NumPy `.npz` archives: a zip file of `.npy` members, as written by
//! `np.savez` (stored) and `np.savez_compressed` (deflate).
//!
//! Only what `.npz` files use is supported: the zip central directory
//! (including zip64 sizes and offsets, which NumPy forces), members stored
//! or deflated, no encryption, one disk. Members are streamed, never loaded
//! whole. Deflate comes from `flate2` (pure-Rust `miniz_oxide` backend,
//! already a dependency of the HDF5 reader), so no zip crate and no C code
//! are added.
//!
//! An archive with one `.npy` member is read as that raster; with several,
//! the member named `spikes`, `raster`, `x` or `arr_0` is used, in that
//! order of preference.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{LoadOptions, Orientation, require_orientation};
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

const PREFERRED: &[&str] = &["spikes.npy", "raster.npy", "x.npy", "arr_0.npy"];

/// One member of the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Name inside the archive.
    pub name: String,
    /// Compression method (0 stored, 8 deflate).
    method: u16,
    /// Compressed size, bytes.
    compressed: u64,
    /// Uncompressed size, bytes.
    uncompressed: u64,
    /// CRC-32 of the uncompressed bytes.
    crc32: u32,
    /// Offset of the member's local header.
    offset: u64,
}

fn u16_at(b: &[u8], k: usize) -> u16 {
    b.get(k..k + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}
fn u32_at(b: &[u8], k: usize) -> u32 {
    b.get(k..k + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
fn u64_at(b: &[u8], k: usize) -> u64 {
    b.get(k..k + 8).map_or(0, |s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

fn bad(path: &Path, problem: impl Into<String>) -> Error {
    Error::format(
        path,
        format!("not a valid .npz (zip) archive: {}", problem.into()),
    )
}

/// List the members of an archive from its central directory.
pub fn list_members(path: &Path) -> Result<Vec<Member>> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let io = |e: std::io::Error| Error::io(path, e);
    let len = f.seek(SeekFrom::End(0)).map_err(io)?;
    let tail_len = len.min(22 + 65_535);
    f.seek(SeekFrom::Start(len - tail_len)).map_err(io)?;
    let mut tail = vec![0u8; tail_len as usize];
    f.read_exact(&mut tail).map_err(io)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&k| tail[k..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| bad(path, "no end-of-central-directory record (truncated?)"))?;
    let mut entries = u64::from(u16_at(&tail, eocd + 10));
    let mut cd_size = u64::from(u32_at(&tail, eocd + 12));
    let mut cd_offset = u64::from(u32_at(&tail, eocd + 16));
    if entries == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        // Zip64: the locator sits just before the classic record.
        let loc = eocd
            .checked_sub(20)
            .filter(|&l| tail[l..].starts_with(b"PK\x06\x07"))
            .ok_or_else(|| bad(path, "zip64 locator missing"))?;
        let rec_offset = u64_at(&tail, loc + 8);
        let mut rec = [0u8; 56];
        f.seek(SeekFrom::Start(rec_offset)).map_err(io)?;
        f.read_exact(&mut rec)
            .map_err(|_| bad(path, "zip64 record truncated"))?;
        if !rec.starts_with(b"PK\x06\x06") {
            return Err(bad(path, "zip64 record signature missing"));
        }
        entries = u64_at(&rec, 32);
        cd_size = u64_at(&rec, 40);
        cd_offset = u64_at(&rec, 48);
    }
    if cd_offset.saturating_add(cd_size) > len || cd_size > (1 << 30) {
        return Err(bad(path, "central directory lies outside the file"));
    }
    let mut cd = vec![0u8; cd_size as usize];
    f.seek(SeekFrom::Start(cd_offset)).map_err(io)?;
    f.read_exact(&mut cd).map_err(io)?;
    let mut members = Vec::new();
    let mut k = 0usize;
    for _ in 0..entries {
        if !cd.get(k..).is_some_and(|s| s.starts_with(b"PK\x01\x02")) {
            return Err(bad(path, "central directory entry corrupt"));
        }
        let flags = u16_at(&cd, k + 8);
        let method = u16_at(&cd, k + 10);
        let mut compressed = u64::from(u32_at(&cd, k + 20));
        let crc32 = u32_at(&cd, k + 16);
        let uncompressed32 = u32_at(&cd, k + 24);
        let mut uncompressed = u64::from(uncompressed32);
        let name_len = usize::from(u16_at(&cd, k + 28));
        let extra_len = usize::from(u16_at(&cd, k + 30));
        let comment_len = usize::from(u16_at(&cd, k + 32));
        let mut offset = u64::from(u32_at(&cd, k + 42));
        let name_bytes = cd
            .get(k + 46..k + 46 + name_len)
            .ok_or_else(|| bad(path, "member name truncated"))?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        let extra = cd
            .get(k + 46 + name_len..k + 46 + name_len + extra_len)
            .ok_or_else(|| bad(path, "extra field truncated"))?;
        // Zip64 extended information: the 64-bit values of the fields that
        // hold 0xFFFFFFFF, in the order uncompressed, compressed, offset.
        let mut e = 0;
        while e + 4 <= extra.len() {
            let (id, size) = (u16_at(extra, e), usize::from(u16_at(extra, e + 2)));
            if id == 1 {
                let mut p = e + 4;
                if uncompressed32 == 0xFFFF_FFFF {
                    uncompressed = u64_at(extra, p);
                    p += 8;
                }
                if compressed == 0xFFFF_FFFF {
                    compressed = u64_at(extra, p);
                    p += 8;
                }
                if offset == 0xFFFF_FFFF {
                    offset = u64_at(extra, p);
                }
            }
            e += 4 + size;
        }
        if flags & 1 != 0 {
            return Err(bad(path, format!("member '{name}' is encrypted")));
        }
        members.push(Member {
            name,
            method,
            compressed,
            uncompressed,
            crc32,
            offset,
        });
        k += 46 + name_len + extra_len + comment_len;
    }
    Ok(members)
}

/// Passes a member's bytes through and checks them against the archive's
/// CRC-32 and uncompressed size when the last byte has been read (a
/// damaged byte fails the read, as NumPy refuses such an archive).
struct CrcCheck<R> {
    inner: R,
    crc: flate2::Crc,
    seen: u64,
    expected_len: u64,
    expected_crc: u32,
    verified: Rc<Cell<bool>>,
}

impl<R: Read> Read for CrcCheck<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.seen += n as u64;
        let damaged = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidData, msg);
        if self.seen > self.expected_len {
            return Err(damaged(format!(
                "the member holds more than the {} bytes the archive lists (damaged archive)",
                self.expected_len
            )));
        }
        if !self.verified.get() && (self.seen == self.expected_len || n == 0) {
            if self.seen != self.expected_len {
                return Err(damaged(format!(
                    "the member ends after {} of its {} bytes (truncated archive)",
                    self.seen, self.expected_len
                )));
            }
            if self.crc.sum() != self.expected_crc {
                return Err(damaged(format!(
                    "CRC-32 check failed (stored {:08x}, computed {:08x}): the archive is damaged",
                    self.expected_crc,
                    self.crc.sum()
                )));
            }
            self.verified.set(true);
        }
        Ok(n)
    }
}

/// A reader over one member's uncompressed bytes, checked against the
/// member's CRC-32 once read to the end (`verified` is set then).
fn open_member(path: &Path, m: &Member, verified: Rc<Cell<bool>>) -> Result<Box<dyn Read>> {
    let raw = open_member_raw(path, m)?;
    Ok(Box::new(CrcCheck {
        inner: raw,
        crc: flate2::Crc::new(),
        seen: 0,
        expected_len: m.uncompressed,
        expected_crc: m.crc32,
        verified,
    }))
}

/// A reader over one member's uncompressed bytes, unchecked.
fn open_member_raw(path: &Path, m: &Member) -> Result<Box<dyn Read>> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let io = |e: std::io::Error| Error::io(path, e);
    f.seek(SeekFrom::Start(m.offset)).map_err(io)?;
    let mut head = [0u8; 30];
    f.read_exact(&mut head)
        .map_err(|_| bad(path, format!("member '{}' truncated", m.name)))?;
    if !head.starts_with(b"PK\x03\x04") {
        return Err(bad(
            path,
            format!("member '{}': local header missing", m.name),
        ));
    }
    let skip = i64::from(u16_at(&head, 26)) + i64::from(u16_at(&head, 28));
    f.seek(SeekFrom::Current(skip)).map_err(io)?;
    let body = BufReader::new(f).take(m.compressed);
    match m.method {
        0 => Ok(Box::new(body)),
        8 => Ok(Box::new(BufReader::new(flate2::read::DeflateDecoder::new(
            body,
        )))),
        other => Err(bad(
            path,
            format!(
                "member '{}' uses compression method {other}; only stored and deflate are supported",
                m.name
            ),
        )),
    }
}

/// The member holding the raster (see the module docs).
fn choose_member(path: &Path, members: &[Member]) -> Result<Member> {
    let npys: Vec<&Member> = members
        .iter()
        .filter(|m| m.name.ends_with(".npy"))
        .collect();
    if let [only] = npys.as_slice() {
        return Ok((*only).clone());
    }
    for want in PREFERRED {
        if let Some(m) = npys.iter().find(|m| m.name == *want) {
            return Ok((*m).clone());
        }
    }
    let names: Vec<&str> = npys.iter().map(|m| m.name.as_str()).collect();
    Err(Error::format(
        path,
        if names.is_empty() {
            "the archive holds no .npy arrays".to_string()
        } else {
            format!(
                "the archive holds several arrays ({}); name the raster one of {}",
                names.join(", "),
                PREFERRED.join(", ")
            )
        },
    ))
}

/// Read the raster of an `.npz` archive; `orientation` is required (never
/// guessed; the error suggests one from the shape).
pub fn read_raster(path: &Path, orientation: Option<Orientation>) -> Result<SpikeRaster> {
    super::output::register_input(path);
    let members = list_members(path)?;
    let m = choose_member(path, &members)?;
    let label = PathBuf::from(format!("{}:{}", path.display(), m.name));
    let verified = Rc::new(Cell::new(false));
    let open = || -> Result<npyz::NpyFile<super::npy::Stream<Box<dyn Read>>>> {
        super::npy::open_stream(
            open_member(path, &m, verified.clone())?,
            &label,
            m.uncompressed,
        )
    };
    let opts = LoadOptions {
        orientation,
        ..LoadOptions::default()
    };
    let o = require_orientation(&label, &opts, || {
        Ok(open()?.shape().iter().map(|&s| s as usize).collect())
    })?;
    let raster = super::npy::read_raster_in(open()?, &label, o == Orientation::UnitsByTime)?;
    if !verified.get() {
        // The array ended before the member did: check the whole member.
        let mut r = open_member(path, &m, verified.clone())?;
        std::io::copy(&mut r, &mut std::io::sink())
            .map_err(|e| Error::format(&label, e.to_string()))?;
    }
    Ok(raster)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use npyz::WriterBuilder;
    use std::io::Write;

    /// Write a minimal zip archive of `(name, bytes)` members, stored
    /// (`deflate = false`) or deflated, with correct CRCs.
    pub(crate) fn write_zip(path: &Path, members: &[(&str, Vec<u8>)], deflate: bool) {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in members {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let body = if deflate {
                let mut enc =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(data).unwrap();
                enc.finish().unwrap()
            } else {
                data.clone()
            };
            let method: u16 = if deflate { 8 } else { 0 };
            let offset = out.len() as u32;
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&crc.sum().to_le_bytes());
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&body);
            central.extend_from_slice(b"PK\x01\x02");
            central.extend_from_slice(&20u16.to_le_bytes());
            central.extend_from_slice(&20u16.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&method.to_le_bytes());
            central.extend_from_slice(&[0; 4]);
            central.extend_from_slice(&crc.sum().to_le_bytes());
            central.extend_from_slice(&(body.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        std::fs::write(path, out).unwrap();
    }

    /// The bytes of an `.npy` file holding `data` with `shape` (C order).
    pub(crate) fn npy_bytes<T: npyz::AutoSerialize + Copy>(shape: &[u64], data: &[T]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut buf)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
        buf.into_inner()
    }

    #[test]
    fn stored_and_deflated_members() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.npz");
        // (N=2, T=3) units x time.
        let x = npy_bytes(&[2, 3], &[1u8, 0, 1, 0, 0, 1]);
        for deflate in [false, true] {
            write_zip(
                &p,
                &[
                    ("spikes.npy", x.clone()),
                    ("J.npy", npy_bytes(&[1], &[0.5f64])),
                ],
                deflate,
            );
            let r = read_raster(&p, Some(Orientation::UnitsByTime)).unwrap();
            assert_eq!(r.shape(), (1, 3, 2));
            assert_eq!(r.to_binary(), vec![1, 0, 0, 0, 1, 1]);
        }
        let e = read_raster(&p, None).unwrap_err().to_string();
        assert!(
            e.contains("r.npz:spikes.npy") && e.contains("suggests units x time"),
            "{e}"
        );
    }

    #[test]
    fn damaged_archives_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.npz");
        std::fs::write(&p, b"PK\x03\x04 not really").unwrap();
        let e = read_raster(&p, Some(Orientation::TimeByUnits))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.npz") && e.contains("end-of-central-directory"),
            "{e}"
        );
        write_zip(
            &p,
            &[
                ("a.npy", npy_bytes(&[1, 1], &[1u8])),
                ("b.npy", npy_bytes(&[1, 1], &[1u8])),
            ],
            false,
        );
        let e = read_raster(&p, Some(Orientation::TimeByUnits))
            .unwrap_err()
            .to_string();
        assert!(e.contains("several arrays (a.npy, b.npy)"), "{e}");
        write_zip(&p, &[("spikes.npy", npy_bytes(&[2, 1], &[1u8, 3]))], true);
        let e = read_raster(&p, Some(Orientation::TimeByUnits))
            .unwrap_err()
            .to_string();
        assert!(e.contains("value 3") && e.contains("bin 1, unit 0"), "{e}");
    }
}
