//! `union bpf_attr` members and `bpf_*_info` structs, one `#[repr(C)]` struct per command.
//!
//! Written by hand from `include/uapi/linux/bpf.h` (v6.12; token fields v6.9). Pointers are
//! `u64` as in the uapi (`__aligned_u64`); fill them with [`super::ptr_to_u64`]. Size and
//! offset assertions at the bottom pin each struct to the uapi layout.

#![allow(missing_docs)]

/// `BPF_MAP_CREATE`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; 16],
    pub map_ifindex: u32,
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub map_extra: u64,
    pub value_type_btf_obj_fd: i32,
    /// With `BPF_F_TOKEN_FD` in `map_flags` (v6.9).
    pub map_token_fd: i32,
}

/// `BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM`, `BPF_MAP_GET_NEXT_KEY`, `BPF_MAP_LOOKUP_AND_DELETE_ELEM`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MapElemAttr {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    /// `value` or `next_key`.
    pub value: u64,
    pub flags: u64,
}

/// `BPF_MAP_*_BATCH`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MapBatchAttr {
    pub in_batch: u64,
    pub out_batch: u64,
    pub keys: u64,
    pub values: u64,
    pub count: u32,
    pub map_fd: u32,
    pub elem_flags: u64,
    pub flags: u64,
}

/// `BPF_MAP_FREEZE`, `BPF_LINK_DETACH` and other single-fd commands.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct FdAttr {
    pub fd: u32,
}

/// `BPF_PROG_LOAD`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; 16],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
    pub prog_btf_fd: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub func_info_cnt: u32,
    pub line_info_rec_size: u32,
    pub line_info: u64,
    pub line_info_cnt: u32,
    pub attach_btf_id: u32,
    /// `attach_prog_fd` or `attach_btf_obj_fd`.
    pub attach_prog_fd: u32,
    pub core_relo_cnt: u32,
    pub fd_array: u64,
    pub core_relos: u64,
    pub core_relo_rec_size: u32,
    pub log_true_size: u32,
    /// With `BPF_F_TOKEN_FD` in `prog_flags` (v6.9).
    pub prog_token_fd: i32,
    pub fd_array_cnt: u32,
}

/// `BPF_OBJ_PIN`, `BPF_OBJ_GET`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ObjPinAttr {
    pub pathname: u64,
    pub bpf_fd: u32,
    pub file_flags: u32,
}

/// `BPF_PROG_ATTACH`, `BPF_PROG_DETACH` (without the v6.6 tcx ordering fields).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ProgAttachAttr {
    pub target_fd: u32,
    pub attach_bpf_fd: u32,
    pub attach_type: u32,
    pub attach_flags: u32,
    pub replace_bpf_fd: u32,
}

/// `BPF_PROG_TEST_RUN`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: u64,
    pub data_out: u64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: u64,
    pub ctx_out: u64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    pub _pad: u32,
}

/// `BPF_*_GET_NEXT_ID`, `BPF_*_GET_FD_BY_ID`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct GetIdAttr {
    /// `start_id` or the object id.
    pub id: u32,
    pub next_id: u32,
    pub open_flags: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct InfoAttr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}

/// `BPF_BTF_LOAD`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct BtfLoadAttr {
    pub btf: u64,
    pub btf_log_buf: u64,
    pub btf_size: u32,
    pub btf_log_size: u32,
    pub btf_log_level: u32,
    pub btf_log_true_size: u32,
    pub btf_flags: u32,
    /// With `BPF_F_TOKEN_FD` in `btf_flags` (v6.9).
    pub btf_token_fd: i32,
}

/// `BPF_TOKEN_CREATE` (v6.9).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct TokenCreateAttr {
    pub flags: u32,
    pub bpffs_fd: u32,
}

/// `BPF_F_TOKEN_FD`: the command's token fd field is set (map, program and BTF flags).
pub const BPF_F_TOKEN_FD: u32 = 1 << 16;

/// `BPF_LINK_CREATE`. `extra` is the command's trailing union (target_btf_id, perf_event,
/// kprobe_multi, tracing, tcx, uprobe_multi, netkit ...), laid out by the caller.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkCreateAttr {
    /// `prog_fd` or `map_fd`.
    pub prog_fd: u32,
    /// `target_fd` or `target_ifindex`.
    pub target_fd: u32,
    pub attach_type: u32,
    pub flags: u32,
    pub extra: [u64; 6],
}

