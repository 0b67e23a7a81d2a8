//! The `enum bpf_cmd` values.

/// A `bpf(2)` command (`enum bpf_cmd` in the uapi header).
#[allow(missing_docs)]
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmd {
    MapCreate = 0,
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    MapGetNextKey = 4,
    ProgLoad = 5,
    ObjPin = 6,
    ObjGet = 7,
    ProgAttach = 8,
    ProgDetach = 9,
    ProgTestRun = 10,
    ProgGetNextId = 11,
    MapGetNextId = 12,
    ProgGetFdById = 13,
    MapGetFdById = 14,
    ObjGetInfoByFd = 15,
    ProgQuery = 16,
    RawTracepointOpen = 17,
    BtfLoad = 18,
    BtfGetFdById = 19,
    TaskFdQuery = 20,
    MapLookupAndDeleteElem = 21,
    MapFreeze = 22,
    BtfGetNextId = 23,
    MapLookupBatch = 24,
    MapLookupAndDeleteBatch = 25,
    MapUpdateBatch = 26,
    MapDeleteBatch = 27,
    LinkCreate = 28,
    LinkUpdate = 29,
    LinkGetFdById = 30,
    LinkGetNextId = 31,
    EnableStats = 32,
    IterCreate = 33,
    LinkDetach = 34,
    ProgBindMap = 35,
    TokenCreate = 36,
}

impl Cmd {
    /// The uapi name, as it appears in kernel docs and strace output.
    pub fn name(self) -> &'static str {
        use Cmd::*;
        match self {
            MapCreate => "BPF_MAP_CREATE",
            MapLookupElem => "BPF_MAP_LOOKUP_ELEM",
            MapUpdateElem => "BPF_MAP_UPDATE_ELEM",
            MapDeleteElem => "BPF_MAP_DELETE_ELEM",
            MapGetNextKey => "BPF_MAP_GET_NEXT_KEY",
            ProgLoad => "BPF_PROG_LOAD",
            ObjPin => "BPF_OBJ_PIN",
            ObjGet => "BPF_OBJ_GET",
            ProgAttach => "BPF_PROG_ATTACH",
            ProgDetach => "BPF_PROG_DETACH",
            ProgTestRun => "BPF_PROG_TEST_RUN",
            ProgGetNextId => "BPF_PROG_GET_NEXT_ID",
            MapGetNextId => "BPF_MAP_GET_NEXT_ID",
            ProgGetFdById => "BPF_PROG_GET_FD_BY_ID",
            MapGetFdById => "BPF_MAP_GET_FD_BY_ID",
            ObjGetInfoByFd => "BPF_OBJ_GET_INFO_BY_FD",
            ProgQuery => "BPF_PROG_QUERY",
            RawTracepointOpen => "BPF_RAW_TRACEPOINT_OPEN",
            BtfLoad => "BPF_BTF_LOAD",
            BtfGetFdById => "BPF_BTF_GET_FD_BY_ID",
            TaskFdQuery => "BPF_TASK_FD_QUERY",
            MapLookupAndDeleteElem => "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
            MapFreeze => "BPF_MAP_FREEZE",
            BtfGetNextId => "BPF_BTF_GET_NEXT_ID",
            MapLookupBatch => "BPF_MAP_LOOKUP_BATCH",
            MapLookupAndDeleteBatch => "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
            MapUpdateBatch => "BPF_MAP_UPDATE_BATCH",
            MapDeleteBatch => "BPF_MAP_DELETE_BATCH",
            LinkCreate => "BPF_LINK_CREATE",
            LinkUpdate => "BPF_LINK_UPDATE",
            LinkGetFdById => "BPF_LINK_GET_FD_BY_ID",
            LinkGetNextId => "BPF_LINK_GET_NEXT_ID",
            EnableStats => "BPF_ENABLE_STATS",
            IterCreate => "BPF_ITER_CREATE",
            LinkDetach => "BPF_LINK_DETACH",
            ProgBindMap => "BPF_PROG_BIND_MAP",
            TokenCreate => "BPF_TOKEN_CREATE",
        }
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
