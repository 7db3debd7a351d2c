//! NumPy `.npy` files: binary rasters and float arrays.
//!
//! A raster file holds a 2-D `(T, N)` or 3-D `(R, T, N)` array of 0/1 or ±1
//! values in any bool, integer or float dtype, in C or Fortran order. Values
//! other than 0, 1 and −1 (and a mix of 0 and −1) are errors naming their
//! position. Rasters are written as `(R, T, N)` uint8 0/1 in C order.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use npyz::{DType, NpyFile, Order, TypeChar, WriterBuilder};

use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Header facts of an `.npy` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyInfo {
    /// Shape as stored.
    pub shape: Vec<usize>,
    /// True for Fortran (column-major) order.
    pub fortran_order: bool,
    /// NumPy type string, e.g. `<u1`.
    pub dtype: String,
}

/// The reader npyz gets: the prefix already read for validation, then the
/// rest of the stream.
pub(crate) type Stream<R> = std::io::Chain<std::io::Cursor<Vec<u8>>, R>;

/// Largest `.npy` header accepted. NumPy writes headers of a few hundred
/// bytes (version 2 exists for structured dtypes beyond 64 KiB); a length
/// field of megabytes is damage, and npyz would allocate it before parsing.
const MAX_HEADER_BYTES: u64 = 1 << 20;

/// Validate the fixed prefix of an `.npy` stream of `total` bytes (magic,
/// version, header length) before npyz reads it, and return the offset of
/// the array data.
fn check_prefix(path: &Path, head: &[u8], total: u64) -> Result<u64> {
    if head.len() < 10 || !head.starts_with(b"\x93NUMPY") {
        return Err(Error::format(
            path,
            "not a valid .npy file: the NumPy magic string is missing (is it another format?)",
        ));
    }
    let (major, minor) = (head[6], head[7]);
    let (header_len, prefix) = match major {
        1 => (u64::from(u16::from_le_bytes([head[8], head[9]])), 10u64),
        2 | 3 if head.len() >= 12 => (
            u64::from(u32::from_le_bytes([head[8], head[9], head[10], head[11]])),
            12,
        ),
        2 | 3 => {
            return Err(Error::format(
                path,
                "not a valid .npy file: truncated header",
            ));
        }
        v => {
            return Err(Error::format(
                path,
                format!("not a valid .npy file: unknown format version {v}.{minor}"),
            ));
        }
    };
    if header_len > MAX_HEADER_BYTES || prefix + header_len > total {
        return Err(Error::format(
            path,
            format!(
                "not a valid .npy file: the header length field says {header_len} bytes, but the array holds {total} bytes in all (damaged header)"
            ),
        ));
    }
    Ok(prefix + header_len)
}

/// npyz's header errors as one line (its parse errors draw a multi-line
/// diagram of the header).
fn header_error(path: &Path, e: &std::io::Error) -> Error {
    let text = e.to_string();
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unreadable header");
    Error::format(path, format!("not a valid .npy file: {first}"))
}

/// Open an `.npy` stream of `total` bytes: validate the prefix, parse the
/// header with npyz, and check that the shape's data fit in the stream.
pub(crate) fn open_stream<R: Read>(
    mut r: R,
    path: &Path,
    total: u64,
) -> Result<NpyFile<Stream<R>>> {
    let mut head = Vec::with_capacity(12);
    (&mut r)
        .take(12)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    let data_start = check_prefix(path, &head, total)?;
    let npy =
        NpyFile::new(std::io::Cursor::new(head).chain(r)).map_err(|e| header_error(path, &e))?;
    let elem = match npy.dtype() {
        DType::Plain(ts) => ts.size_field(),
        _ => 1,
    };
    let elements = npy
        .shape()
        .iter()
        .try_fold(1u64, |acc, &s| acc.checked_mul(s));
    let room = total - data_start;
    match elements.and_then(|n| n.checked_mul(elem)) {
        Some(bytes) if bytes <= room => Ok(npy),
        _ => Err(Error::format(
            path,
            format!(
                "the header's shape {:?} needs more data than the {room} bytes that follow it (truncated file or damaged header)",
                npy.shape()
            ),
        )),
    }
}

fn open(path: &Path) -> Result<NpyFile<Stream<BufReader<File>>>> {
    super::output::register_input(path);
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let total = f.metadata().map_err(|e| Error::io(path, e))?.len();
    open_stream(BufReader::new(f), path, total)
}

