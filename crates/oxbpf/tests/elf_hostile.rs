//! Hostile object input: files that are not regular, too large, or ELF whose code vanished must
//! be refused with a clear error, never read forever or "loaded" as an object with no programs.

use oxbpf::elf::{load_collection_spec, load_collection_spec_from_file, read_bounded, ElfError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name),
    )
    .unwrap()
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(b[off..off + 2].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// Byte offset of the ELF64 section header named `name`.
fn section_header(b: &[u8], name: &str) -> usize {
    let (shoff, shentsize) = (u64_at(b, 0x28) as usize, u16_at(b, 0x3a) as usize);
    let (shnum, shstrndx) = (u16_at(b, 0x3c) as usize, u16_at(b, 0x3e) as usize);
    let strtab = u64_at(b, shoff + shstrndx * shentsize + 0x18) as usize;
    (0..shnum)
        .map(|i| shoff + i * shentsize)
        .find(|&h| {
            let at = strtab + u32::from_le_bytes(b[h..h + 4].try_into().unwrap()) as usize;
            b[at..].split(|&c| c == 0).next() == Some(name.as_bytes())
        })
        .unwrap_or_else(|| panic!("no section {name}"))
}

/// A path unique to this test process, removed on drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        // The system's temp dir: CARGO_TARGET_TMPDIR is a host path, absent in the test VM.
        Tmp(std::env::temp_dir().join(format!("oxbpf-{tag}-{}", std::process::id())))
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn no_section_table_is_an_error() {
    let mut b = fixture("xdp.bpf.o");
    b[0x3c..0x3e].copy_from_slice(&0u16.to_le_bytes());
    let err = load_collection_spec(&b).unwrap_err();
    assert!(matches!(err, ElfError::Format(_)), "{err}");
    assert!(err.to_string().contains("e_shnum = 0"), "{err}");
}

#[test]
fn empty_code_section_with_functions_and_relocations_is_an_error() {
    let mut b = fixture("xdp.bpf.o");
    let h = section_header(&b, "xdp");
    b[h + 0x20..h + 0x28].copy_from_slice(&0u64.to_le_bytes());
    let err = load_collection_spec(&b).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("'xdp' is empty") && msg.contains("function symbol"),
        "{msg}"
    );
    // clang's empty `.text` (nothing points into it) stays fine.
    let spec = load_collection_spec(&fixture("xdp.bpf.o")).unwrap();
    assert_eq!(spec.programs.len(), 3);
}

#[test]
fn devices_fifos_and_directories_are_refused_without_reading() {
    let fifo = Tmp::new("fifo");
    let c = std::ffi::CString::new(fifo.0.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let start = Instant::now();
    for (path, kind) in [
        (Path::new("/dev/zero"), "character device"),
        (fifo.0.as_path(), "FIFO"),
        (Path::new(env!("CARGO_MANIFEST_DIR")), "directory"),
    ] {
        let err = load_collection_spec_from_file(path).unwrap_err();
        assert!(matches!(err, ElfError::NotRegularFile { .. }), "{err}");
        assert!(err.to_string().contains(kind), "{err}");
    }
    assert!(start.elapsed() < Duration::from_secs(5), "refused at once");
}

#[test]
fn files_over_the_bound_are_refused_from_their_size() {
    let sparse = Tmp::new("sparse");
    let f = std::fs::File::create(&sparse.0).unwrap();
    f.set_len(2 << 30).unwrap(); // 2 GiB, no blocks allocated
    let start = Instant::now();
    let err = load_collection_spec_from_file(&sparse.0).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2), "not read whole");
    match &err {
        ElfError::TooLarge { size, limit, .. } => {
            assert_eq!((*size, *limit), (2 << 30, oxbpf::elf::MAX_OBJECT_SIZE))
        }
        e => panic!("{e}"),
    }
    assert!(err.to_string().contains("2147483648 bytes"), "{err}");
    // Under the bound a file is read whole; one byte over is refused.
    std::fs::write(&sparse.0, [7u8; 100]).unwrap();
    assert_eq!(read_bounded(&sparse.0, 100).unwrap(), [7u8; 100]);
    assert!(matches!(
        read_bounded(&sparse.0, 99),
        Err(ElfError::TooLarge { size: 100, .. })
    ));
}
