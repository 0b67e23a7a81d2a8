//! Netlink message framing: a request builder (header, family struct, attributes, nests) and
//! an attribute walker for replies. Constants come from the uapi headers
//! (`linux/netlink.h`, `linux/rtnetlink.h`, `linux/if_link.h`).

/// `NLM_F_REQUEST`: the message is a request.
pub const NLM_F_REQUEST: u16 = 0x01;
/// `NLM_F_ACK`: ask for an `NLMSG_ERROR` acknowledgement.
pub const NLM_F_ACK: u16 = 0x04;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`): ask for every object.
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_REPLACE`: replace an existing object (new* requests).
pub const NLM_F_REPLACE: u16 = 0x100;
/// `NLM_F_EXCL`: fail if the object exists (new* requests).
pub const NLM_F_EXCL: u16 = 0x200;
/// `NLM_F_CREATE`: create the object if missing (new* requests).
pub const NLM_F_CREATE: u16 = 0x400;
/// `NLM_F_CAPPED` on an error reply: only the request's header is echoed.
pub const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS` on an error reply: extended-ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;

/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an error or an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: end of a multi-part (dump) reply.
pub const NLMSG_DONE: u16 = 3;

/// `NLMSGERR_ATTR_MSG`: the extended-ack text.
pub const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NLA_F_NESTED`: the attribute holds attributes.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// Mask of the attribute type bits (without `NLA_F_NESTED`/`NLA_F_NET_BYTEORDER`).
pub const NLA_TYPE_MASK: u16 = !(3 << 14);

/// `sizeof(struct nlmsghdr)`.
pub const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct nlattr)`.
const NLA_HDRLEN: usize = 4;

/// Rounds up to the 4-byte netlink alignment.
pub fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// A request under construction: message type, flags, a family header and attributes.
///
/// `NLM_F_REQUEST` and `NLM_F_ACK` are added when it is sent; the sequence number too.
#[derive(Debug, Clone)]
pub struct Request {
    msg_type: u16,
    flags: u16,
    what: String,
    body: Vec<u8>,
    open_nests: Vec<usize>,
}

impl Request {
    /// Starts a request of `msg_type` (`RTM_*`); `what` describes it in errors
    /// (e.g. `"set XDP on veth0"`).
    pub fn new(msg_type: u16, flags: u16, what: impl Into<String>) -> Self {
        Request {
            msg_type,
            flags,
            what: what.into(),
            body: Vec::new(),
            open_nests: Vec::new(),
        }
    }

    /// The description used in errors.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The message type.
    pub fn msg_type(&self) -> u16 {
        self.msg_type
    }

    /// Appends raw bytes (the family header, e.g. `struct ifinfomsg`), padded to 4 bytes.
    pub fn push_raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.body.extend_from_slice(bytes);
        self.body.resize(align(self.body.len()), 0);
        self
    }

    /// Appends an attribute with a raw payload.
    pub fn attr(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        let len = (NLA_HDRLEN + payload.len()) as u16;
        self.body.extend_from_slice(&len.to_ne_bytes());
        self.body.extend_from_slice(&ty.to_ne_bytes());
        self.push_raw(payload)
    }

    /// Appends a `u32` attribute.
    pub fn attr_u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// Appends an `s32` attribute.
    pub fn attr_i32(&mut self, ty: u16, v: i32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// Appends a NUL-terminated string attribute.
    pub fn attr_str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.attr(ty, &b)
    }

    /// Opens a nested attribute; close it with [`end_nest`](Self::end_nest).
    pub fn begin_nest(&mut self, ty: u16) -> &mut Self {
        self.open_nests.push(self.body.len());
        self.body.extend_from_slice(&0u16.to_ne_bytes());
        self.body
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        self
    }

    /// Closes the innermost open nest, fixing up its length.
    pub fn end_nest(&mut self) -> &mut Self {
        if let Some(start) = self.open_nests.pop() {
            let len = (self.body.len() - start) as u16;
            self.body[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    /// The complete message with `seq`, flags `NLM_F_REQUEST | NLM_F_ACK | flags`.
    pub fn encode(&self, seq: u32) -> Vec<u8> {
        debug_assert!(self.open_nests.is_empty(), "unclosed netlink nest");
        let len = (NLMSG_HDRLEN + self.body.len()) as u32;
        let flags = self.flags | NLM_F_REQUEST | NLM_F_ACK;
        let mut out = Vec::with_capacity(len as usize);
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&self.msg_type.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

/// One message of a reply: its type, flags and payload (everything after `nlmsghdr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `nlmsg_type` (e.g. `RTM_NEWLINK`).
    pub msg_type: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// The payload: family header then attributes.
    pub payload: Vec<u8>,
}

/// A parsed `struct nlmsghdr` and the payload slice it frames.
pub(crate) struct Frame<'a> {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Splits a datagram into messages; `Err` describes a malformed header.
pub(crate) fn frames(mut buf: &[u8]) -> Result<Vec<Frame<'_>>, String> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(format!("message length {len} outside 16..={}", buf.len()));
        }
        out.push(Frame {
            msg_type: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32::from_ne_bytes(buf[8..12].try_into().expect("4 bytes")),
            payload: &buf[NLMSG_HDRLEN..len],
        });
        buf = &buf[align(len).min(buf.len())..];
    }
    Ok(out)
}

/// Iterates `(type, payload)` over a run of attributes; the type has the flag bits masked
/// off. Stops at the first malformed attribute.
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < NLA_HDRLEN {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > buf.len() {
            buf = &[];
            return None;
        }
        let payload = &buf[NLA_HDRLEN..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((ty, payload))
    })
}

/// Reads a native-endian `u32` attribute payload.
pub fn attr_u32(payload: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(payload.get(..4)?.try_into().ok()?))
}

/// Reads a NUL-terminated string attribute payload.
pub fn attr_string(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nest_lengths_and_padding() {
        let mut r = Request::new(19, 0, "t");
        r.push_raw(&[1, 2, 3]);
        r.begin_nest(43)
            .attr_i32(1, -1)
            .attr_str(3, "ab")
            .end_nest();
        let m = r.encode(7);
        assert_eq!(m.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        let f = frames(&m).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].seq, 7);
        assert_eq!(f[0].flags, NLM_F_REQUEST | NLM_F_ACK);
        let top: Vec<_> = attrs(&f[0].payload[4..]).collect();
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, 43);
        // i32 attr (8) + "ab\0" attr (7, padded to 8): a nest spans its padded members
        assert_eq!(top[0].1.len(), 8 + 8);
        let inner: Vec<_> = attrs(top[0].1).collect();
        assert_eq!(inner[0], (1, &(-1i32).to_ne_bytes()[..]));
        assert_eq!(attr_string(inner[1].1), "ab");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(frames(&[0xff; 16]).is_err());
        assert_eq!(attrs(&[200, 0, 1, 0, 0]).count(), 0);
        assert_eq!(attrs(&[2, 0, 1, 0]).count(), 0);
        assert!(attr_u32(&[1, 2]).is_none());
    }
}
