//! XDP extras on a real veth pair: an `xdp.frags` program attaches and runs, a devmap entry
//! program runs when packets are redirected through the devmap, a cpumap entry program runs on
//! the CPU that packets are redirected to (and stops when its entry goes), a dev-bound program
//! (`BPF_F_XDP_DEV_BOUND_ONLY` + `prog_ifindex`) attaches only to its device, and netkit
//! links (skipped with the kernel's reason when it has no netkit).

mod links_util;

use links_util::*;
use oxbpf::asm::Insn;
use oxbpf::link::{attach_netkit, attach_xdp, NetkitSide, TcOrder, XdpMode, XdpOptions};
use oxbpf::map::CpuMap;
use oxbpf::netlink::xdp::ifindex;
use oxbpf::prog::{load as load_prog, LoadRequest};
use oxbpf::spec::{LinkType, ProgramType};
use std::os::fd::AsRawFd;

/// `BPF_F_XDP_DEV_BOUND_ONLY`.
const BPF_F_XDP_DEV_BOUND_ONLY: u32 = 1 << 6;

fn moves(pair: &VethPair, m: &oxbpf::map::Map, slot: u32) -> bool {
    let before = count(m, slot);
    eventually(|| {
        pair.traffic();
        count(m, slot) > before
    })
}

#[test]
fn xdp_frags_program_attaches_and_runs() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load("xdp_extra.bpf.o", &["frags_pass"]).expect("load xdp fixture");
    let p = coll.program("frags_pass").unwrap();
    let counts = coll.map("counts").unwrap();
    let pair = VethPair::new();
    let l = pair.a.enter(|| {
        attach_xdp(
            p.fd(),
            ifindex("veth0").unwrap(),
            XdpMode::Driver,
            XdpOptions::default(),
        )
        .expect("attach xdp.frags")
    });
    assert_eq!(l.info().unwrap().prog_id, p.id());
    assert!(moves(&pair, counts, 0), "xdp.frags program does not run");
    drop(l);
    let before = count(counts, 0);
    pair.traffic();
    assert_eq!(count(counts, 0), before);
}

#[test]
fn devmap_entry_program_runs_on_redirect() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load(
        "xdp_extra.bpf.o",
        &["redirect_to_devmap", "devmap_prog", "frags_pass"],
    )
    .expect("load");
    let redirect = coll.program("redirect_to_devmap").unwrap();
    let devprog = coll.program("devmap_prog").unwrap();
    let tx = coll.map("tx").unwrap();
    let counts = coll.map("counts").unwrap();
    let pair = VethPair::new();
    // veth only accepts redirected frames (ndo_xdp_xmit) when its peer runs XDP.
    let peer = pair.b.enter(|| {
        let p = coll.program("frags_pass").unwrap();
        attach_xdp(
            p.fd(),
            ifindex("veth1").unwrap(),
            XdpMode::Driver,
            XdpOptions::default(),
        )
        .unwrap()
    });
    let l = pair.a.enter(|| {
        let idx = ifindex("veth0").unwrap();
        // devmap slot 0: send back out of veth0, running devmap_prog first.
        let mut val = idx.to_ne_bytes().to_vec();
        val.extend_from_slice(&devprog.fd().as_raw_fd().to_ne_bytes());
        tx.update(&0u32.to_ne_bytes(), &val, 0)
            .expect("devmap entry with program");
        attach_xdp(redirect.fd(), idx, XdpMode::Driver, XdpOptions::default()).unwrap()
    });
    assert!(moves(&pair, counts, 1), "redirect program does not run");
    assert!(moves(&pair, counts, 2), "devmap entry program does not run");
    drop(l);
    let before = count(counts, 2);
    pair.traffic();
    assert_eq!(count(counts, 2), before);
    drop(peer);
}

#[test]
fn cpumap_entry_program_runs_on_redirect() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load("xdp_extra.bpf.o", &["redirect_to_cpumap", "cpumap_prog"]).expect("load");
    let redirect = coll.program("redirect_to_cpumap").unwrap();
    let cpuprog = coll.program("cpumap_prog").unwrap();
    let cpus = CpuMap::new(coll.map("cpus").unwrap()).expect("cpumap view");
    let counts = coll.map("counts").unwrap();
    let pair = VethPair::new();
    // CPU 0 takes the redirected frames and runs cpumap_prog there; XDP_PASS hands them to
    // the stack, so the pair's traffic still gets through.
    cpus.set(0, 192, Some(cpuprog.fd()), 0)
        .expect("cpumap entry with program");
    let entry = cpus.get(0).unwrap().expect("cpumap entry reads back");
    assert_eq!(entry.prog_id, Some(cpuprog.id()));
    let l = pair.a.enter(|| {
        let idx = ifindex("veth0").unwrap();
        attach_xdp(redirect.fd(), idx, XdpMode::Driver, XdpOptions::default()).unwrap()
    });
    assert!(moves(&pair, counts, 3), "redirect program does not run");
    assert!(moves(&pair, counts, 4), "cpumap entry program does not run");
    // Without the entry the redirect fails over to XDP_PASS and the cpumap program is idle.
    assert!(cpus.remove(0).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let before = count(counts, 4);
    assert!(moves(&pair, counts, 3), "redirect program stopped running");
    assert_eq!(
        count(counts, 4),
        before,
        "cpumap program ran without its entry"
    );
    drop(l);
}

