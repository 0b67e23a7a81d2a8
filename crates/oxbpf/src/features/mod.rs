//! Kernel feature probes (placeholder).
