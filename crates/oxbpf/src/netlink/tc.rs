//! rtnetlink TC requests for the `cls_bpf` fallback: the `clsact` qdisc (`RTM_NEWQDISC` /
//! `RTM_DELQDISC`) and direct-action `bpf` filters (`RTM_NEWTFILTER` / `RTM_DELTFILTER` /
//! `RTM_GETTFILTER` dumps). Constants from `linux/pkt_sched.h`, `linux/pkt_cls.h` and
//! `linux/rtnetlink.h`.

use super::msg::{attr_string, attr_u32, attrs, Request, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use super::{NetlinkError, Socket};

const RTM_NEWQDISC: u16 = 36;
const RTM_DELQDISC: u16 = 37;
const RTM_GETQDISC: u16 = 38;
const RTM_NEWTFILTER: u16 = 44;
const RTM_DELTFILTER: u16 = 45;
const RTM_GETTFILTER: u16 = 46;
/// `NLM_F_ECHO`: send the created object back to the requester.
const NLM_F_ECHO: u16 = 0x08;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_ID: u16 = 11;
/// `TCA_BPF_FLAG_ACT_DIRECT`: the program's return value is the TC action.
pub const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
/// `TC_H_CLSACT` (same value as `TC_H_INGRESS`): the clsact qdisc's parent.
pub const TC_H_CLSACT: u32 = 0xFFFF_FFF1;
/// Minor of the clsact ingress hook.
pub const TC_H_MIN_INGRESS: u32 = 0xFFF2;
/// Minor of the clsact egress hook.
pub const TC_H_MIN_EGRESS: u32 = 0xFFF3;
/// `sizeof(struct tcmsg)`.
const TCMSG_LEN: usize = 20;

/// `TC_H_MAKE(maj, min)`.
pub const fn tc_h_make(maj: u32, min: u32) -> u32 {
    (maj & 0xFFFF_0000) | (min & 0xFFFF)
}

/// A filter on a device, as `RTM_GETTFILTER` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The parent (e.g. `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)`).
    pub parent: u32,
    /// Priority (`pref` in `tc filter show`).
    pub priority: u16,
    /// Filter handle.
    pub handle: u32,
    /// Classifier kind (`"bpf"`, `"u32"`, `"flower"`...).
    pub kind: String,
    /// For `bpf` filters: the program id (0 otherwise).
    pub prog_id: u32,
    /// For `bpf` filters: the name given at attach.
    pub name: String,
    /// For `bpf` filters: direct-action mode.
    pub direct_action: bool,
}

fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> [u8; TCMSG_LEN] {
    let mut m = [0u8; TCMSG_LEN]; // family AF_UNSPEC + padding
    m[4..8].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    m[8..12].copy_from_slice(&handle.to_ne_bytes());
    m[12..16].copy_from_slice(&parent.to_ne_bytes());
    m[16..20].copy_from_slice(&info.to_ne_bytes());
    m
}

/// `tcm_info` of a filter: priority in the upper half, protocol (network order) below.
fn filter_info(priority: u16) -> u32 {
    ((priority as u32) << 16) | (libc::ETH_P_ALL as u16).to_be() as u32
}

/// True if device `ifindex` has a `clsact` qdisc.
pub fn has_clsact(sock: &Socket, ifindex: u32) -> Result<bool, NetlinkError> {
    let mut req = Request::new(
        RTM_GETQDISC,
        NLM_F_DUMP,
        format!("list qdiscs of ifindex {ifindex}"),
    );
    req.push_raw(&tcmsg(ifindex, 0, 0, 0));
    let replies = sock.send_request(&req)?;
    Ok(replies.iter().any(|r| {
        let Some(head) = r.payload.get(..TCMSG_LEN) else {
            return false;
        };
        let idx = i32::from_ne_bytes(head[4..8].try_into().expect("4 bytes")) as u32;
        let parent = u32::from_ne_bytes(head[12..16].try_into().expect("4 bytes"));
        idx == ifindex
            && parent == TC_H_CLSACT
            && attrs(&r.payload[TCMSG_LEN..])
                .any(|(t, p)| t == TCA_KIND && attr_string(p) == "clsact")
    }))
}

