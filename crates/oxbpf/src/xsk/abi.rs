//! The kernel's AF_XDP ABI (uapi `linux/if_xdp.h`), written out by hand and size-asserted:
//! socket options, bind flags, ring mmap offsets and the structs they take.

/// Address family of XDP sockets.
pub(crate) const AF_XDP: i32 = 44;
/// Socket option level of XDP sockets.
pub(crate) const SOL_XDP: i32 = 283;

/// `sxdp_flags`: share the UMEM of the socket in `sxdp_shared_umem_fd`.
pub(crate) const XDP_SHARED_UMEM: u16 = 1 << 0;
/// `sxdp_flags`: force copy mode.
pub(crate) const XDP_COPY: u16 = 1 << 1;
/// `sxdp_flags`: force zero-copy mode.
pub(crate) const XDP_ZEROCOPY: u16 = 1 << 2;
/// `sxdp_flags`: the kernel sets `XDP_RING_NEED_WAKEUP` when it needs a syscall to go on.
pub(crate) const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
/// `sxdp_flags`: multi-buffer frames (descriptors chained with `XDP_PKT_CONTD`), 6.6+.
pub(crate) const XDP_USE_SG: u16 = 1 << 4;

/// Ring `flags` word: the kernel waits for a wakeup syscall.
pub(crate) const XDP_RING_NEED_WAKEUP: u32 = 1 << 0;
/// `xdp_desc.options`: the frame continues in the next descriptor.
pub(crate) const XDP_PKT_CONTD: u32 = 1 << 0;

/// `getsockopt`: the rings' field offsets ([`MmapOffsets`]).
pub(crate) const XDP_MMAP_OFFSETS: i32 = 1;
/// `setsockopt`: RX ring size.
pub(crate) const XDP_RX_RING: i32 = 2;
/// `setsockopt`: TX ring size.
pub(crate) const XDP_TX_RING: i32 = 3;
/// `setsockopt`: register the UMEM ([`UmemReg`]).
pub(crate) const XDP_UMEM_REG: i32 = 4;
/// `setsockopt`: fill ring size.
pub(crate) const XDP_UMEM_FILL_RING: i32 = 5;
/// `setsockopt`: completion ring size.
pub(crate) const XDP_UMEM_COMPLETION_RING: i32 = 6;
/// `getsockopt`: [`Statistics`].
pub(crate) const XDP_STATISTICS: i32 = 7;
/// `getsockopt`: `struct xdp_options { u32 flags }`.
pub(crate) const XDP_OPTIONS: i32 = 8;
/// `xdp_options.flags`: the socket is bound in zero-copy mode.
pub(crate) const XDP_OPTIONS_ZEROCOPY: u32 = 1 << 0;

/// mmap page offset of the RX ring.
pub(crate) const XDP_PGOFF_RX_RING: u64 = 0;
/// mmap page offset of the TX ring.
pub(crate) const XDP_PGOFF_TX_RING: u64 = 0x8000_0000;
/// mmap page offset of the fill ring.
pub(crate) const XDP_UMEM_PGOFF_FILL_RING: u64 = 0x1_0000_0000;
/// mmap page offset of the completion ring.
pub(crate) const XDP_UMEM_PGOFF_COMPLETION_RING: u64 = 0x1_8000_0000;

/// `struct sockaddr_xdp`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SockaddrXdp {
    pub family: u16,
    pub flags: u16,
    pub ifindex: u32,
    pub queue_id: u32,
    pub shared_umem_fd: u32,
}

/// `struct xdp_umem_reg` (with `tx_metadata_len`, 6.8+; older kernels read the same 32 bytes
/// as `flags` + padding, and a zero `tx_metadata_len` means the same to every version).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct UmemReg {
    pub addr: u64,
    pub len: u64,
    pub chunk_size: u32,
    pub headroom: u32,
    pub flags: u32,
    pub tx_metadata_len: u32,
}

/// `struct xdp_ring_offset`: byte offsets inside one ring's mapping.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RingOffset {
    pub producer: u64,
    pub consumer: u64,
    pub desc: u64,
    pub flags: u64,
}

/// `struct xdp_mmap_offsets`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MmapOffsets {
    pub rx: RingOffset,
    pub tx: RingOffset,
    pub fr: RingOffset,
    pub cr: RingOffset,
}

/// `struct xdp_desc`: one RX or TX descriptor.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct XdpDesc {
    /// Offset of the packet's first byte in the UMEM.
    pub addr: u64,
    /// Bytes of packet data.
    pub len: u32,
    /// `XDP_PKT_CONTD` and friends.
    pub options: u32,
}

const _: () = {
    assert!(std::mem::size_of::<SockaddrXdp>() == 16);
    assert!(std::mem::size_of::<UmemReg>() == 32);
    assert!(std::mem::size_of::<RingOffset>() == 32);
    assert!(std::mem::size_of::<MmapOffsets>() == 128);
    assert!(std::mem::size_of::<XdpDesc>() == 16);
    assert!(std::mem::size_of::<super::stats::Statistics>() == 48);
};
