#!/bin/busybox sh
# /init of the vm-test initramfs (written by xtask/src/vmtest/initramfs.rs).
# Progress goes to the console (ttyS0); test output and @@VM- markers go to ttyS1, which the
# host parses. /vmtest/config sets TEST_TIMEOUT, REQUIRE_KERNEL and the extra libtest
# arguments as "$@".
/bin/busybox mkdir -p /proc /sys /dev /run /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root RUST_BACKTRACE=1 TERM=dumb
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mkdir -p /run/netns
# /tmp stays on the initramfs root (already RAM-backed): the checkout may live under it.
chmod 1777 /tmp
mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
. /vmtest/config
OUT=/dev/ttyS1
say() { echo "vm-test: $*" > /dev/console; }

ip link set lo up
while read -r mod; do
  [ -n "$mod" ] || continue
  insmod "$mod" 2>/dev/null || echo "@@VM-MODULE-FAILED $mod" > $OUT
done < /vmtest/modules.list

echo "@@VM-UNAME $(uname -r)" > $OUT
echo "@@VM-VERSION $(cat /proc/version)" > $OUT
say "booted $(uname -r), $(nproc) CPUs"

if [ "$REQUIRE_KERNEL" = 1 ]; then export OXBPF_REQUIRE_KERNEL=1; else unset OXBPF_REQUIRE_KERNEL; fi
n=$(grep -c . /vmtest/tests.list)
i=0
TAB=$(printf '\t')
while IFS="$TAB" read -r name bin dir; do
  i=$((i + 1))
  say "[$i/$n] $name"
  echo "@@VM-BEGIN $name" > $OUT
  start=$(cut -d' ' -f1 /proc/uptime)
  cd "$dir"
  CARGO_MANIFEST_DIR="$dir" timeout -s KILL "$TEST_TIMEOUT" \
    "$bin" --test-threads=1 --show-output "$@" < /dev/null > $OUT 2>&1
  rc=$?
  cd /
  # A leading newline ends a line the test left open (e.g. when it was killed).
  printf '\n@@VM-END %s rc=%s start=%s end=%s\n' "$name" "$rc" "$start" "$(cut -d' ' -f1 /proc/uptime)" > $OUT
done < /vmtest/tests.list
echo "@@VM-DONE" > $OUT
say "done"
sync
poweroff -f
echo o > /proc/sysrq-trigger
