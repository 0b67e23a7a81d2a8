//! `enum bpf_core_relo_kind` and names.

/// What a CO-RE relocation asks for (`enum bpf_core_relo_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoreKind {
    /// Byte offset of a field (`bpf_core_field_offset`, every `BPF_CORE_READ`).
    FieldByteOffset,
    /// Byte size of a field (for a bitfield: of the load that holds it).
    FieldByteSize,
    /// 1 if the field exists in the target, else 0.
    FieldExists,
    /// 1 if the field is a signed integer (or signed enum).
    FieldSigned,
    /// Left shift that brings a bitfield's top bit to bit 63 of a u64 load.
    FieldLshiftU64,
    /// Right shift that then brings the bitfield down to bit 0.
    FieldRshiftU64,
    /// BTF id of the type in the program's own BTF.
    TypeIdLocal,
    /// BTF id of the matching type in the target BTF (0 if none).
    TypeIdTarget,
    /// 1 if a compatible type exists in the target.
    TypeExists,
    /// Size of the target type (0 if none).
    TypeSize,
    /// 1 if the enumerator exists in the target enum.
    EnumvalExists,
    /// The enumerator's value in the target.
    EnumvalValue,
    /// 1 if the target type matches the local one (`bpf_core_type_matches`).
    TypeMatches,
}

impl CoreKind {
    /// From the raw `kind` of a `bpf_core_relo` record.
    pub fn from_raw(v: u32) -> Option<CoreKind> {
        use CoreKind::*;
        Some(match v {
            0 => FieldByteOffset,
            1 => FieldByteSize,
            2 => FieldExists,
            3 => FieldSigned,
            4 => FieldLshiftU64,
            5 => FieldRshiftU64,
            6 => TypeIdLocal,
            7 => TypeIdTarget,
            8 => TypeExists,
            9 => TypeSize,
            10 => EnumvalExists,
            11 => EnumvalValue,
            12 => TypeMatches,
            _ => return None,
        })
    }

    /// The raw value.
    pub fn raw(self) -> u32 {
        self as u32
    }

    /// Short name, as libbpf logs it (`byte_off`, `field_exists`, ...).
    pub fn name(self) -> &'static str {
        use CoreKind::*;
        match self {
            FieldByteOffset => "byte_off",
            FieldByteSize => "byte_sz",
            FieldExists => "field_exists",
            FieldSigned => "signed",
            FieldLshiftU64 => "lshift_u64",
            FieldRshiftU64 => "rshift_u64",
            TypeIdLocal => "local_type_id",
            TypeIdTarget => "target_type_id",
            TypeExists => "type_exists",
            TypeSize => "type_size",
            EnumvalExists => "enumval_exists",
            EnumvalValue => "enumval_value",
            TypeMatches => "type_matches",
        }
    }

    /// Field-based kinds (0..=5): the access string walks members and array elements.
    pub fn is_field(self) -> bool {
        self.raw() <= 5
    }

    /// Type-based kinds: the access string is `"0"`.
    pub fn is_type(self) -> bool {
        matches!(
            self,
            CoreKind::TypeIdLocal
                | CoreKind::TypeIdTarget
                | CoreKind::TypeExists
                | CoreKind::TypeSize
                | CoreKind::TypeMatches
        )
    }

    /// Enumerator-based kinds: the access string is the enumerator index.
    pub fn is_enumval(self) -> bool {
        matches!(self, CoreKind::EnumvalExists | CoreKind::EnumvalValue)
    }
}

impl std::fmt::Display for CoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
