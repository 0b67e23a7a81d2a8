//! Borrowed, lazily decoded views of BTF types: [`Type`] and one small struct per kind.
//!
//! A view holds the type's record bytes; multi-entry kinds (struct members, enumerators,
//! parameters, datasec variables) decode each entry from those bytes only when iterated.
//! Names are resolved through the owning [`Btf`]; a name that is not valid UTF-8 (which the
//! kernel never accepts) reads as [`INVALID_NAME`], and its raw offset stays available.

use super::raw::{info_kflag, info_vlen, u32_at, Kind, TYPE_LEN};
use super::Btf;

/// What a name that is not valid UTF-8 reads as in views.
pub const INVALID_NAME: &str = "<invalid utf-8>";

/// A decoded BTF type borrowed from a [`Btf`].
#[derive(Debug, Clone, Copy)]
pub enum Type<'a> {
    /// Type id 0.
    Void,
    /// `BTF_KIND_INT`.
    Int(Int<'a>),
    /// `BTF_KIND_PTR`.
    Ptr(Ref<'a>),
    /// `BTF_KIND_ARRAY`.
    Array(Array),
    /// `BTF_KIND_STRUCT`.
    Struct(Composite<'a>),
    /// `BTF_KIND_UNION`.
    Union(Composite<'a>),
    /// `BTF_KIND_ENUM`.
    Enum(Enum<'a>),
    /// `BTF_KIND_FWD`.
    Fwd(Fwd<'a>),
    /// `BTF_KIND_TYPEDEF`.
    Typedef(Ref<'a>),
    /// `BTF_KIND_VOLATILE`.
    Volatile(Ref<'a>),
    /// `BTF_KIND_CONST`.
    Const(Ref<'a>),
    /// `BTF_KIND_RESTRICT`.
    Restrict(Ref<'a>),
    /// `BTF_KIND_FUNC`.
    Func(Func<'a>),
    /// `BTF_KIND_FUNC_PROTO`.
    FuncProto(FuncProto<'a>),
    /// `BTF_KIND_VAR`.
    Var(Var<'a>),
    /// `BTF_KIND_DATASEC`.
    Datasec(Datasec<'a>),
    /// `BTF_KIND_FLOAT`.
    Float(Float<'a>),
    /// `BTF_KIND_DECL_TAG`.
    DeclTag(DeclTag<'a>),
    /// `BTF_KIND_TYPE_TAG`.
    TypeTag(Ref<'a>),
    /// `BTF_KIND_ENUM64`.
    Enum64(Enum<'a>),
}

/// `BTF_KIND_INT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int<'a> {
    /// Name (`"int"`, `"unsigned long"`...).
    pub name: &'a str,
    /// Size in bytes.
    pub size: u32,
    /// `BTF_INT_SIGNED` (1) / `BTF_INT_CHAR` (2) / `BTF_INT_BOOL` (4) bits.
    pub encoding: u8,
    /// Bit offset of the value inside the storage (`BTF_INT_OFFSET`).
    pub bit_offset: u8,
    /// Number of value bits (`BTF_INT_BITS`).
    pub bits: u8,
}

impl Int<'_> {
    /// True for a signed integer.
    pub fn is_signed(&self) -> bool {
        self.encoding & 1 != 0
    }
    /// True for `char` encoding.
    pub fn is_char(&self) -> bool {
        self.encoding & 2 != 0
    }
    /// True for `bool` encoding.
    pub fn is_bool(&self) -> bool {
        self.encoding & 4 != 0
    }
}

/// A type that only names another: PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ref<'a> {
    /// Name (typedefs and type tags; `""` for the others).
    pub name: &'a str,
    /// The referenced type.
    pub type_id: u32,
    /// `kind_flag` (TYPE_TAG: the tag is an attribute).
    pub kflag: bool,
}

/// `BTF_KIND_ARRAY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Array {
    /// Element type.
    pub elem_type: u32,
    /// Index type.
    pub index_type: u32,
    /// Number of elements.
    pub nelems: u32,
}

/// `BTF_KIND_STRUCT` / `BTF_KIND_UNION`.
#[derive(Debug, Clone, Copy)]
pub struct Composite<'a> {
    /// Name (`""` for anonymous).
    pub name: &'a str,
    /// Size in bytes.
    pub size: u32,
    /// `kind_flag`: member offsets carry a bitfield size in their top 8 bits.
    pub kflag: bool,
    pub(crate) rec: &'a [u8],
    pub(crate) btf: &'a Btf,
}

/// One struct/union member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// Name (`""` for an anonymous struct/union member).
    pub name: &'a str,
    /// Raw name offset in the string section.
    pub name_off: u32,
    /// Member type.
    pub type_id: u32,
    /// Offset from the start of the struct, in bits.
    pub bit_offset: u32,
    /// Bitfield width in bits, 0 if not a bitfield (or if the struct has no `kind_flag`,
    /// in which case a bitfield's width is in its INT type).
    pub bitfield_size: u32,
}

impl<'a> Composite<'a> {
    /// Number of members.
    pub fn vlen(&self) -> usize {
        info_vlen(u32_at(self.rec, 4)) as usize
    }
    /// The members, decoded on demand.
    pub fn members(&self) -> impl ExactSizeIterator<Item = Member<'a>> + 'a {
        let (btf, kflag) = (self.btf, self.kflag);
        self.rec[TYPE_LEN..].chunks_exact(12).map(move |c| {
            let name_off = u32_at(c, 0);
            let off = u32_at(c, 8);
            let (bit_offset, bitfield_size) = if kflag {
                (off & 0x00ff_ffff, off >> 24)
            } else {
                (off, 0)
            };
            Member {
                name: btf.name_or_invalid(name_off),
                name_off,
                type_id: u32_at(c, 4),
                bit_offset,
                bitfield_size,
            }
        })
    }
    /// The member at `index`.
    pub fn member(&self, index: usize) -> Option<Member<'a>> {
        self.members().nth(index)
    }
}

/// `BTF_KIND_ENUM` / `BTF_KIND_ENUM64`.
#[derive(Debug, Clone, Copy)]
pub struct Enum<'a> {
    /// Name (`""` for anonymous).
    pub name: &'a str,
    /// Size in bytes.
    pub size: u32,
    /// `kind_flag`: values are signed.
    pub signed: bool,
    pub(crate) is64: bool,
    pub(crate) rec: &'a [u8],
    pub(crate) btf: &'a Btf,
}

/// One enumerator. `value` holds the bits; read it as `i64` when the enum is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumValue<'a> {
    /// Name.
    pub name: &'a str,
    /// Raw name offset.
    pub name_off: u32,
    /// Value, sign-extended from 32 bits for a signed 32-bit ENUM.
    pub value: u64,
}

impl<'a> Enum<'a> {
    /// Number of enumerators.
    pub fn vlen(&self) -> usize {
        info_vlen(u32_at(self.rec, 4)) as usize
    }
    /// True for ENUM64.
    pub fn is_64(&self) -> bool {
        self.is64
    }
    /// The enumerators, decoded on demand.
    pub fn values(&self) -> impl ExactSizeIterator<Item = EnumValue<'a>> + 'a {
        let (btf, signed) = (self.btf, self.signed);
        let step = if self.is64 { 12 } else { 8 };
        self.rec[TYPE_LEN..].chunks_exact(step).map(move |c| {
            let name_off = u32_at(c, 0);
            let lo = u32_at(c, 4);
            let value = if step == 12 {
                ((u32_at(c, 8) as u64) << 32) | lo as u64
            } else if signed {
                lo as i32 as i64 as u64
            } else {
                lo as u64
            };
            EnumValue {
                name: btf.name_or_invalid(name_off),
                name_off,
                value,
            }
        })
    }
}

/// `BTF_KIND_FWD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fwd<'a> {
    /// Name.
    pub name: &'a str,
    /// Forward-declared union (else struct).
    pub is_union: bool,
}

/// Linkage of a FUNC (`vlen` of the record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuncLinkage {
    /// `BTF_FUNC_STATIC`.
    Static,
    /// `BTF_FUNC_GLOBAL`.
    Global,
    /// `BTF_FUNC_EXTERN`.
    Extern,
    /// Any other value.
    Unknown(u32),
}

impl FuncLinkage {
    /// From the raw value.
    pub fn from_raw(v: u32) -> Self {
        match v {
            0 => Self::Static,
            1 => Self::Global,
            2 => Self::Extern,
            v => Self::Unknown(v),
        }
    }
    /// The raw value.
    pub fn raw(self) -> u32 {
        match self {
            Self::Static => 0,
            Self::Global => 1,
            Self::Extern => 2,
            Self::Unknown(v) => v,
        }
    }
}

/// `BTF_KIND_FUNC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Func<'a> {
    /// Name.
    pub name: &'a str,
    /// Its FUNC_PROTO.
    pub proto: u32,
    /// Linkage.
    pub linkage: FuncLinkage,
}

/// `BTF_KIND_FUNC_PROTO`.
#[derive(Debug, Clone, Copy)]
pub struct FuncProto<'a> {
    /// Return type (0 = void).
    pub ret: u32,
    pub(crate) rec: &'a [u8],
    pub(crate) btf: &'a Btf,
}

/// One function parameter. A last parameter with type 0 and no name means `...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// Name (`""` if unnamed).
    pub name: &'a str,
    /// Raw name offset.
    pub name_off: u32,
    /// Type.
    pub type_id: u32,
}

impl<'a> FuncProto<'a> {
    /// Number of parameters.
    pub fn vlen(&self) -> usize {
        info_vlen(u32_at(self.rec, 4)) as usize
    }
    /// The parameters, decoded on demand.
    pub fn params(&self) -> impl ExactSizeIterator<Item = Param<'a>> + 'a {
        let btf = self.btf;
        self.rec[TYPE_LEN..].chunks_exact(8).map(move |c| {
            let name_off = u32_at(c, 0);
            Param {
                name: btf.name_or_invalid(name_off),
                name_off,
                type_id: u32_at(c, 4),
            }
        })
    }
    /// True if the last parameter is the `...` marker.
    pub fn is_variadic(&self) -> bool {
        self.params()
            .last()
            .is_some_and(|p| p.type_id == 0 && p.name_off == 0)
    }
}

/// Linkage of a VAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarLinkage {
    /// `BTF_VAR_STATIC`.
    Static,
    /// `BTF_VAR_GLOBAL_ALLOCATED`.
    Global,
    /// `BTF_VAR_GLOBAL_EXTERN`.
    Extern,
    /// Any other value.
    Unknown(u32),
}

impl VarLinkage {
    /// From the raw value.
    pub fn from_raw(v: u32) -> Self {
        match v {
            0 => Self::Static,
            1 => Self::Global,
            2 => Self::Extern,
            v => Self::Unknown(v),
        }
    }
}

/// `BTF_KIND_VAR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var<'a> {
    /// Name.
    pub name: &'a str,
    /// Type.
    pub type_id: u32,
    /// Linkage.
    pub linkage: VarLinkage,
}

/// `BTF_KIND_DATASEC`.
#[derive(Debug, Clone, Copy)]
pub struct Datasec<'a> {
    /// Section name (`".data"`, `".maps"`...).
    pub name: &'a str,
    /// Size in bytes (0 in objects until the loader fixes it up).
    pub size: u32,
    pub(crate) rec: &'a [u8],
}