/// Read every element as `f64` in file order and pass it with its flat
/// position to `f`. Supports bool, (u)int8–64 and float32/64.
fn for_each_value(path: &Path, f: impl FnMut(usize, f64) -> Result<()>) -> Result<NpyInfo> {
    for_each_value_in(open(path)?, path, f)
}

/// [`for_each_value`] on an already opened array (`path` names it in errors).
fn for_each_value_in<R: std::io::Read>(
    npy: NpyFile<R>,
    path: &Path,
    mut f: impl FnMut(usize, f64) -> Result<()>,
) -> Result<NpyInfo> {
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let fortran_order = npy.order() == Order::Fortran;
    let dtype = npy.dtype();
    let DType::Plain(ts) = &dtype else {
        return Err(Error::format(
            path,
            "structured (record) arrays are not supported; save a plain numeric array",
        ));
    };
    let info = NpyInfo {
        shape,
        fortran_order,
        dtype: ts.to_string(),
    };
    let bad = |e: std::io::Error| Error::format(path, format!("reading array data: {e}"));
    macro_rules! run {
        ($t:ty) => {{
            let data = npy
                .data::<$t>()
                .map_err(|e| Error::format(path, format!("dtype: {e}")))?;
            for (k, v) in data.enumerate() {
                f(k, v.map_err(bad)? as f64)?;
            }
        }};
    }
    match (ts.type_char(), ts.size_field()) {
        (TypeChar::Bool, 1) => {
            let data = npy
                .data::<bool>()
                .map_err(|e| Error::format(path, format!("dtype: {e}")))?;
            for (k, v) in data.enumerate() {
                f(k, if v.map_err(bad)? { 1.0 } else { 0.0 })?;
            }
        }
        (TypeChar::Int, 1) => run!(i8),
        (TypeChar::Int, 2) => run!(i16),
        (TypeChar::Int, 4) => run!(i32),
        (TypeChar::Int, 8) => run!(i64),
        (TypeChar::Uint, 1) => run!(u8),
        (TypeChar::Uint, 2) => run!(u16),
        (TypeChar::Uint, 4) => run!(u32),
        (TypeChar::Uint, 8) => run!(u64),
        (TypeChar::Float, 4) => run!(f32),
        (TypeChar::Float, 8) => run!(f64),
        _ => {
            return Err(Error::format(
                path,
                format!("unsupported dtype '{ts}': use bool, an integer type or float32/float64"),
            ));
        }
    }
    Ok(info)
}

/// Read only the header of an `.npy` file.
pub fn read_info(path: &Path) -> Result<NpyInfo> {
    let npy = open(path)?;
    Ok(NpyInfo {
        shape: npy.shape().iter().map(|&s| s as usize).collect(),
        fortran_order: npy.order() == Order::Fortran,
        dtype: match npy.dtype() {
            DType::Plain(ts) => ts.to_string(),
            _ => "a structured (record) dtype".to_string(),
        },
    })
}

/// Map a flat file-order index to the C-order index of the same element.
fn c_index(k: usize, shape: &[usize], fortran: bool) -> usize {
    if !fortran {
        return k;
    }
    // Fortran order: the first axis varies fastest.
    let mut rem = k;
    let mut idx = vec![0; shape.len()];
    for (d, &s) in shape.iter().enumerate() {
        idx[d] = rem % s.max(1);
        rem /= s.max(1);
    }
    idx.iter().zip(shape).fold(0, |acc, (&i, &s)| acc * s + i)
}

/// Read a binary raster from `(T, N)` (one trial) or `(R, T, N)`.
///
/// Values must be 0/1 or −1/+1 (a file may not mix 0 and −1).
pub fn read_raster(path: &Path) -> Result<SpikeRaster> {
    read_raster_oriented(path, false)
}

/// Read a binary raster stored as `(T, N)`/`(R, T, N)` (`units_first =
/// false`) or as `(N, T)`/`(R, N, T)` (`units_first = true`); the result is
/// always `(R, T, N)`. Values as for [`read_raster`].
pub fn read_raster_oriented(path: &Path, units_first: bool) -> Result<SpikeRaster> {
    read_raster_in(open(path)?, path, units_first)
}

