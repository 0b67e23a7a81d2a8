//! Rewriting object BTF for kernels that lack some BTF kinds, as libbpf does before
//! `BPF_BTF_LOAD`. Each rewrite keeps the record's byte size, so type ids never move:
//!
//! | missing            | rewrite                                                         |
//! |--------------------|-----------------------------------------------------------------|
//! | `datasec`          | VAR → INT (1 byte, 8 bits); DATASEC → STRUCT of its vars (bit offsets, `.` in the name → `_`) |
//! | `func`             | FUNC_PROTO → ENUM (4 bytes, same entries); FUNC → TYPEDEF          |
//! | `func_global`      | FUNC with global/extern linkage → static                        |
//! | `float`            | FLOAT → anonymous STRUCT of the same size, no members            |
//! | `decl_tag`         | DECL_TAG → anonymous INT (1 byte, 8 bits)                        |
//! | `type_tag`         | TYPE_TAG → anonymous CONST of the same type                      |
//! | `enum64`           | ENUM64 → UNION whose members are a 1-byte INT placeholder; ENUM loses its signed flag |

use super::raw::{info_kflag, info_vlen, make_info, u32_at, Kind};
use super::{Btf, BtfError, Type};

/// BTF features the target kernel lacks (from feature probes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MissingFeatures {
    /// `BTF_KIND_FUNC` / `FUNC_PROTO` (Linux < 5.0).
    pub func: bool,
    /// Global FUNC linkage (Linux < 5.6).
    pub func_global: bool,
    /// `BTF_KIND_VAR` / `DATASEC` (Linux < 5.2).
    pub datasec: bool,
    /// `BTF_KIND_FLOAT` (Linux < 5.13).
    pub float: bool,
    /// `BTF_KIND_DECL_TAG` (Linux < 5.16).
    pub decl_tag: bool,
    /// `BTF_KIND_TYPE_TAG` (Linux < 5.17).
    pub type_tag: bool,
    /// `BTF_KIND_ENUM64` and signed ENUM (Linux < 6.0).
    pub enum64: bool,
}

impl MissingFeatures {
    /// True if anything is missing.
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

impl Btf {
    /// Rewrites own types the kernel cannot load (see the module table); returns how many
    /// records changed. Type ids stay the same; a placeholder INT may be appended.
    pub fn sanitize(&mut self, missing: &MissingFeatures) -> Result<usize, BtfError> {
        if !missing.any() {
            return Ok(0);
        }
        let mut placeholder = 0u32;
        let mut changed = 0;
        let end = self.types_len();
        for id in self.start_id..end {
            let rec = self.raw_type(id)?;
            let (name_off, info, st) = (u32_at(rec, 0), u32_at(rec, 4), u32_at(rec, 8));
            let vlen = info_vlen(info);
            let new: Option<Vec<u8>> = match self.kind(id)? {
                Kind::Var if missing.datasec => {
                    Some(words(&[name_off, make_info(Kind::Int, 0, false), 1, 8]))
                }
                Kind::Datasec if missing.datasec => Some(self.datasec_as_struct(id)?),
                Kind::FuncProto if missing.func => {
                    let mut r = rec.to_vec();
                    r[4..8].copy_from_slice(&make_info(Kind::Enum, vlen, false).to_le_bytes());
                    r[8..12].copy_from_slice(&4u32.to_le_bytes());
                    Some(r)
                }
                Kind::Func if missing.func => {
                    Some(words(&[name_off, make_info(Kind::Typedef, 0, false), st]))
                }
                Kind::Func if missing.func_global && vlen != 0 => {
                    Some(words(&[name_off, make_info(Kind::Func, 0, false), st]))
                }
                Kind::Float if missing.float => {
                    Some(words(&[0, make_info(Kind::Struct, 0, false), st]))
                }
                Kind::DeclTag if missing.decl_tag => {
                    Some(words(&[0, make_info(Kind::Int, 0, false), 1, 8]))
                }
                Kind::TypeTag if missing.type_tag => {
                    Some(words(&[0, make_info(Kind::Const, 0, false), st]))
                }
                Kind::Enum if missing.enum64 && info_kflag(info) => {
                    let mut r = rec.to_vec();
                    r[4..8].copy_from_slice(&make_info(Kind::Enum, vlen, false).to_le_bytes());
                    Some(r)
                }
                Kind::Enum64 if missing.enum64 => {
                    if placeholder == 0 {
                        placeholder = self.add_int("enum64_placeholder", 1, 0)?;
                    }
                    let rec = self.raw_type(id)?;
                    let mut w = vec![name_off, make_info(Kind::Union, vlen, false), st];
                    for e in rec[12..].chunks_exact(12) {
                        w.extend_from_slice(&[u32_at(e, 0), placeholder, 0]);
                    }
                    Some(words(&w))
                }
                _ => None,
            };
            if let Some(r) = new {
                self.replace_type(id, &r)?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    fn datasec_as_struct(&mut self, id: u32) -> Result<Vec<u8>, BtfError> {
        let d = match self.type_by_id(id)? {
            Type::Datasec(d) => d,
            t => {
                return Err(BtfError::WrongKind {
                    id,
                    expected: Kind::Datasec,
                    found: t.kind().unwrap_or(Kind::Int),
                })
            }
        };
        let name = d.name.replace(['.', '?'], "_");
        let size = d.size;
        let vars: Vec<_> = d.vars().collect();
        let mut w = vec![0, make_info(Kind::Struct, vars.len() as u32, false), size];
        for v in &vars {
            let member_name = self.name_off(v.type_id).unwrap_or(0);
            w.extend_from_slice(&[member_name, v.type_id, v.offset.saturating_mul(8)]);
        }
        w[0] = self.add_string(&name);
        Ok(words(&w))
    }
}
