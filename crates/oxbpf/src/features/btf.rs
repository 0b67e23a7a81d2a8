//! BTF probes: `BPF_BTF_LOAD` one minimal blob per feature, built with [`crate::btf::Btf`].
//!
//! | feature       | blob                                                          |
//! |---------------|---------------------------------------------------------------|
//! | `Load`        | `int`                                                         |
//! | `Func`        | `int`, `FUNC_PROTO int(int x)`, static `FUNC f`               |
//! | `FuncGlobal`  | the same with a global `FUNC`                                 |
//! | `Datasec`     | `int`, global `VAR x`, `DATASEC .data { x }`                   |
//! | `Float`       | `FLOAT float` (4 bytes)                                       |
//! | `DeclTag`     | `int`, `VAR x`, `DECL_TAG "tag"` on `x`                        |
//! | `TypeTag`     | `int`, `TYPE_TAG "tag"` → int, `PTR` → the tag                  |
//! | `Enum64`      | `ENUM64 e { A = 1 }`                                          |
//!
//! A kernel that lacks a kind rejects the blob with `EINVAL` (its BTF log names the kind);
//! other errors are inconclusive. [`missing_btf_features`] turns the answers into the
//! [`MissingFeatures`] the loader passes to [`Btf::sanitize`](crate::btf::Btf::sanitize).

use super::{cache, BtfFeature, Feature, FeatureError};
use crate::btf::{Btf, BtfError, Kind, MissingFeatures};
use crate::sys::{self, attr::BtfLoadAttr, ptr_to_u64, SysError};
use std::os::fd::OwnedFd;

fn info(kind: Kind, vlen: u32) -> u32 {
    (kind.raw() << 24) | (vlen & 0xffff)
}

/// Builds a blob: an empty BTF, then `f` appends types.
fn blob(f: impl FnOnce(&mut Btf) -> Result<(), BtfError>) -> Result<Vec<u8>, BtfError> {
    let mut header = Vec::with_capacity(25);
    header.extend_from_slice(&0xeb9fu16.to_le_bytes());
    header.extend_from_slice(&[1, 0]);
    for w in [24u32, 0, 0, 0, 1] {
        header.extend_from_slice(&w.to_le_bytes());
    }
    header.push(0);
    let mut btf = Btf::parse_vec(header, None)?;
    f(&mut btf)?;
    Ok(btf.to_bytes())
}

fn push(btf: &mut Btf, words: &[u32]) -> Result<u32, BtfError> {
    let rec: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    btf.push_type(&rec)
}

/// The probe blob for `feature`.
fn feature_blob(feature: BtfFeature) -> Result<Vec<u8>, BtfError> {
    blob(|b| {
        match feature {
            BtfFeature::Load => {
                b.add_int("int", 4, 1)?;
            }
            BtfFeature::Func | BtfFeature::FuncGlobal => {
                let int = b.add_int("int", 4, 1)?;
                let x = b.add_string("x");
                let proto = push(b, &[0, info(Kind::FuncProto, 1), int, x, int])?;
                let f = b.add_string("f");
                let linkage = u32::from(feature == BtfFeature::FuncGlobal);
                push(b, &[f, info(Kind::Func, linkage), proto])?;
            }
            BtfFeature::Datasec => {
                let int = b.add_int("int", 4, 1)?;
                let x = b.add_string("x");
                let var = push(b, &[x, info(Kind::Var, 0), int, 1])?;
                let sec = b.add_string(".data");
                push(b, &[sec, info(Kind::Datasec, 1), 4, var, 0, 4])?;
            }
            BtfFeature::Float => {
                let name = b.add_string("float");
                push(b, &[name, info(Kind::Float, 0), 4])?;
            }
            BtfFeature::DeclTag => {
                let int = b.add_int("int", 4, 1)?;
                let x = b.add_string("x");
                let var = push(b, &[x, info(Kind::Var, 0), int, 0])?;
                let tag = b.add_string("tag");
                push(b, &[tag, info(Kind::DeclTag, 0), var, u32::MAX])?;
            }
            BtfFeature::TypeTag => {
                let int = b.add_int("int", 4, 1)?;
                let tag = b.add_string("tag");
                let tt = push(b, &[tag, info(Kind::TypeTag, 0), int])?;
                push(b, &[0, info(Kind::Ptr, 0), tt])?;
            }
            BtfFeature::Enum64 => {
                let e = b.add_string("e");
                let a = b.add_string("A");
                push(b, &[e, info(Kind::Enum64, 1), 8, a, 1, 0])?;
            }
        }
        Ok(())
    })
}

fn load(raw: &[u8]) -> Result<OwnedFd, SysError> {
    let mut attr = BtfLoadAttr {
        btf: ptr_to_u64(raw.as_ptr()),
        btf_size: raw.len() as u32,
        ..Default::default()
    };
    sys::btf_load(&mut attr)
}

/// Loads a BTF object holding only `int` (type id 1), for map probes that need BTF.
pub(crate) fn int_only_btf() -> Result<OwnedFd, SysError> {
    let raw = feature_blob(BtfFeature::Load)
        .map_err(|_| SysError::new(sys::Cmd::BtfLoad, libc::EFAULT))?;
    load(&raw)
}

/// Whether `BPF_BTF_LOAD` accepts BTF using `feature` (probed once per process).
pub fn have_btf(feature: BtfFeature) -> Result<bool, FeatureError> {
    let f = Feature::Btf(feature);
    cache::cached(f, || {
        let raw = feature_blob(feature).map_err(|e| FeatureError::Inconclusive {
            feature: f,
            reason: format!("building the probe blob: {e}"),
        })?;
        match load(&raw) {
            Ok(_fd) => Ok(true),
            Err(e) if e.is_unsupported() => Ok(false),
            Err(source) => Err(FeatureError::Probe { feature: f, source }),
        }
    })
}

/// The BTF features this kernel lacks, for [`Btf::sanitize`](crate::btf::Btf::sanitize).
pub fn missing_btf_features() -> Result<MissingFeatures, FeatureError> {
    let lacks = |f| have_btf(f).map(|v| !v);
    Ok(MissingFeatures {
        func: lacks(BtfFeature::Func)?,
        func_global: lacks(BtfFeature::FuncGlobal)?,
        datasec: lacks(BtfFeature::Datasec)?,
        float: lacks(BtfFeature::Float)?,
        decl_tag: lacks(BtfFeature::DeclTag)?,
        type_tag: lacks(BtfFeature::TypeTag)?,
        enum64: lacks(BtfFeature::Enum64)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_blob_parses_back() {
        for &f in BtfFeature::ALL {
            let raw = feature_blob(f).unwrap();
            let btf = Btf::parse(&raw).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            assert!(btf.types_len() > 1, "{f:?}");
        }
        let raw = feature_blob(BtfFeature::Enum64).unwrap();
        let btf = Btf::parse(&raw).unwrap();
        assert_eq!(btf.kind(1).unwrap(), Kind::Enum64);
    }
}