/// [`read_raster_oriented`] on an already opened array (e.g. an NPZ member;
/// `path` names it in errors).
pub(crate) fn read_raster_in<R: std::io::Read>(
    npy: NpyFile<R>,
    path: &Path,
    units_first: bool,
) -> Result<SpikeRaster> {
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let fortran = npy.order() == Order::Fortran;
    let (r, a, b) = match shape.as_slice() {
        [a, b] => (1, *a, *b),
        [r, a, b] => (*r, *a, *b),
        other => {
            return Err(Error::format(
                path,
                format!(
                    "a raster must have shape (T, N) or (R, T, N); this array has shape {other:?}"
                ),
            ));
        }
    };
    let (t, n) = if units_first { (b, a) } else { (a, b) };
    // A damaged header can claim any shape: refuse sizes that overflow or
    // exceed the raster limit before allocating.
    let words = r
        .checked_mul(t)
        .and_then(|rt| rt.checked_mul(n.div_ceil(64)))
        .filter(|&w| (w as u64).saturating_mul(8) <= crate::io::binning::MAX_RASTER_BYTES);
    let Some(words) = words else {
        return Err(Error::format(
            path,
            format!(
                "shape {shape:?} is too large for a raster (limit {} GiB packed)",
                crate::io::binning::MAX_RASTER_BYTES >> 30
            ),
        ));
    };
    if r * t * n == 0 {
        return Err(Error::format(
            path,
            format!("the raster is empty (shape {shape:?})"),
        ));
    }
    crate::io::memory::ensure_fits(
        &format!("raster of {}", path.display()),
        words as u64 * 8,
        "split the recording or select fewer trials or units before saving it",
    )?;
    let mut raster = SpikeRaster::zeros(r, t, n)?;
    // Position (trial, bin, unit) of the element at C-order index `c`.
    let locate = |c: usize| {
        let (inner, outer) = (c % (a * b), c / (a * b));
        if units_first {
            (outer, inner % t, inner / t)
        } else {
            (outer, inner / n, inner % n)
        }
    };
    let (mut seen_zero, mut seen_minus) = (None::<usize>, None::<usize>);
    let describe = |c: usize| {
        let (tr, bin, unit) = locate(c);
        format!("trial {tr}, bin {bin}, unit {unit}")
    };
    let shape_c = shape.clone();
    for_each_value_in(npy, path, |k, v| {
        let c = c_index(k, &shape_c, fortran);
        let active = if v == 1.0 {
            true
        } else if v == 0.0 {
            seen_zero.get_or_insert(c);
            false
        } else if v == -1.0 {
            seen_minus.get_or_insert(c);
            false
        } else {
            return Err(Error::format(
                path,
                format!(
                    "value {v} at {}: a raster may hold only 0/1 or -1/+1",
                    describe(c)
                ),
            ));
        };
        if let (Some(z), Some(m)) = (seen_zero, seen_minus) {
            return Err(Error::format(
                path,
                format!(
                    "the raster mixes 0 ({}) and -1 ({}): use 0/1 or -1/+1, not both",
                    describe(z),
                    describe(m)
                ),
            ));
        }
        if active {
            let (tr, bin, unit) = locate(c);
            raster.set(tr, bin, unit, true);
        }
        Ok(())
    })?;
    Ok(raster)
}

