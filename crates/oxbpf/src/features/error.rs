//! [`FeatureError`]: a feature the kernel lacks, or a probe that could not decide.

use super::Feature;
use crate::sys::SysError;

/// Errors from feature probes and [`require`](super::require).
#[derive(Debug, Clone, thiserror::Error)]
pub enum FeatureError {
    /// The running kernel lacks `feature` (decided by probing, never by version number).
    #[error("{feature} not supported (requires >= {min_kernel})")]
    NotSupported {
        /// What is missing.
        feature: Feature,
        /// The first upstream release that has it (documentation only).
        min_kernel: &'static str,
    },
    /// A probe's syscall failed in a way that says nothing about the feature (`EPERM`
    /// when unprivileged, `ENOMEM`, ...). Not cached: a later call probes again.
    #[error("cannot tell whether {feature} is supported: {source}")]
    Probe {
        /// What was being probed.
        feature: Feature,
        /// The failed call.
        source: SysError,
    },
    /// A probe's syscall was refused (`EPERM`/`EACCES`) to a caller short of capabilities:
    /// the answer cannot be known with these capabilities. Not cached.
    #[error("cannot tell whether {feature} is supported: not decidable with these capabilities: needs {needs} ({source})")]
    NeedsCapabilities {
        /// What was being probed.
        feature: Feature,
        /// What the caller lacks ("CAP_BPF + CAP_NET_ADMIN").
        needs: String,
        /// The refused call.
        source: SysError,
    },
    /// A probe could not run or its answer was ambiguous (not cached).
    #[error("cannot tell whether {feature} is supported: {reason}")]
    Inconclusive {
        /// What was being probed.
        feature: Feature,
        /// Why.
        reason: String,
    },
}

impl FeatureError {
    /// The feature this error is about.
    pub fn feature(&self) -> Feature {
        match self {
            FeatureError::NotSupported { feature, .. }
            | FeatureError::Probe { feature, .. }
            | FeatureError::NeedsCapabilities { feature, .. }
            | FeatureError::Inconclusive { feature, .. } => *feature,
        }
    }

    /// True for [`FeatureError::NotSupported`].
    pub fn is_not_supported(&self) -> bool {
        matches!(self, FeatureError::NotSupported { .. })
    }

    /// The errno behind an inconclusive probe, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            FeatureError::Probe { source, .. } | FeatureError::NeedsCapabilities { source, .. } => {
                Some(source.errno)
            }
            _ => None,
        }
    }

    /// True for [`FeatureError::NeedsCapabilities`]: the probe says nothing about the kernel,
    /// only that this process may not ask.
    pub fn needs_capabilities(&self) -> bool {
        matches!(self, FeatureError::NeedsCapabilities { .. })
    }

    /// Turns a [`FeatureError::Probe`] whose call was refused for lack of capabilities into
    /// [`FeatureError::NeedsCapabilities`]; other errors are returned unchanged.
    pub fn classify(self) -> Self {
        match self {
            FeatureError::Probe { feature, source } => match source.capability_shortfall() {
                Some(needs) => FeatureError::NeedsCapabilities {
                    feature,
                    needs,
                    source,
                },
                None => FeatureError::Probe { feature, source },
            },
            other => other,
        }
    }

    /// `NotSupported` for `feature`, with its minimum kernel from the table.
    pub fn not_supported(feature: Feature) -> Self {
        FeatureError::NotSupported {
            feature,
            min_kernel: feature.min_kernel(),
        }
    }
}
