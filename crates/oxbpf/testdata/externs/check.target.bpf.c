// xtask: cflags=-DTARGET
#include "check.bpf.c"