/// `BPF_LINK_UPDATE`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkUpdateAttr {
    pub link_fd: u32,
    pub new_prog_fd: u32,
    pub flags: u32,
    pub old_prog_fd: u32,
}

/// `BPF_RAW_TRACEPOINT_OPEN`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct RawTracepointAttr {
    pub name: u64,
    pub prog_fd: u32,
    pub _pad: u32,
}

/// `BPF_PROG_QUERY` (without the v6.6 revision fields).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ProgQueryAttr {
    pub target_fd: u32,
    pub attach_type: u32,
    pub query_flags: u32,
    pub attach_flags: u32,
    pub prog_ids: u64,
    pub prog_cnt: u32,
    pub _pad: u32,
}

/// `BPF_PROG_BIND_MAP`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ProgBindMapAttr {
    pub prog_fd: u32,
    pub map_fd: u32,
    pub flags: u32,
}

/// `struct bpf_prog_info`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ProgInfo {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub jited_prog_len: u32,
    pub xlated_prog_len: u32,
    pub jited_prog_insns: u64,
    pub xlated_prog_insns: u64,
    pub load_time: u64,
    pub created_by_uid: u32,
    pub nr_map_ids: u32,
    pub map_ids: u64,
    pub name: [u8; 16],
    pub ifindex: u32,
    pub gpl_compatible: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub nr_jited_ksyms: u32,
    pub nr_jited_func_lens: u32,
    pub jited_ksyms: u64,
    pub jited_func_lens: u64,
    pub btf_id: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub nr_func_info: u32,
    pub nr_line_info: u32,
    pub line_info: u64,
    pub jited_line_info: u64,
    pub nr_jited_line_info: u32,
    pub line_info_rec_size: u32,
    pub jited_line_info_rec_size: u32,
    pub nr_prog_tags: u32,
    pub prog_tags: u64,
    pub run_time_ns: u64,
    pub run_cnt: u64,
    pub recursion_misses: u64,
    pub verified_insns: u32,
    pub attach_btf_obj_id: u32,
    pub attach_btf_id: u32,
    pub _pad: u32,
}

/// `struct bpf_map_info`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; 16],
    pub ifindex: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_id: u32,
    pub map_extra: u64,
}

/// `struct bpf_btf_info`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct BtfInfo {
    pub btf: u64,
    pub btf_size: u32,
    pub id: u32,
    pub name: u64,
    pub name_len: u32,
    pub kernel_btf: u32,
}

/// `struct bpf_link_info`: the common head plus the per-type union as raw words.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkInfo {
    pub link_type: u32,
    pub id: u32,
    pub prog_id: u32,
    pub _pad: u32,
    /// The per-link-type union; for XDP links `extra[0] as u32` is the ifindex,
    /// for netns/cgroup/tcx links see the uapi header.
    pub extra: [u64; 8],
}

const _: () = {
    use std::mem::size_of;
    assert!(size_of::<MapCreateAttr>() == 80);
    assert!(size_of::<MapElemAttr>() == 32);
    assert!(size_of::<MapBatchAttr>() == 56);
    assert!(size_of::<ProgLoadAttr>() == 152);
    assert!(size_of::<ObjPinAttr>() == 16);
    assert!(size_of::<TestRunAttr>() == 80);
    assert!(size_of::<InfoAttr>() == 16);
    assert!(size_of::<BtfLoadAttr>() == 40);
    assert!(size_of::<TokenCreateAttr>() == 8);
    assert!(std::mem::offset_of!(MapCreateAttr, map_token_fd) == 76);
    assert!(std::mem::offset_of!(ProgLoadAttr, prog_token_fd) == 144);
    assert!(std::mem::offset_of!(BtfLoadAttr, btf_token_fd) == 36);
    assert!(size_of::<LinkCreateAttr>() == 64);
    assert!(size_of::<ProgInfo>() == 232);
    assert!(size_of::<MapInfo>() == 88);
    assert!(size_of::<BtfInfo>() == 32);
};