/// One `struct btf_var_secinfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSecinfo {
    /// The VAR (or FUNC for `.ksyms`).
    pub type_id: u32,
    /// Byte offset in the section.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

impl<'a> Datasec<'a> {
    /// Number of variables.
    pub fn vlen(&self) -> usize {
        info_vlen(u32_at(self.rec, 4)) as usize
    }
    /// The variables, decoded on demand.
    pub fn vars(&self) -> impl ExactSizeIterator<Item = VarSecinfo> + 'a {
        self.rec[TYPE_LEN..].chunks_exact(12).map(|c| VarSecinfo {
            type_id: u32_at(c, 0),
            offset: u32_at(c, 4),
            size: u32_at(c, 8),
        })
    }
}

/// `BTF_KIND_FLOAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Float<'a> {
    /// Name.
    pub name: &'a str,
    /// Size in bytes.
    pub size: u32,
}

/// `BTF_KIND_DECL_TAG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeclTag<'a> {
    /// The tag text.
    pub name: &'a str,
    /// The tagged type.
    pub type_id: u32,
    /// Member/parameter index, or -1 for the type itself.
    pub component_idx: i32,
    /// `kind_flag`: the tag is an attribute.
    pub kflag: bool,
}

impl<'a> Type<'a> {
    /// Decodes a validated record (`rec` is exactly the record's bytes).
    pub(crate) fn decode(btf: &'a Btf, kind: Kind, rec: &'a [u8]) -> Type<'a> {
        let name_off = u32_at(rec, 0);
        let info = u32_at(rec, 4);
        let st = u32_at(rec, 8);
        let name = btf.name_or_invalid(name_off);
        let kflag = info_kflag(info);
        let r = Ref {
            name,
            type_id: st,
            kflag,
        };
        match kind {
            Kind::Int => {
                let e = u32_at(rec, 12);
                Type::Int(Int {
                    name,
                    size: st,
                    encoding: ((e >> 24) & 0x0f) as u8,
                    bit_offset: ((e >> 16) & 0xff) as u8,
                    bits: (e & 0xff) as u8,
                })
            }
            Kind::Ptr => Type::Ptr(r),
            Kind::Typedef => Type::Typedef(r),
            Kind::Volatile => Type::Volatile(r),
            Kind::Const => Type::Const(r),
            Kind::Restrict => Type::Restrict(r),
            Kind::TypeTag => Type::TypeTag(r),
            Kind::Array => Type::Array(Array {
                elem_type: u32_at(rec, 12),
                index_type: u32_at(rec, 16),
                nelems: u32_at(rec, 20),
            }),
            Kind::Struct | Kind::Union => {
                let c = Composite {
                    name,
                    size: st,
                    kflag,
                    rec,
                    btf,
                };
                if kind == Kind::Struct {
                    Type::Struct(c)
                } else {
                    Type::Union(c)
                }
            }
            Kind::Enum | Kind::Enum64 => {
                let e = Enum {
                    name,
                    size: st,
                    signed: kflag,
                    is64: kind == Kind::Enum64,
                    rec,
                    btf,
                };
                if kind == Kind::Enum {
                    Type::Enum(e)
                } else {
                    Type::Enum64(e)
                }
            }
            Kind::Fwd => Type::Fwd(Fwd {
                name,
                is_union: kflag,
            }),
            Kind::Func => Type::Func(Func {
                name,
                proto: st,
                linkage: FuncLinkage::from_raw(info_vlen(info)),
            }),
            Kind::FuncProto => Type::FuncProto(FuncProto { ret: st, rec, btf }),
            Kind::Var => Type::Var(Var {
                name,
                type_id: st,
                linkage: VarLinkage::from_raw(u32_at(rec, 12)),
            }),
            Kind::Datasec => Type::Datasec(Datasec {
                name,
                size: st,
                rec,
            }),
            Kind::Float => Type::Float(Float { name, size: st }),
            Kind::DeclTag => Type::DeclTag(DeclTag {
                name,
                type_id: st,
                component_idx: u32_at(rec, 12) as i32,
                kflag,
            }),
        }
    }

    /// The kind, `None` for void.
    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Type::Void => return None,
            Type::Int(_) => Kind::Int,
            Type::Ptr(_) => Kind::Ptr,
            Type::Array(_) => Kind::Array,
            Type::Struct(_) => Kind::Struct,
            Type::Union(_) => Kind::Union,
            Type::Enum(_) => Kind::Enum,
            Type::Fwd(_) => Kind::Fwd,
            Type::Typedef(_) => Kind::Typedef,
            Type::Volatile(_) => Kind::Volatile,
            Type::Const(_) => Kind::Const,
            Type::Restrict(_) => Kind::Restrict,
            Type::Func(_) => Kind::Func,
            Type::FuncProto(_) => Kind::FuncProto,
            Type::Var(_) => Kind::Var,
            Type::Datasec(_) => Kind::Datasec,
            Type::Float(_) => Kind::Float,
            Type::DeclTag(_) => Kind::DeclTag,
            Type::TypeTag(_) => Kind::TypeTag,
            Type::Enum64(_) => Kind::Enum64,
        })
    }

    /// The type's name (`""` for anonymous types and kinds without names).
    pub fn name(&self) -> &'a str {
        match self {
            Type::Void | Type::Array(_) | Type::FuncProto(_) => "",
            Type::Int(t) => t.name,
            Type::Ptr(t)
            | Type::Typedef(t)
            | Type::Volatile(t)
            | Type::Const(t)
            | Type::Restrict(t)
            | Type::TypeTag(t) => t.name,
            Type::Struct(t) | Type::Union(t) => t.name,
            Type::Enum(t) | Type::Enum64(t) => t.name,
            Type::Fwd(t) => t.name,
            Type::Func(t) => t.name,
            Type::Var(t) => t.name,
            Type::Datasec(t) => t.name,
            Type::Float(t) => t.name,
            Type::DeclTag(t) => t.name,
        }
    }

    /// The size word for kinds that have one (INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT).
    pub fn size(&self) -> Option<u32> {
        match self {
            Type::Int(t) => Some(t.size),
            Type::Struct(t) | Type::Union(t) => Some(t.size),
            Type::Enum(t) | Type::Enum64(t) => Some(t.size),
            Type::Datasec(t) => Some(t.size),
            Type::Float(t) => Some(t.size),
            _ => None,
        }
    }

    /// The single type this one refers to (PTR, TYPEDEF, modifiers, TYPE_TAG, FUNC's proto,
    /// VAR's type, DECL_TAG's target, ARRAY's element).
    pub fn ref_type(&self) -> Option<u32> {
        match self {
            Type::Ptr(t)
            | Type::Typedef(t)
            | Type::Volatile(t)
            | Type::Const(t)
            | Type::Restrict(t)
            | Type::TypeTag(t) => Some(t.type_id),
            Type::Func(t) => Some(t.proto),
            Type::Var(t) => Some(t.type_id),
            Type::DeclTag(t) => Some(t.type_id),
            Type::Array(a) => Some(a.elem_type),
            _ => None,
        }
    }

    /// The struct/union view, if this is one.
    pub fn as_composite(&self) -> Option<&Composite<'a>> {
        match self {
            Type::Struct(c) | Type::Union(c) => Some(c),
            _ => None,
        }
    }
}
