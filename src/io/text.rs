//! Plain-text matrices and vectors as the CLI reads and writes them.
//!
//! * Matrix: one row per line, values separated by commas (or whitespace),
//!   no header. For couplings, row i = receiving neuron i, column j =
//!   sending neuron j.
//! * Vector: one value per line (a single comma-separated line is accepted
//!   too).
//!
//! Numbers are written with 17 significant digits (exact round trip).

use std::path::Path;

use nalgebra::{DMatrix, DVector};

use crate::{Error, Result};

fn parse_rows(path: &Path) -> Result<Vec<Vec<f64>>> {
    super::output::register_input(path);
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut rows = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut row = Vec::new();
        for (col, tok) in line
            .split(|c: char| c == ',' || c.is_whitespace() || c == ';')
            .filter(|t| !t.is_empty())
            .enumerate()
        {
            let v: f64 = tok.parse().map_err(|_| {
                Error::format(
                    path,
                    format!(
                        "line {}, column {}: '{tok}' is not a number",
                        ln + 1,
                        col + 1
                    ),
                )
            })?;
            if !v.is_finite() {
                return Err(Error::format(
                    path,
                    format!(
                        "line {}, column {}: non-finite value '{tok}'",
                        ln + 1,
                        col + 1
                    ),
                ));
            }
            row.push(v);
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(Error::format(path, "the file holds no numbers"));
    }
    Ok(rows)
}

/// Read a matrix (rows × columns). Ragged rows, non-numbers, NaN and
/// infinities are errors naming the line.
pub fn read_matrix(path: &Path) -> Result<DMatrix<f64>> {
    let rows = parse_rows(path)?;
    let ncols = rows[0].len();
    if let Some((k, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != ncols) {
        return Err(Error::format(
            path,
            format!(
                "row {} has {} values but row 1 has {ncols}: a matrix needs equal rows",
                k + 1,
                r.len()
            ),
        ));
    }
    Ok(DMatrix::from_fn(rows.len(), ncols, |i, j| rows[i][j]))
}

/// Read a square matrix, e.g. couplings J.
pub fn read_square_matrix(path: &Path) -> Result<DMatrix<f64>> {
    let m = read_matrix(path)?;
    if m.nrows() != m.ncols() {
        return Err(Error::format(
            path,
            format!(
                "expected a square N x N matrix, found {} rows x {} columns",
                m.nrows(),
                m.ncols()
            ),
        ));
    }
    Ok(m)
}

/// Read a vector: one value per line, or a single line of values.
pub fn read_vector(path: &Path) -> Result<DVector<f64>> {
    let rows = parse_rows(path)?;
    if rows.len() == 1 {
        return Ok(DVector::from_vec(rows[0].clone()));
    }
    if let Some((k, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != 1) {
        return Err(Error::format(
            path,
            format!(
                "line {} has {} values; a vector has one value per line",
                k + 1,
                r.len()
            ),
        ));
    }
    Ok(DVector::from_iterator(
        rows.len(),
        rows.iter().map(|r| r[0]),
    ))
}

/// Write rows of values, comma-separated, one row per line (atomically,
/// never over an input: [`super::output::write_atomic`]).
pub fn write_rows<'a>(path: &Path, rows: impl IntoIterator<Item = &'a [f64]>) -> Result<()> {
    super::output::write_atomic(path, |w| {
        for row in rows {
            let line: Vec<String> = row.iter().map(|v| format!("{v:.17e}")).collect();
            writeln!(w, "{}", line.join(","))?;
        }
        Ok(())
    })
}

/// Write a matrix, one row per line.
pub fn write_matrix(path: &Path, m: &DMatrix<f64>) -> Result<()> {
    let rows: Vec<Vec<f64>> = (0..m.nrows())
        .map(|i| m.row(i).iter().copied().collect())
        .collect();
    write_rows(path, rows.iter().map(|r| r.as_slice()))
}

/// Write a vector, one value per line.
pub fn write_vector(path: &Path, v: &[f64]) -> Result<()> {
    write_rows(path, v.iter().map(std::slice::from_ref))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("J.csv");
        let m = DMatrix::from_fn(3, 3, |i, j| (i as f64 + 0.1) * (j as f64 - 1.3) / 7.0);
        write_matrix(&p, &m).unwrap();
        assert_eq!(read_square_matrix(&p).unwrap(), m);
        std::fs::write(&p, "1,2\n3\n").unwrap();
        let e = read_matrix(&p).unwrap_err().to_string();
        assert!(
            e.contains("row 2 has 1 values") && e.contains("J.csv"),
            "{e}"
        );
        std::fs::write(&p, "1,x\n").unwrap();
        let e = read_matrix(&p).unwrap_err().to_string();
        assert!(e.contains("'x' is not a number"), "{e}");
        std::fs::write(&p, "1,nan\n").unwrap();
        assert!(
            read_matrix(&p)
                .unwrap_err()
                .to_string()
                .contains("non-finite")
        );
        std::fs::write(&p, "1,2\n3,4\n5,6\n").unwrap();
        assert!(
            read_square_matrix(&p)
                .unwrap_err()
                .to_string()
                .contains("square")
        );
    }

    #[test]
    fn vector_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("H.csv");
        write_vector(&p, &[0.5, -1.25, 3.0]).unwrap();
        assert_eq!(read_vector(&p).unwrap().as_slice(), &[0.5, -1.25, 3.0]);
    }
}
