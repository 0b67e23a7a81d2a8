// xtask: cflags=-DTARGET
#include "layouts.bpf.c"
