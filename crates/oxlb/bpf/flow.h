/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb flow keys: key_eq() compares two struct oxlb_flow_key, and flow_hash() is
 * MurmurHash3 (x86, 32-bit) of the tuple bytes with oxlb_cfg.hash_seed, which picks a flow's
 * Maglev slot, NAT ports and encap sources. Included by oxlb.bpf.c after stats.h.
 */
#ifndef OXLB_FLOW_H
#define OXLB_FLOW_H

/* ---- flow keys ----------------------------------------------------------- */

static __always_inline int key_eq(const struct oxlb_flow_key *a, const struct oxlb_flow_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 diff = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*a) / 4); i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

/* ---- flow hash: MurmurHash3 x86_32 over the tuple bytes ---------------- */

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 mm_block(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 mm_final(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 flow_hash(const struct oxlb_flow_key *k, const int v6)
{
	__u32 h = oxlb_cfg.hash_seed;
	int words = v6 ? 4 : 1;

#pragma unroll
	for (int i = 0; i < 4; i++)
		if (i < words)
			h = mm_block(h, k->src[i]);
#pragma unroll
	for (int i = 0; i < 4; i++)
		if (i < words)
			h = mm_block(h, k->dst[i]);
	/* Memory order: sport bytes then dport bytes, read as a little-endian word. */
	h = mm_block(h, (__u32)k->sport | ((__u32)k->dport << 16));
	h = mm_block(h, k->proto);
	h ^= (__u32)(words * 8 + 8);
	return mm_final(h);
}

#endif /* OXLB_FLOW_H */
