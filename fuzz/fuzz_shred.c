/*
 * fuzz_shred.c — libFuzzer target for the encrypted form of a personal
 * value (src/util/shred.c, docs/FORGETTING.md): every input, copied into a
 * buffer of exactly its size, is parsed as the text of a "$enc" string and
 * as a JSON pointer.  A parse may accept or refuse, but never reads past
 * the bytes given; what it accepts opens under no key it was not sealed
 * with (the output then zeros), and the input sealed as a value opens back
 * to the same bytes, under its key, position and pointer only.
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
	if (!cx)
		cx = eg_shred_cx_new();
	uint32_t kid;
	size_t rl = 0;
	if (!eg_shred_parse(s, n, &kid, raw, &rl)) {
		CHECK(kid > 0 && rl >= EG_SHRED_NONCE + EG_SHRED_TAG && rl <= n);
		CHECK(eg_shred_open(cx, KEY, kid, "i", 1, "/a", 2, raw, rl, out) == -1);
		for (size_t i = 0; i < rl - EG_SHRED_NONCE - EG_SHRED_TAG; i++)
			CHECK(out[i] == 0);
	}
	char **seg;
	size_t nseg;
	if (!eg_pointer_split(s, n, &seg, &nseg)) {
		CHECK(nseg >= 1 && nseg <= n);
		eg_pointer_free(seg, nseg);
	}
	/* the input as a value: sealed, parsed and opened back */
	if (n <= 4096) {
		buf b = { 0 };
		CHECK(!eg_shred_seal(cx, &b, KEY, 9, "id-77", 5, "/p", 2, s, n));
		CHECK(b.n > 12 && !memcmp(b.p, "{\"$enc\":\"9.", 11) && !memcmp(b.p + b.n - 2, "\"}", 2));
		unsigned char *r2 = malloc(b.n), *o2 = malloc(b.n);
		CHECK(r2 && o2);
		CHECK(!eg_shred_parse(b.p + 9, b.n - 11, &kid, r2, &rl) && kid == 9);
		CHECK(eg_shred_open(cx, KEY, 9, "id-77", 5, "/p", 2, r2, rl, o2) == (long)n);
		CHECK(!memcmp(o2, s, n));
		CHECK(eg_shred_open(cx, KEY, 9, "id-78", 5, "/p", 2, r2, rl, o2) == -1);
		free(r2);
		free(o2);
		free(b.p);
	}
	free(s);
	free(raw);
	free(out);
	return 0;
}