/// Read a 1-D integer array such as Kilosort's `spike_times.npy`: shape
/// `(n,)`, `(n, 1)` or `(1, n)` (C or Fortran order, which coincide for
/// these shapes), any integer dtype, or a float dtype holding whole numbers.
pub fn read_index_vector(path: &Path) -> Result<Vec<i64>> {
    let npy = open(path)?;
    let shape: Vec<u64> = npy.shape().to_vec();
    let len = match shape.as_slice() {
        [n] | [n, 1] | [1, n] => *n as usize,
        other => {
            return Err(Error::format(
                path,
                format!("expected a vector of shape (n,) or (n, 1); found shape {other:?}"),
            ));
        }
    };
    let dtype = npy.dtype();
    let DType::Plain(ts) = &dtype else {
        return Err(Error::format(path, "expected a plain integer array"));
    };
    // `open` checked that the header's length fits the file.
    let bad = |e: std::io::Error| Error::format(path, format!("reading array data: {e}"));
    let dt = |e: npyz::DTypeError| Error::format(path, format!("dtype: {e}"));
    let hint = "the file is larger than this machine's memory";
    let what = format!("spike index vector of {}", path.display());
    let mut out = crate::io::memory::try_with_capacity::<i64>(&what, len, hint)?;
    // Integers: read the data bytes in one go and decode them in place —
    // an order of magnitude faster than element-wise reads for the 10^7
    // spikes of a long Kilosort recording.
    let big_endian = ts.endianness() == npyz::Endianness::Big;
    macro_rules! ints {
        ($t:ty) => {{
            const SIZE: usize = std::mem::size_of::<$t>();
            let mut raw = crate::io::memory::try_with_capacity::<u8>(&what, len * SIZE, hint)?;
            npy.into_inner()
                .take((len * SIZE) as u64)
                .read_to_end(&mut raw)
                .map_err(bad)?;
            if raw.len() != len * SIZE {
                return Err(Error::format(
                    path,
                    format!(
                        "the file is truncated: {len} elements need {} data bytes, found {}",
                        len * SIZE,
                        raw.len()
                    ),
                ));
            }
            for (k, c) in raw.chunks_exact(SIZE).enumerate() {
                let mut a = [0u8; SIZE];
                a.copy_from_slice(c);
                let v = if big_endian {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                };
                out.push(i64::try_from(v).map_err(|_| {
                    Error::format(
                        path,
                        format!("element {k}: {v} does not fit a 64-bit signed integer"),
                    )
                })?);
            }
        }};
    }
    macro_rules! floats {
        ($t:ty) => {{
            for (k, v) in npy.data::<$t>().map_err(dt)?.enumerate() {
                let v = v.map_err(bad)? as f64;
                if !v.is_finite() || v.fract() != 0.0 || v.abs() > 9.0e15 {
                    return Err(Error::format(
                        path,
                        format!("element {k}: {v} is not a whole number (sample index)"),
                    ));
                }
                out.push(v as i64);
            }
        }};
    }
    match (ts.type_char(), ts.size_field()) {
        (TypeChar::Int, 1) => ints!(i8),
        (TypeChar::Int, 2) => ints!(i16),
        (TypeChar::Int, 4) => ints!(i32),
        (TypeChar::Int, 8) => ints!(i64),
        (TypeChar::Uint, 1) => ints!(u8),
        (TypeChar::Uint, 2) => ints!(u16),
        (TypeChar::Uint, 4) => ints!(u32),
        (TypeChar::Uint, 8) => ints!(u64),
        (TypeChar::Float, 4) => floats!(f32),
        (TypeChar::Float, 8) => floats!(f64),
        _ => {
            return Err(Error::format(
                path,
                format!("unsupported dtype '{ts}': expected integers"),
            ));
        }
    }
    Ok(out)
}

/// Write a raster as `(R, T, N)` uint8 0/1, C order (atomically, never
/// over an input: [`super::output::write_atomic`]).
pub fn write_raster(path: &Path, raster: &SpikeRaster) -> Result<()> {
    let (r, t, n) = raster.shape();
    super::output::write_atomic(path, |out| {
        let mut w = npyz::WriteOptions::<u8>::new()
            .default_dtype()
            .shape(&[r as u64, t as u64, n as u64])
            .writer(out)
            .begin_nd()?;
        let mut row = vec![0u8; n];
        for tr in 0..r {
            for b in 0..t {
                let words = raster.row(tr, b);
                for (i, x) in row.iter_mut().enumerate() {
                    *x = ((words[i / 64] >> (i % 64)) & 1) as u8;
                }
                w.extend(row.iter().copied())?;
            }
        }
        w.finish()
    })
}

/// Write an `f64` array of any shape (C order; atomically, never over an
/// input).
pub fn write_f64(path: &Path, shape: &[usize], data: &[f64]) -> Result<()> {
    let expected: usize = shape.iter().product();
    if expected != data.len() {
        return Err(Error::shape(
            format!("array for {}", path.display()),
            format!("{expected} values for shape {shape:?}"),
            format!("{} values", data.len()),
        ));
    }
    let shape64: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    super::output::write_atomic(path, |out| {
        let mut w = npyz::WriteOptions::<f64>::new()
            .default_dtype()
            .shape(&shape64)
            .writer(out)
            .begin_nd()?;
        w.extend(data.iter().copied())?;
        w.finish()
    })
}

/// Write an `f64` array of `shape` (C order) whose values `fill` produces
/// in order, without holding them all in memory. Goes through the atomic
/// output writer (temporary file + rename, never over an input). `fill`
/// must push exactly `shape.iter().product()` values.
pub fn write_f64_streamed(
    path: &Path,
    shape: &[usize],
    fill: impl FnOnce(&mut dyn FnMut(f64) -> std::io::Result<()>) -> std::io::Result<()>,
) -> Result<()> {
    let expected: usize = shape.iter().product();
    let shape64: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    crate::io::output::write_atomic(path, |w| {
        let mut npy = npyz::WriteOptions::<f64>::new()
            .default_dtype()
            .shape(&shape64)
            .writer(w)
            .begin_nd()?;
        let mut pushed = 0usize;
        fill(&mut |x| {
            pushed += 1;
            npy.push(&x)
        })?;
        if pushed != expected {
            return Err(std::io::Error::other(format!(
                "{pushed} values written for shape {shape:?} ({expected} expected)"
            )));
        }
        npy.finish()
    })
}

