// SPDX-License-Identifier: MIT OR Apache-2.0
// The libxdp baseline of benches/xsk.rs: a MAC-swapping AF_XDP forwarder on Debian's libxdp,
// doing what oxbpf::xsk::forward does, in the same order, with the same sizes: per turn,
// wake TX if frames are outstanding (and the ring asks), move completions to the free list,
// refill the fill ring, take up to BATCH received frames, swap their MACs and queue them on
// TX. Built by the benchmark at run time: cc -O2 xsk_fwd.c -lxdp -lbpf.
//
// usage: xsk_fwd IFNAME QUEUE XSKMAP_FD   (the XSKMAP fd is inherited from the benchmark)
// Prints "ready" once bound, filled and in the map; stops on SIGTERM/SIGINT and prints "rx tx".
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/xsk.h>

#define FRAMES 4096
#define FRAME_SIZE 2048
#define RING 2048
#define BATCH 32

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Moves as many free frames (from the top of the free list) to the fill ring as fit. */
static void refill(struct xsk_ring_prod *fq, __u64 *free_list, __u32 *n_free)
{
	__u32 k, i, idx;

	if (!*n_free)
		return;
	k = xsk_prod_nb_free(fq, *n_free);
	if (k > *n_free)
		k = *n_free;
	if (k && xsk_ring_prod__reserve(fq, k, &idx) == k) {
		for (i = 0; i < k; i++)
			*xsk_ring_prod__fill_addr(fq, idx + i) = free_list[--*n_free];
		xsk_ring_prod__submit(fq, k);
	}
}

int main(int argc, char **argv)
{
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	struct xsk_umem *umem;
	struct xsk_socket *xsk = NULL;
	static __u64 free_list[FRAMES];
	unsigned long long n_rx = 0, n_tx = 0, outstanding = 0;
	__u32 n_free = 0, i, idx, idx_tx = 0, n, k;
	void *area;
	int err = 0, tries;

	if (argc != 4) {
		fprintf(stderr, "usage: %s IFNAME QUEUE XSKMAP_FD\n", argv[0]);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	area = mmap(NULL, (size_t)FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (area == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	struct xsk_umem_config ucfg = {
		.fill_size = RING, .comp_size = RING, .frame_size = FRAME_SIZE,
	};
	err = xsk_umem__create(&umem, area, (__u64)FRAMES * FRAME_SIZE, &fq, &cq, &ucfg);
	if (err) {
		fprintf(stderr, "xsk_umem__create: %s\n", strerror(-err));
		return 1;
	}
	struct xsk_socket_config cfg = {
		.rx_size = RING, .tx_size = RING,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
	};
	/* The kernel frees a closed socket's queue from a workqueue: retry EBUSY for a second. */
	for (tries = 0; tries < 100; tries++) {
		err = xsk_socket__create(&xsk, argv[1], atoi(argv[2]), umem, &rx, &tx, &cfg);
		if (err != -EBUSY)
			break;
		usleep(10000);
	}
	if (err) {
		fprintf(stderr, "xsk_socket__create: %s\n", strerror(-err));
		return 1;
	}
	err = xsk_socket__update_xskmap(xsk, atoi(argv[3]));
	if (err) {
		fprintf(stderr, "xsk_socket__update_xskmap: %s\n", strerror(-err));
		return 1;
	}
	for (i = 0; i < FRAMES; i++)
		free_list[n_free++] = (__u64)i * FRAME_SIZE;
	refill(&fq, free_list, &n_free);
	printf("ready\n");
	fflush(stdout);

	while (!stop) {
		if (outstanding && xsk_ring_prod__needs_wakeup(&tx))
			sendto(xsk_socket__fd(xsk), NULL, 0, MSG_DONTWAIT, NULL, 0);
		n = xsk_ring_cons__peek(&cq, BATCH, &idx);
		for (i = 0; i < n; i++)
			free_list[n_free++] = *xsk_ring_cons__comp_addr(&cq, idx + i);
		if (n) {
			xsk_ring_cons__release(&cq, n);
			outstanding -= n;
		}
		refill(&fq, free_list, &n_free);
		n = xsk_ring_cons__peek(&rx, BATCH, &idx);
		if (!n) {
			if (xsk_ring_prod__needs_wakeup(&fq))
				recvfrom(xsk_socket__fd(xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
			continue;
		}
		n_rx += n;
		k = xsk_prod_nb_free(&tx, n);
		if (k > n)
			k = n;
		if (k)
			xsk_ring_prod__reserve(&tx, k, &idx_tx);
		for (i = 0; i < n; i++) {
			const struct xdp_desc *d = xsk_ring_cons__rx_desc(&rx, idx + i);
			unsigned char *p = xsk_umem__get_data(area, d->addr);
			unsigned char mac[6];

			if (i >= k) {
				free_list[n_free++] = d->addr & ~(__u64)(FRAME_SIZE - 1);
				continue;
			}
			if (d->len >= 12) {
				memcpy(mac, p, 6);
				memcpy(p, p + 6, 6);
				memcpy(p + 6, mac, 6);
			}
			struct xdp_desc *t = xsk_ring_prod__tx_desc(&tx, idx_tx + i);
			t->addr = d->addr;
			t->len = d->len;
			t->options = 0;
		}
		xsk_ring_cons__release(&rx, n);
		if (k) {
			xsk_ring_prod__submit(&tx, k);
			n_tx += k;
			outstanding += k;
		}
	}
	printf("%llu %llu\n", n_rx, n_tx);
	xsk_socket__delete(xsk);
	xsk_umem__delete(umem);
	munmap(area, (size_t)FRAMES * FRAME_SIZE);
	return 0;
}
