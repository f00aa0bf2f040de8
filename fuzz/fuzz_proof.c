/*
 * fuzz_proof.c — libFuzzer target for proof documents and their checks
 * (src/util/merkle.c), what engram proof check reads from outside.  Any
 * input parses or is refused with a reason; a parsed proof is verified
 * against a root taken from the input (never crashing, whatever the sizes
 * and paths); a verified inclusion proof verifies again with the root it
 * led to, and fails with any path hash changed.
 */
#include "merkle.h"

#include <stdint.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static eg_mt *h;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!h && !(h = eg_mt_new()))
		return 0;
	eg_mt_doc d;
	char err[256];
	err[0] = 0;
	int r = eg_mt_doc_parse((const char *)data, size, &d, err, sizeof err);
	if (r) {
		CHECK(err[0]);
		eg_mt_doc_free(&d);
		return 0;
	}
	CHECK(d.npath <= EG_MT_MAX_PATH);
	unsigned char root[32];
	memset(root, 0, sizeof root);
	memcpy(root, d.has_root ? d.root : d.leaf, 32);
	if (d.kind == EG_MT_INCLUSION) {
		if (d.has_leaf_data) {
			unsigned char lh[32];
			CHECK(eg_mt_leaf(h, d.leaf_data, d.leaf_data_len, lh) == 0);
		}
		const char *why = eg_mt_verify_inclusion(h, d.index, d.size, d.leaf, d.path, d.npath,
							 root);
		if (!why && d.npath) {
			d.path[0][0] ^= 1;
			CHECK(eg_mt_verify_inclusion(h, d.index, d.size, d.leaf, d.path, d.npath, root));
		}
	} else if (d.kind == EG_MT_CONSISTENCY) {
		const unsigned char *o = d.has_first_root ? d.first_root : root;
		const unsigned char *n = d.has_second_root ? d.second_root : root;
		(void)eg_mt_verify_consistency(h, d.first, d.second, o, n, d.path, d.npath);
	} else {
		char stmt[256];
		size_t n = eg_mt_head_statement(d.size, d.root, d.pos, d.hash, stmt);
		CHECK(n > 0 && n < sizeof stmt);
	}
	eg_mt_doc_free(&d);
	return 0;
}
