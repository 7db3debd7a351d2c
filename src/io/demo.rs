//! The bundled demo data, so that the app and `isingscope info` work with
//! no file at hand.
//!
//! * A real recording: `assets/A8604-211122.nwb`, three sorted Neuropixels
//!   units (ids 6, 191, 206; 21,354 spikes over 1087.5 s of wake; NWB 2.4.0)
//!   from the test suite of the pynapple package, MIT licence
//!   (`assets/LICENSE-pynapple-data`).
//! * A simulated asymmetric SK network: `assets/sk_demo/` with `spikes.npy`
//!   (`(1, 4001, 48)` uint8 0/1), `J.csv` and `H.csv` (raw couplings and
//!   fields, see `assets/README.md` for the parameters and the command).
//!
//! The files are found in the source tree (`CARGO_MANIFEST_DIR/assets`,
//! fixed at build time). They are also embedded in the binary, so a binary
//! moved elsewhere writes them to a temporary directory on first use.

use std::path::{Path, PathBuf};

use super::LoadOptions;
use super::spike_trains::SpikeTrains;
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// File name of the demo recording.
pub const DEMO_NWB_NAME: &str = "A8604-211122.nwb";

const ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");

static DEMO_NWB: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/A8604-211122.nwb"
));
static SK_SPIKES: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/sk_demo/spikes.npy"
));
static SK_J: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/sk_demo/J.csv"));
static SK_H: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/sk_demo/H.csv"));

/// `rel` under the source tree's `assets/` if it exists with the embedded
/// size, else the embedded copy written under the temporary directory.
fn asset(rel: &str, bytes: &'static [u8]) -> Result<PathBuf> {
    let p = Path::new(ASSETS).join(rel);
    if p.metadata().is_ok_and(|m| m.len() == bytes.len() as u64) {
        return Ok(p);
    }
    let q = std::env::temp_dir().join("isingscope-demo").join(rel);
    if q.metadata().is_ok_and(|m| m.len() == bytes.len() as u64) {
        return Ok(q);
    }
    if let Some(dir) = q.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    // Write then rename, so that a concurrent reader never sees half a file.
    let tmp = q.with_extension(format!("part{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &q).map_err(|e| Error::io(&q, e))?;
    Ok(q)
}

/// Path of the demo NWB recording.
pub fn demo_nwb_path() -> Result<PathBuf> {
    asset(DEMO_NWB_NAME, DEMO_NWB)
}

/// Folder of the simulated SK demo (`spikes.npy`, `J.csv`, `H.csv`).
pub fn sk_demo_dir() -> Result<PathBuf> {
    let spikes = asset("sk_demo/spikes.npy", SK_SPIKES)?;
    asset("sk_demo/J.csv", SK_J)?;
    asset("sk_demo/H.csv", SK_H)?;
    Ok(spikes
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf))
}

/// The demo recording, loaded.
pub fn load_demo_nwb() -> Result<SpikeTrains> {
    super::nwb::load_nwb(&demo_nwb_path()?, &LoadOptions::default())
}

/// The simulated SK demo raster, `(1, 4001, 48)`.
pub fn load_sk_demo() -> Result<SpikeRaster> {
    super::npy::read_raster(&sk_demo_dir()?.join("spikes.npy"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_bytes_match_the_asset_files() {
        assert_eq!(std::fs::read(demo_nwb_path().unwrap()).unwrap(), DEMO_NWB);
        let dir = sk_demo_dir().unwrap();
        assert_eq!(std::fs::read(dir.join("J.csv")).unwrap(), SK_J);
        assert_eq!(load_sk_demo().unwrap().shape(), (1, 4001, 48));
    }

    #[test]
    fn missing_asset_falls_back_to_the_embedded_bytes() {
        static BYTES: &[u8] = b"embedded demo bytes";
        let rel = format!("test-fallback-{}/x.bin", std::process::id());
        let p = asset(&rel, BYTES).unwrap();
        assert!(!p.starts_with(ASSETS), "{}", p.display());
        assert_eq!(std::fs::read(&p).unwrap(), BYTES);
        // A second call reuses the written copy.
        assert_eq!(asset(&rel, BYTES).unwrap(), p);
        if let Some(dir) = p.parent() {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
