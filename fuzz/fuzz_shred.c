/*
 * fuzz_shred.c — libFuzzer target for the encrypted bundle of an event's
 * personal values (src/util/shred.c, docs/FORGETTING.md): every input,
 * copied into a buffer of exactly its size, is parsed as the text of a
 * "$enc" string, as a JSON pointer and split as an opened bundle.  A parse
 * may accept or refuse, but never reads past the bytes given; what it
 * accepts opens under no key it was not sealed with (the output then
 * zeros), and the input sealed as two values (its halves) opens back to
 * the same bytes, under its key, event and pointers only.
 */
#include "buf.h"
#include "shred.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static const unsigned char KEY[EG_SHRED_KEY] = "fuzz-key-fuzz-key-fuzz-key-fuzz";

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n)
{
	char *s = malloc(n ? n : 1);
	unsigned char *raw = malloc(n + 1), *out = malloc(n + 64);
	CHECK(s && raw && out);
	memcpy(s, data, n);
	static eg_shred_cx *cx;
	static const eg_shred_val PTRS[2] = { { "/p", 2, NULL, 0 }, { "/q/r", 4, NULL, 0 } };
	if (!cx)
		cx = eg_shred_cx_new();
	uint32_t kid;
	size_t rl = 0;
	if (!eg_shred_parse(s, n, &kid, raw, &rl)) {
		CHECK(kid > 0 && rl >= EG_SHRED_NONCE + EG_SHRED_TAG && rl <= n);
		CHECK(eg_shred_open(cx, KEY, kid, "i", 1, PTRS, 2, raw, rl, out) == -1);
		for (size_t i = 0; i < rl - EG_SHRED_NONCE - EG_SHRED_TAG; i++)
			CHECK(out[i] == 0);
	}
	char **seg;
	size_t nseg;
	if (!eg_pointer_split(s, n, &seg, &nseg)) {
		CHECK(nseg >= 1 && nseg <= n);
		eg_pointer_free(seg, nseg);
	}
	/* the input as an opened bundle of 1 to 3 values */
	for (size_t nv = 1; nv <= 3; nv++) {
		eg_shred_val sv[3];
		if (!eg_shred_split(data, n, sv, nv)) {
			for (size_t i = 0; i < nv; i++)
				CHECK(sv[i].v > (const char *)data && sv[i].v + sv[i].n <= (const char *)data + n &&
				      (!i || sv[i].v > sv[i - 1].v + sv[i - 1].n));
			CHECK(sv[nv - 1].v + sv[nv - 1].n == (const char *)data + n);
		}
	}
	/* the input as two values: sealed, parsed and opened back */
	if (n <= 4096) {
		buf b = { 0 };
		eg_shred_val v[2] = { PTRS[0], PTRS[1] };
		v[0].v = s;
		v[0].n = n / 2;
		v[1].v = s + n / 2;
		v[1].n = n - n / 2;
		CHECK(!eg_shred_seal(cx, &b, KEY, 9, "id-77", 5, v, 2));
		CHECK(b.n > 12 && !memcmp(b.p, "{\"$enc\":\"9.", 11) && !memcmp(b.p + b.n - 2, "\"}", 2));
		unsigned char *r2 = malloc(b.n), *o2 = malloc(b.n);
		CHECK(r2 && o2);
		CHECK(!eg_shred_parse(b.p + 9, b.n - 11, &kid, r2, &rl) && kid == 9);
		long got = eg_shred_open(cx, KEY, 9, "id-77", 5, PTRS, 2, r2, rl, o2);
		CHECK(got >= (long)(n + 2) && got <= (long)(n + 4));
		eg_shred_val w[2] = { PTRS[0], PTRS[1] };
		CHECK(!eg_shred_split(o2, (size_t)got, w, 2));
		CHECK(w[0].n == n / 2 && w[1].n == n - n / 2);
		CHECK(!memcmp(w[0].v, s, n / 2) && !memcmp(w[1].v, s + n / 2, n - n / 2));
		CHECK(eg_shred_open(cx, KEY, 9, "id-78", 5, PTRS, 2, r2, rl, o2) == -1);
		CHECK(eg_shred_open(cx, KEY, 9, "id-77", 5, PTRS, 1, r2, rl, o2) == -1);
		free(r2);
		free(o2);
		free(b.p);
	}
	free(s);
	free(raw);
	free(out);
	return 0;
}
