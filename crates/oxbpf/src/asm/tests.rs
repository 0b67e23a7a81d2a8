//! Unit tests: constructors produce the kernel encodings and print as llvm-objdump does.

use super::opcode::*;
use super::*;

fn text(i: Insn) -> String {
    i.to_string()
}

#[test]
fn constructors_encode_like_clang() {
    // Bytes taken from llvm-objdump output of the fixtures.
    assert_eq!(
        Insn::mov64_imm(0, 2).to_bytes(),
        [0xb7, 0, 0, 0, 2, 0, 0, 0]
    );
    assert_eq!(Insn::exit().to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(Insn::call_helper(2).to_bytes(), [0x85, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(
        Insn::mov64_reg(2, 10).to_bytes(),
        [0xbf, 0xa2, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        Insn::alu64_imm(BPF_ADD, 2, -4).to_bytes(),
        [0x07, 0x02, 0, 0, 0xfc, 0xff, 0xff, 0xff]
    );
    assert_eq!(
        Insn::stx_mem(BPF_DW, 10, 2, -16).to_bytes(),
        [0x7b, 0x2a, 0xf0, 0xff, 0, 0, 0, 0]
    );
    assert_eq!(
        Insn::ldx_mem(BPF_W, 7, 1, 4).to_bytes(),
        [0x61, 0x17, 0x04, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        Insn::jmp_reg(BPF_JGT, 1, 2, 0x45).to_bytes(),
        [0x2d, 0x21, 0x45, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        Insn::call_pseudo(-21).to_bytes(),
        [0x85, 0x10, 0, 0, 0xeb, 0xff, 0xff, 0xff]
    );
    let ld = Insn::ld_imm64(1, 0, 0x0807_0605_0403_0201);
    assert_eq!(
        Insn::encode_all(&ld),
        [0x18, 1, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8]
    );
    assert_eq!(ld[0].imm64(ld[1]), 0x0807_0605_0403_0201);
}

#[test]
fn pseudo_loads_and_calls() {
    let [a, b] = Insn::ld_map_fd(1, 5);
    assert!(a.is_ld_imm64());
    assert_eq!((a.src(), a.imm, b.imm), (BPF_PSEUDO_MAP_FD, 5, 0));
    let [a, b] = Insn::ld_map_value(2, 7, 16);
    assert_eq!((a.src(), a.imm, b.imm), (BPF_PSEUDO_MAP_VALUE, 7, 16));
    assert!(Insn::call_helper(1).is_helper_call());
    assert!(Insn::call_pseudo(3).is_pseudo_call());
    let k = Insn::call_kfunc(1234, 2);
    assert!(k.is_kfunc_call() && !k.is_helper_call());
    assert_eq!((k.imm, k.off), (1234, 2));
}

#[test]
fn display_matches_objdump_forms() {
    assert_eq!(
        text(Insn::ldx_mem(BPF_W, 1, 1, 4)),
        "r1 = *(u32 *)(r1 + 0x4)"
    );
    assert_eq!(
        text(Insn::jmp_reg(BPF_JGT, 2, 3, 5)),
        "if r2 > r3 goto +0x5"
    );
    assert_eq!(
        text(Insn::jmp32_imm(BPF_JSLT, 2, -3, -1)),
        "if w2 s< -0x3 goto -0x1"
    );
    assert_eq!(text(Insn::mov64_imm(0, 2)), "r0 = 0x2");
    assert_eq!(text(Insn::alu32_imm(BPF_ADD, 1, 1)), "w1 += 0x1");
    assert_eq!(text(Insn::call_helper(1)), "call 0x1");
    assert_eq!(text(Insn::exit()), "exit");
    assert_eq!(text(Insn::endian(true, 1, 16)), "r1 = be16 r1");
    assert_eq!(text(Insn::bswap(1, 64)), "r1 = bswap64 r1");
    assert_eq!(text(Insn::movsx64(1, 2, 8)), "r1 = (s8)r2");
    assert_eq!(
        text(Insn::ldx_memsx(BPF_H, 1, 7, 14)),
        "r1 = *(s16 *)(r7 + 0xe)"
    );
    assert_eq!(
        text(Insn::st_mem(BPF_H, 10, -2, -2)),
        "*(u16 *)(r10 - 0x2) = -0x2"
    );
    assert_eq!(text(Insn::neg64(3)), "r3 = -r3");
    assert_eq!(text(Insn::gotol(1)), "gotol +0x1");
    assert_eq!(text(Insn::ja(-3)), "goto -0x3");
    assert_eq!(text(Insn::may_goto(2)), "may_goto +0x2");
    assert_eq!(
        text(Insn::atomic(BPF_DW, BPF_ADD as i32, 1, 2, 0)),
        "lock *(u64 *)(r1 + 0x0) += r2"
    );
    assert_eq!(
        text(Insn::atomic(BPF_W, BPF_ADD as i32 | BPF_FETCH, 1, 2, 4)),
        "w2 = atomic_fetch_add((u32 *)(r1 + 0x4), w2)"
    );
    assert_eq!(
        text(Insn::atomic(BPF_DW, BPF_CMPXCHG, 1, 2, -8)),
        "r0 = cmpxchg_64(r1 - 0x8, r0, r2)"
    );
    assert_eq!(text(Insn::new(0xff, 0, 0, 0, 0)), "<unknown>");
    let ld = Insn::ld_imm64(1, 0, 0);
    assert_eq!(format_insn(ld[0], Some(ld[1])), "r1 = 0x0 ll");
    let ld = Insn::ld_imm64(1, 0, u64::MAX);
    assert_eq!(format_insn(ld[0], Some(ld[1])), "r1 = -0x1 ll");
    let ld = Insn::ld_map_fd(1, 5);
    assert_eq!(format_insn(ld[0], Some(ld[1])), "ld_pseudo\tr1, 0x1, 0x5");
}

#[test]
fn disassemble_lays_out_slots_and_annotates() {
    let mut prog = vec![Insn::mov64_imm(1, 0)];
    prog.extend(Insn::ld_imm64(2, 0, 1 << 40));
    prog.push(Insn::jmp_imm(BPF_JEQ, 1, 0, 1));
    prog.push(Insn::call_helper(1));
    prog.push(Insn::exit());
    let plain = disassemble(&prog);
    assert_eq!(
        plain,
        "       0:\tr1 = 0x0\n       1:\tr2 = 0x10000000000 ll\n       3:\tif r1 == 0x0 goto +0x1\n       4:\tcall 0x1\n       5:\texit\n"
    );
    let ann = disassemble_annotated(&prog);
    assert!(ann.contains("if r1 == 0x0 goto +0x1 <5>"), "{ann}");
    assert!(ann.contains("call 0x1 ; bpf_map_lookup_elem"), "{ann}");
    // A truncated ld_imm64 at the end still prints (upper half taken as zero).
    assert_eq!(instructions(&prog[..2]).len(), 2);
}

#[test]
fn branch_targets() {
    assert_eq!(Insn::ja(-3).branch_target(10), Some(8));
    assert_eq!(Insn::gotol(100).branch_target(0), Some(101));
    assert_eq!(Insn::call_pseudo(5).branch_target(2), Some(8));
    assert_eq!(Insn::call_helper(5).branch_target(2), None);
    assert_eq!(Insn::exit().branch_target(2), None);
    assert_eq!(Insn::mov64_imm(0, 1).branch_target(2), None);
    let f = Insn::ld_imm64(2, BPF_PSEUDO_FUNC, 4);
    assert_eq!(f[0].branch_target(3), Some(8));
}
