//! The raw ELF layer: sections, symbols and `.rel` entries, validated once, via the `object` crate's
//! low-level ELF parser (it bounds-checks every table; we keep only what a BPF object needs).

use super::ElfError;
use object::elf;
use object::read::elf::{FileHeader, Rel as _, SectionHeader as _, Sym as _};
use object::Endianness;
use std::collections::BTreeMap;

/// One ELF section.
#[derive(Debug, Clone)]
pub(super) struct Section<'a> {
    pub index: usize,
    pub name: &'a str,
    pub sh_type: u32,
    pub flags: u64,
    pub size: u64,
    /// File contents; empty for `SHT_NOBITS`.
    pub data: &'a [u8],
}

impl Section<'_> {
    /// True for sections holding instructions.
    pub fn is_exec(&self) -> bool {
        self.sh_type == elf::SHT_PROGBITS && self.flags & u64::from(elf::SHF_EXECINSTR) != 0
    }
}

/// One symbol-table entry.
#[derive(Debug, Clone)]
pub(super) struct Symbol<'a> {
    pub index: usize,
    pub name: &'a str,
    pub value: u64,
    pub size: u64,
    pub shndx: u16,
    pub bind: u8,
    pub kind: u8,
}

impl Symbol<'_> {
    /// Undefined symbol (an extern).
    pub fn is_undef(&self) -> bool {
        self.shndx == elf::SHN_UNDEF
    }
    /// Defined in a regular section: its index.
    pub fn section(&self) -> Option<usize> {
        (self.shndx != elf::SHN_UNDEF && self.shndx < elf::SHN_LORESERVE)
            .then_some(self.shndx as usize)
    }
    /// `STB_WEAK`.
    pub fn is_weak(&self) -> bool {
        self.bind == elf::STB_WEAK
    }
    /// `STB_GLOBAL` or `STB_WEAK`.
    pub fn is_global(&self) -> bool {
        self.bind == elf::STB_GLOBAL || self.bind == elf::STB_WEAK
    }
}

/// One `.rel` entry.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawRel {
    /// Byte offset in the target section.
    pub offset: u64,
    /// Symbol index.
    pub sym: usize,
    /// `R_BPF_*` type.
    pub r_type: u32,
}

/// A parsed BPF ELF file.
#[derive(Debug)]
pub(super) struct ElfObject<'a> {
    pub sections: Vec<Section<'a>>,
    pub symbols: Vec<Symbol<'a>>,
    /// Relocations by the index of the section they apply to.
    pub rels: BTreeMap<usize, Vec<RawRel>>,
}

fn fmt(what: impl Into<String>) -> ElfError {
    ElfError::Format(what.into())
}

impl<'a> ElfObject<'a> {
    /// Parses and validates the headers, section table, symbol table and relocation tables.
    pub fn parse(data: &'a [u8]) -> Result<Self, ElfError> {
        let header = elf::FileHeader64::<Endianness>::parse(data)
            .map_err(|e| fmt(format!("not a 64-bit ELF file ({e})")))?;
        let endian = header.endian().map_err(|e| fmt(e.to_string()))?;
        if endian != Endianness::Little {
            return Err(ElfError::Unsupported(
                "big-endian BPF objects (bpfeb); compile with -target bpfel or -target bpf on a little-endian host".into(),
            ));
        }
        let machine = header.e_machine(endian);
        if machine != elf::EM_BPF {
            return Err(ElfError::NotBpf { machine });
        }
        if header.e_type(endian) != elf::ET_REL {
            return Err(fmt(
                "not a relocatable object (ET_REL); pass the output of `clang -c`",
            ));
        }
        let table = header
            .sections(endian, data)
            .map_err(|e| fmt(format!("section table: {e}")))?;
        let mut sections = Vec::with_capacity(table.len());
        for (idx, sh) in table.enumerate() {
            let name = table
                .section_name(endian, sh)
                .map_err(|e| fmt(format!("section {} name: {e}", idx.0)))?;
            let name = std::str::from_utf8(name)
                .map_err(|_| fmt(format!("section {} name is not UTF-8", idx.0)))?;
            let sh_type = sh.sh_type(endian);
            let data = if sh_type == elf::SHT_NOBITS {
                &[][..]
            } else {
                sh.data(endian, data)
                    .map_err(|_| fmt(format!("section '{name}' lies outside the file")))?
            };
            sections.push(Section {
                index: idx.0,
                name,
                sh_type,
                flags: sh.sh_flags(endian),
                size: sh.sh_size(endian),
                data,
            });
        }
        if sections.is_empty() {
            return Err(fmt(
                "no section table (e_shnum = 0): the object has no code, maps or licence; \
                 is the file truncated or not a `clang -c` output?",
            ));
        }
        let symtab = table
            .symbols(endian, data, elf::SHT_SYMTAB)
            .map_err(|e| fmt(format!("symbol table: {e}")))?;
        let mut symbols = Vec::with_capacity(symtab.len());
        for (idx, sym) in symtab.enumerate() {
            let name = symtab
                .symbol_name(endian, sym)
                .map_err(|e| fmt(format!("symbol {} name: {e}", idx.0)))?;
            let name = std::str::from_utf8(name)
                .map_err(|_| fmt(format!("symbol {} name is not UTF-8", idx.0)))?;
            symbols.push(Symbol {
                index: idx.0,
                name,
                value: sym.st_value(endian),
                size: sym.st_size(endian),
                shndx: sym.st_shndx(endian),
                bind: sym.st_bind(),
                kind: sym.st_type(),
            });
        }
        let mut rels: BTreeMap<usize, Vec<RawRel>> = BTreeMap::new();
        for (idx, sh) in table.enumerate() {
            let name = sections[idx.0].name;
            match sh.sh_type(endian) {
                elf::SHT_REL => {}
                elf::SHT_RELA => {
                    return Err(ElfError::Unsupported(format!(
                        "RELA relocation section '{name}' (BPF objects use REL)"
                    )))
                }
                _ => continue,
            }
            let target = sh.sh_info(endian) as usize;
            if target == 0 || target >= sections.len() {
                return Err(fmt(format!(
                    "relocation section '{name}' targets section {target}, which does not exist"
                )));
            }
            let entries: &[elf::Rel64<Endianness>] = sh
                .data_as_array(endian, data)
                .map_err(|_| fmt(format!("relocation section '{name}' lies outside the file")))?;
            let list = rels.entry(target).or_default();
            for r in entries {
                let sym = r.r_sym(endian) as usize;
                if sym >= symbols.len() {
                    return Err(fmt(format!(
                        "relocation in '{name}' at {:#x} names symbol {sym}; the table has {}",
                        r.r_offset(endian),
                        symbols.len()
                    )));
                }
                list.push(RawRel {
                    offset: r.r_offset(endian),
                    sym,
                    r_type: r.r_type(endian),
                });
            }
        }
        Ok(ElfObject {
            sections,
            symbols,
            rels,
        })
    }

    /// The section named `name`.
    pub fn section_by_name(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Symbols defined in section `idx`, sorted by value.
    pub fn symbols_in(&self, idx: usize) -> Vec<&Symbol<'a>> {
        let mut v: Vec<_> = self
            .symbols
            .iter()
            .filter(|s| s.section() == Some(idx))
            .collect();
        v.sort_by_key(|s| (s.value, s.index));
        v
    }
}
