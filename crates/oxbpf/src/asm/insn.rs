//! The instruction slot (`struct bpf_insn`).

/// One 8-byte instruction slot, as the kernel sees it. A 64-bit immediate load (`ld_imm64`)
/// occupies two consecutive slots; the second has `code == 0` and carries the upper 32 bits.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high nibble.
    pub regs: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// Size of one slot in bytes.
    pub const SIZE: usize = 8;

    /// Decodes one little-endian slot.
    pub fn from_bytes(b: [u8; 8]) -> Self {
        Insn {
            code: b[0],
            regs: b[1],
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encodes one little-endian slot.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// Destination register.
    pub fn dst(self) -> u8 {
        self.regs & 0x0f
    }

    /// Source register.
    pub fn src(self) -> u8 {
        self.regs >> 4
    }

    /// Sets the source register.
    pub fn set_src(&mut self, src: u8) {
        self.regs = (self.regs & 0x0f) | (src << 4);
    }

    /// Sets the destination register.
    pub fn set_dst(&mut self, dst: u8) {
        self.regs = (self.regs & 0xf0) | (dst & 0x0f);
    }

    /// True for the first slot of a 64-bit immediate load (`BPF_LD | BPF_IMM | BPF_DW`).
    pub fn is_ld_imm64(self) -> bool {
        self.code == 0x18
    }

    /// True for a call (`BPF_JMP | BPF_CALL`).
    pub fn is_call(self) -> bool {
        self.code == 0x85
    }

    /// Decodes a byte slice whose length is a multiple of 8; `None` otherwise.
    pub fn decode_all(bytes: &[u8]) -> Option<Vec<Insn>> {
        if bytes.len() % Self::SIZE != 0 {
            return None;
        }
        Some(
            bytes
                .chunks_exact(Self::SIZE)
                .map(|c| Insn::from_bytes(c.try_into().expect("chunk of 8")))
                .collect(),
        )
    }

    /// Encodes instructions to the byte layout `BPF_PROG_LOAD` takes.
    pub fn encode_all(insns: &[Insn]) -> Vec<u8> {
        insns.iter().flat_map(|i| i.to_bytes()).collect()
    }
}
