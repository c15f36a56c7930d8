//! Where dmflow keeps state: `--state-dir`, else `$DMFLOW_STATE_DIR`, else the XDG state
//! directory (`~/.local/state/dmflow` on Linux).

use std::path::PathBuf;

pub fn state_dir(explicit: Option<&PathBuf>) -> Result<PathBuf, crate::Error> {
    if let Some(dir) = explicit {
        return Ok(dir.clone());
    }
    if let Some(dir) = std::env::var_os("DMFLOW_STATE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    use etcetera::BaseStrategy;
    let base =
        etcetera::choose_base_strategy().map_err(|e| crate::Error::StateDir(e.to_string()))?;
    Ok(base
        .state_dir()
        .unwrap_or_else(|| base.data_dir())
        .join("dmflow"))
}