#[test]
fn dev_bound_program_attaches_only_to_its_device() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let pair = VethPair::new();
    pair.a.enter(|| {
        let idx = ifindex("veth0").unwrap();
        let insns = [
            Insn {
                code: 0xb7,
                regs: 0,
                off: 0,
                imm: 2,
            }, // r0 = XDP_PASS
            Insn {
                code: 0x95,
                ..Default::default()
            }, // exit
        ];
        let mut req = LoadRequest::new("oxbpf_devbound", ProgramType::XDP, &insns, "GPL");
        req.prog_ifindex = idx;
        req.flags = BPF_F_XDP_DEV_BOUND_ONLY;
        let prog = match load_prog(&req) {
            Ok(p) => p,
            Err(e) => return skip_kernel(&format!("dev-bound XDP refused at load: {e}")),
        };
        let lo = ifindex("lo").unwrap();
        let e = attach_xdp(prog.fd(), lo, XdpMode::Auto, XdpOptions::default()).unwrap_err();
        assert!(e.errno().is_some(), "{e}");
        let l = attach_xdp(prog.fd(), idx, XdpMode::Driver, XdpOptions::default()).unwrap();
        assert_eq!(l.info().unwrap().prog_id, prog.id());
    });
}

#[test]
fn dev_bound_collection_program_reads_rx_hash_metadata() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let spec = oxbpf::elf::load_collection_spec_from_file(fixture("xdp_meta.bpf.o")).unwrap();
    // Not device-bound: the verifier refuses the metadata kfunc, and the error says what to do.
    let e = oxbpf::collection::Collection::load(&spec, &Default::default()).unwrap_err();
    if let oxbpf::collection::LoadError::Extern { .. } = e {
        return skip_kernel(&format!("no XDP metadata kfuncs (v6.3+): {e}"));
    }
    let msg = e.to_string();
    assert!(
        msg.contains("device-bound") && msg.contains("dev_bound"),
        "refusal must explain device binding: {msg}"
    );
    let pair = VethPair::new();
    let (coll, link) = pair.a.enter(|| {
        let idx = ifindex("veth0").unwrap();
        let opts = oxbpf::collection::CollectionOptions {
            dev_bound: [("meta_hash".to_string(), idx)].into(),
            ..Default::default()
        };
        let coll = match oxbpf::collection::Collection::load(&spec, &opts) {
            Ok(c) => c,
            Err(e) => {
                skip_kernel(&format!("dev-bound XDP refused at load: {e}"));
                return (None, None);
            }
        };
        let p = coll.program("meta_hash").unwrap();
        let lo = ifindex("lo").unwrap();
        assert!(attach_xdp(p.fd(), lo, XdpMode::Auto, XdpOptions::default()).is_err());
        let l = attach_xdp(p.fd(), idx, XdpMode::Driver, XdpOptions::default()).unwrap();
        (Some(coll), Some(l))
    });
    let (Some(coll), Some(_link)) = (coll, link) else {
        return;
    };
    let meta = coll.map("meta").unwrap();
    assert!(moves(&pair, meta, 0), "dev-bound program does not run");
    // veth hands its XDP program the skb's hash: the kfunc succeeds with a real hash.
    assert!(
        eventually(|| {
            pair.traffic();
            count(meta, 1) > 0
        }),
        "bpf_xdp_metadata_rx_hash never succeeded: last return {}",
        count(meta, 3) as i64
    );
    assert_ne!(count(meta, 2), 0, "rx hash");
}

/// Creates a netkit pair `nk0` in the calling thread's namespace with rtnetlink (iproute2
/// may not know the device type).
fn add_netkit(name: &str) -> Result<(), oxbpf::netlink::NetlinkError> {
    use oxbpf::netlink::msg::{NLM_F_CREATE, NLM_F_EXCL};
    let sock = oxbpf::netlink::Socket::route()?;
    let mut req = oxbpf::netlink::Request::new(16, NLM_F_CREATE | NLM_F_EXCL, "add netkit");
    req.push_raw(&[0u8; 16])
        .attr_str(3, name) // IFLA_IFNAME
        .begin_nest(18) // IFLA_LINKINFO
        .attr_str(1, "netkit") // IFLA_INFO_KIND
        .end_nest();
    sock.send_request(&req).map(drop)
}

#[test]
fn netkit_link_or_kernel_reason() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load("tc.bpf.o", &["tc_a"]).expect("load tc fixture");
    let p = coll.program("tc_a").unwrap();
    let ns = Netns::new("nk");
    ns.enter(|| {
        if let Err(e) = add_netkit("nk0") {
            return skip_kernel(&format!("no netkit device support in this kernel: {e}"));
        }
        let idx = ifindex("nk0").unwrap();
        let l = attach_netkit(p.fd(), idx, NetkitSide::Primary, TcOrder::Default, 0).unwrap();
        let info = l.info().unwrap();
        assert_eq!(info.link_type, Some(LinkType::NETKIT));
        assert_eq!(info.prog_id, p.id());
    });
}