/// Adds a `clsact` qdisc to the device; `Ok(false)` if it already had one.
pub fn add_clsact(sock: &Socket, ifindex: u32, ifname: &str) -> Result<bool, NetlinkError> {
    let mut req = Request::new(
        RTM_NEWQDISC,
        NLM_F_CREATE | NLM_F_EXCL,
        format!("add clsact qdisc to {ifname}"),
    );
    req.push_raw(&tcmsg(ifindex, tc_h_make(TC_H_CLSACT, 0), TC_H_CLSACT, 0))
        .attr_str(TCA_KIND, "clsact");
    match sock.send_request(&req) {
        Ok(_) => Ok(true),
        Err(e) if e.errno() == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes the device's `clsact` qdisc (and every filter in it).
pub fn del_clsact(sock: &Socket, ifindex: u32, ifname: &str) -> Result<(), NetlinkError> {
    let mut req = Request::new(
        RTM_DELQDISC,
        0,
        format!("remove clsact qdisc from {ifname}"),
    );
    req.push_raw(&tcmsg(ifindex, tc_h_make(TC_H_CLSACT, 0), TC_H_CLSACT, 0))
        .attr_str(TCA_KIND, "clsact");
    sock.send_request(&req).map(drop)
}

/// A new direct-action `bpf` filter.
#[derive(Debug, Clone, Copy)]
pub struct NewBpfFilter<'a> {
    /// Parent, e.g. `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)`.
    pub parent: u32,
    /// Priority; 0 lets the kernel pick one.
    pub priority: u16,
    /// Handle; 0 lets the kernel pick one.
    pub handle: u32,
    /// The program fd.
    pub prog_fd: i32,
    /// Name shown by `tc filter show`.
    pub name: &'a str,
}

/// Adds a direct-action `bpf` filter, failing with `EEXIST` if the priority/handle is taken.
/// Returns the priority and handle the filter got (echoed back by the kernel).
pub fn add_bpf_filter(
    sock: &Socket,
    ifindex: u32,
    ifname: &str,
    f: NewBpfFilter,
) -> Result<(u16, u32), NetlinkError> {
    let what = format!("add bpf filter {:?} to {ifname}", f.name);
    let mut req = Request::new(
        RTM_NEWTFILTER,
        NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO,
        &*what,
    );
    req.push_raw(&tcmsg(ifindex, f.handle, f.parent, filter_info(f.priority)))
        .attr_str(TCA_KIND, "bpf")
        .begin_nest(TCA_OPTIONS)
        .attr_u32(TCA_BPF_FD, f.prog_fd as u32)
        .attr_str(TCA_BPF_NAME, f.name)
        .attr_u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT)
        .end_nest();
    let replies = sock.send_request(&req)?;
    let echoed = replies
        .iter()
        .filter(|r| r.msg_type == RTM_NEWTFILTER)
        .filter_map(|r| parse_filter(&r.payload))
        .find(|x| x.handle != 0);
    match echoed {
        Some(x) => Ok((x.priority, x.handle)),
        None if f.priority != 0 && f.handle != 0 => Ok((f.priority, f.handle)),
        None => Err(NetlinkError::malformed(
            &what,
            "kernel did not echo the new filter",
        )),
    }
}

/// Removes the filter at `priority`/`handle` under `parent`.
pub fn del_filter(
    sock: &Socket,
    ifindex: u32,
    ifname: &str,
    parent: u32,
    priority: u16,
    handle: u32,
) -> Result<(), NetlinkError> {
    let mut req = Request::new(
        RTM_DELTFILTER,
        0,
        format!("remove bpf filter pref {priority} handle {handle:#x} from {ifname}"),
    );
    req.push_raw(&tcmsg(ifindex, handle, parent, filter_info(priority)))
        .attr_str(TCA_KIND, "bpf");
    sock.send_request(&req).map(drop)
}

/// Every filter under `parent` on the device (chain heads without a handle are skipped).
pub fn list_filters(sock: &Socket, ifindex: u32, parent: u32) -> Result<Vec<Filter>, NetlinkError> {
    let mut req = Request::new(
        RTM_GETTFILTER,
        NLM_F_DUMP,
        format!("list filters of ifindex {ifindex} parent {parent:#x}"),
    );
    req.push_raw(&tcmsg(ifindex, 0, parent, 0));
    let replies = sock.send_request(&req)?;
    Ok(replies
        .iter()
        .filter(|r| r.msg_type == RTM_NEWTFILTER)
        .filter_map(|r| parse_filter(&r.payload))
        .filter(|f| f.handle != 0 && f.parent == parent)
        .collect())
}

fn parse_filter(payload: &[u8]) -> Option<Filter> {
    let head = payload.get(..TCMSG_LEN)?;
    let word = |o: usize| u32::from_ne_bytes(head[o..o + 4].try_into().expect("4 bytes"));
    let mut f = Filter {
        parent: word(12),
        priority: (word(16) >> 16) as u16,
        handle: word(8),
        kind: String::new(),
        prog_id: 0,
        name: String::new(),
        direct_action: false,
    };
    for (ty, p) in attrs(&payload[TCMSG_LEN..]) {
        match ty {
            TCA_KIND => f.kind = attr_string(p),
            TCA_OPTIONS => {
                for (ty, p) in attrs(p) {
                    match ty {
                        TCA_BPF_ID => f.prog_id = attr_u32(p).unwrap_or(0),
                        TCA_BPF_NAME => f.name = attr_string(p),
                        TCA_BPF_FLAGS => {
                            f.direct_action =
                                attr_u32(p).unwrap_or(0) & TCA_BPF_FLAG_ACT_DIRECT != 0
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if f.kind != "bpf" {
        f.prog_id = 0;
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_and_info() {
        assert_eq!(tc_h_make(TC_H_CLSACT, 0), 0xFFFF_0000);
        assert_eq!(tc_h_make(TC_H_CLSACT, TC_H_MIN_INGRESS), 0xFFFF_FFF2);
        assert_eq!(filter_info(1) >> 16, 1);
        assert_eq!((filter_info(7) & 0xFFFF) as u16, 3u16.to_be());
    }

    #[test]
    fn parse_filter_reads_bpf_options_and_ignores_junk() {
        let mut r = Request::new(0, 0, "");
        r.push_raw(&tcmsg(3, 0x1, 0xFFFF_FFF2, filter_info(5)))
            .attr_str(TCA_KIND, "bpf")
            .begin_nest(TCA_OPTIONS)
            .attr_u32(TCA_BPF_ID, 42)
            .attr_str(TCA_BPF_NAME, "p")
            .attr_u32(TCA_BPF_FLAGS, 1)
            .end_nest();
        let m = r.encode(1);
        let f = parse_filter(&m[16..]).unwrap();
        assert_eq!((f.priority, f.handle, f.prog_id), (5, 1, 42));
        assert!(f.direct_action);
        assert_eq!(f.kind, "bpf");
        assert!(parse_filter(&[1, 2, 3]).is_none());
    }
}
