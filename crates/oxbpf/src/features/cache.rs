//! Process-wide cache of conclusive probe answers. Inconclusive results (errors) are never
//! stored, so a later call probes again (e.g. after gaining privileges).

use super::{Feature, FeatureError};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

fn cache() -> &'static Mutex<HashMap<Feature, bool>> {
    static CACHE: OnceLock<Mutex<HashMap<Feature, bool>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The cached answer for `feature`, if any.
pub(crate) fn get(feature: Feature) -> Option<bool> {
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&feature)
        .copied()
}

/// Stores a conclusive answer.
pub(crate) fn put(feature: Feature, supported: bool) {
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(feature, supported);
}

/// Returns the cached answer or runs `probe` (without holding the lock, so probes of
/// different features run in parallel) and caches a conclusive answer; a refusal for lack of
/// capabilities comes back as [`FeatureError::NeedsCapabilities`].
pub(crate) fn cached(
    feature: Feature,
    probe: impl FnOnce() -> Result<bool, FeatureError>,
) -> Result<bool, FeatureError> {
    if let Some(v) = get(feature) {
        return Ok(v);
    }
    let v = probe().map_err(FeatureError::classify)?;
    put(feature, v);
    Ok(v)
}

/// Forgets every cached answer, including the XDP link probe in [`crate::link`] (tests that
/// fake an older kernel with [`crate::sys::fault`]).
#[cfg(feature = "fault-injection")]
pub fn reset_cache() {
    cache().lock().unwrap_or_else(|e| e.into_inner()).clear();
    crate::link::xdp::reset_xdp_link_probe();
}