/// Read a numeric array of any supported dtype as `f64`, in C order.
/// Non-finite values are an error naming their flat position.
pub fn read_f64(path: &Path) -> Result<(Vec<usize>, Vec<f64>)> {
    let info = read_info(path)?;
    // The shape's data fit in the file (checked when it was opened), so
    // the product cannot overflow.
    let total: usize = info.shape.iter().product();
    let mut out = crate::io::memory::try_zeroed::<f64>(
        &format!("array of {}", path.display()),
        total,
        "use a smaller array",
    )?;
    let shape = info.shape.clone();
    for_each_value(path, |k, v| {
        let c = c_index(k, &shape, info.fortran_order);
        if !v.is_finite() {
            return Err(Error::format(
                path,
                format!("non-finite value at flat index {c}"),
            ));
        }
        if let Some(slot) = out.get_mut(c) {
            *slot = v;
        }
        Ok(())
    })?;
    Ok((info.shape, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_typed<T: npyz::AutoSerialize + Copy>(
        path: &Path,
        shape: &[u64],
        data: &[T],
        order: Order,
    ) {
        let f = File::create(path).unwrap();
        let mut w = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .order(order)
            .writer(std::io::BufWriter::new(f))
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn raster_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.npy");
        let x: Vec<u8> = (0..2 * 5 * 67).map(|k| (k % 3 == 0) as u8).collect();
        let r = SpikeRaster::from_binary(2, 5, 67, &x).unwrap();
        write_raster(&p, &r).unwrap();
        assert_eq!(read_raster(&p).unwrap(), r);
    }

    #[test]
    fn reads_any_dtype_and_fortran_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.npy");
        // (T=2, N=3) spins in C order: [[1,-1,-1],[-1,1,1]].
        let c_order = [1i8, -1, -1, -1, 1, 1];
        write_typed(&p, &[2, 3], &c_order, Order::C);
        let a = read_raster(&p).unwrap();
        assert_eq!(a.to_spins(), c_order);
        // Same array stored in Fortran order: column by column.
        let f_order = [1.0f32, -1.0, -1.0, 1.0, -1.0, 1.0];
        write_typed(&p, &[2, 3], &f_order, Order::Fortran);
        assert_eq!(read_raster(&p).unwrap(), a);
        write_typed(&p, &[2, 3], &[1u64, 0, 0, 0, 1, 1], Order::C);
        assert_eq!(read_raster(&p).unwrap(), a);
        write_typed(
            &p,
            &[2, 3],
            &[true, false, false, false, true, true],
            Order::C,
        );
        assert_eq!(read_raster(&p).unwrap(), a);
    }

    #[test]
    fn raster_errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.npy");
        write_typed(&p, &[2, 2], &[0i32, 1, 2, 1], Order::C);
        let e = read_raster(&p).unwrap_err().to_string();
        assert!(
            e.contains("bad.npy") && e.contains("value 2") && e.contains("bin 1, unit 0"),
            "{e}"
        );
        write_typed(&p, &[2, 2], &[0i32, 1, -1, 1], Order::C);
        let e = read_raster(&p).unwrap_err().to_string();
        assert!(e.contains("mixes 0"), "{e}");
        write_typed(&p, &[4], &[0u8, 1, 0, 1], Order::C);
        let e = read_raster(&p).unwrap_err().to_string();
        assert!(e.contains("shape (T, N) or (R, T, N)"), "{e}");
        write_typed(&p, &[2, 2], &[0.0f64, 1.0, f64::NAN, 1.0], Order::C);
        assert!(read_raster(&p).is_err());
        write_typed(&p, &[0, 2], &[] as &[u8], Order::C);
        assert!(read_raster(&p).unwrap_err().to_string().contains("empty"));
        std::fs::write(&p, b"not numpy").unwrap();
        assert!(
            read_raster(&p)
                .unwrap_err()
                .to_string()
                .contains("not a valid .npy")
        );
        let missing = dir.path().join("missing.npy");
        assert!(
            read_raster(&missing)
                .unwrap_err()
                .to_string()
                .contains("missing.npy")
        );
    }

    #[test]
    fn f64_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("theta.npy");
        let data: Vec<f64> = (0..24).map(|k| k as f64 * 0.25 - 1.0).collect();
        write_f64(&p, &[2, 3, 4], &data).unwrap();
        let (shape, back) = read_f64(&p).unwrap();
        assert_eq!(shape, vec![2, 3, 4]);
        assert_eq!(back, data);
    }
}
