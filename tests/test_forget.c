/*
 * test_forget.c — crypto-shredding (docs/FORGETTING.md): the encrypted
 * bundle of an event's values (round trip, the binding to key id, event
 * and pointers, tampering), the personal properties a schema declares, and the
 * key file through the store (values read back, a damaged entry or a torn
 * tail read unavailable and never garbage, forget).
 */
#include "schema.h"
#include "testutil.h"
#include "buf.h"
#include "contract.h"
#include "internal.h"
#include "keys.h"
#include "shred.h"

static const unsigned char KEY[32] = "0123456789abcdef0123456789abcde";

/* The "$enc" string of a form in b (no quotes), into s. */
static void enc_string(const buf *b, char *s, size_t cap)
{
	const char *p = memchr(b->p, ':', b->n);
	assert_non_null(p);
	size_t n = (size_t)(b->p + b->n - p) - 4;   /* :"....."} */
	assert_true(n < cap);
	memcpy(s, p + 2, n);
	s[n] = 0;
}

static long open_form(eg_shred_cx *cx, const char *s, uint32_t kid, const char *id,
		      const eg_shred_val *v, size_t nv, unsigned char *out)
{
	unsigned char raw[512];
	size_t rl;
	uint32_t k;
	assert_int_equal(eg_shred_parse(s, strlen(s), &k, raw, &rl), 0);
	assert_int_equal(k, kid);
	return eg_shred_open(cx, KEY, kid, id, strlen(id), v, nv, raw, rl, out);
}

static void seal_open_round_trip_and_binding(void **state)
{
	(void)state;
	eg_shred_cx *cx = eg_shred_cx_new();
	buf b = { 0 };
	const char *v = "\"ann@example.com\"", *w = "{\"s\":\"Main\"}";
	eg_shred_val vals[2] = { { "/email", 6, v, strlen(v) }, { "/a/b", 4, w, strlen(w) } };
	assert_int_equal(eg_shred_seal(cx, &b, KEY, 7, "ev-42", 5, vals, 2), 0);
	assert_true(b.n > 9 && !memcmp(b.p, "{\"$enc\":\"7.", 11));
	assert_null(memmem(b.p, b.n, "ann", 3));
	char s[512];
	enc_string(&b, s, sizeof s);
	unsigned char out[512];
	eg_shred_val got[2] = { { "/email", 6, NULL, 0 }, { "/a/b", 4, NULL, 0 } };
	long n = open_form(cx, s, 7, "ev-42", got, 2, out);
	assert_int_equal(n, (long)(2 + strlen(v) + strlen(w)));   /* a 1-byte length each */
	assert_int_equal(eg_shred_split(out, (size_t)n, got, 2), 0);
	assert_int_equal(got[0].n, strlen(v));
	assert_memory_equal(got[0].v, v, strlen(v));
	assert_int_equal(got[1].n, strlen(w));
	assert_memory_equal(got[1].v, w, strlen(w));
	/* the plaintext holds exactly the values asked for */
	assert_int_equal(eg_shred_split(out, (size_t)n, got, 1), -1);
	assert_int_equal(eg_shred_split(out, (size_t)n - 1, got, 2), -1);
	/* another event, or the values' places swapped or one left out: the
	 * tag fails, the output is zeros */
	assert_int_equal(open_form(cx, s, 7, "ev-43", got, 2, out), -1);
	for (size_t i = 0; i < (size_t)n; i++)
		assert_int_equal(out[i], 0);
	eg_shred_val swapped[2] = { { "/a/b", 4, NULL, 0 }, { "/email", 6, NULL, 0 } };
	assert_int_equal(open_form(cx, s, 7, "ev-42", swapped, 2, out), -1);
	assert_int_equal(open_form(cx, s, 7, "ev-42", got, 1, out), -1);
	/* the same key under another key id */
	unsigned char raw[512];
	size_t rl;
	uint32_t k;
	assert_int_equal(eg_shred_parse(s, strlen(s), &k, raw, &rl), 0);
	assert_int_equal(eg_shred_open(cx, KEY, 8, "ev-42", 5, got, 2, raw, rl, out), -1);
	/* another key */
	unsigned char other[32] = { 1 };
	assert_int_equal(eg_shred_open(cx, other, 7, "ev-42", 5, got, 2, raw, rl, out), -1);
	/* a tampered byte anywhere: nonce, ciphertext or tag */
	for (size_t i = 0; i < rl; i++) {
		raw[i] ^= 0x10;
		assert_int_equal(eg_shred_open(cx, KEY, 7, "ev-42", 5, got, 2, raw, rl, out), -1);
		raw[i] ^= 0x10;
	}
	assert_int_equal(eg_shred_open(cx, KEY, 7, "ev-42", 5, got, 2, raw, rl, out), n);
	/* two seals of one value differ (a fresh nonce each) */
	buf b2 = { 0 };
	assert_int_equal(eg_shred_seal(cx, &b2, KEY, 7, "ev-42", 5, vals, 2), 0);
	assert_true(b.n == b2.n && memcmp(b.p, b2.p, b.n));
	/* a bundle of none is refused */
	assert_int_equal(eg_shred_seal(cx, &b2, KEY, 7, "ev-42", 5, vals, 0), -1);
	free(b.p);
	free(b2.p);
	eg_shred_cx_free(cx);
}

static void parse_refuses_what_is_not_a_form(void **state)
{
	(void)state;
	static const char *const BAD[] = {
		"", "7", "7.", ".AAAA", "0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
		"x.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "7.AAA", "7.AA=A",
		"7.AAAA", "99999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
		"7.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*=",
	};
	unsigned char raw[128];
	size_t rl;
	uint32_t k;
	for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++)
		if (!eg_shred_parse(BAD[i], strlen(BAD[i]), &k, raw, &rl))
			fail_msg("parsed %s", BAD[i]);
	const char *ok = "12.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
	assert_int_equal(eg_shred_parse(ok, strlen(ok), &k, raw, &rl), 0);
	assert_int_equal(k, 12);
	assert_int_equal(rl, 28);
}

static void schema_declares_personal_pointers(void **state)
{
	(void)state;
	eg_schema *s = compile_ok("{\"type\":\"object\",\"x-subject\":\"/c\",\"properties\":{"
				  "\"c\":{},\"e\":{\"x-personal\":true},\"n\":{\"x-personal\":false},"
				  "\"a\":{\"properties\":{\"s/t\":{\"x-personal\":true},\"city\":{}}}}}");
	eg_personal *p = NULL;
	char err[256];
	assert_int_equal(eg_personal_from_schema(s, &p, err, sizeof err), 0);
	assert_non_null(p);
	assert_int_equal(p->n, 2);
	assert_string_equal(p->ptr[0], "/e");
	assert_string_equal(p->ptr[1], "/a/s~1t");
	assert_int_equal(p->nseg[1], 2);
	assert_string_equal(p->seg[1][1], "s/t");
	assert_string_equal(p->subject, "/c");
	eg_personal_free(p);
	eg_schema_free(s);
	/* none marked: NULL */
	s = compile_ok("{\"type\":\"object\",\"x-subject\":\"/c\"}");
	assert_int_equal(eg_personal_from_schema(s, &p, err, sizeof err), 0);
	assert_null(p);
	eg_schema_free(s);
	/* the subject inside a personal object */
	s = compile_ok("{\"x-subject\":\"/a/c\",\"properties\":{\"a\":{\"x-personal\":true}}}");
	assert_int_equal(eg_personal_from_schema(s, &p, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot itself be personal"));
	eg_schema_free(s);
}

#define SCHEMA "{\"type\":\"object\",\"x-subject\":\"/c\",\"properties\":{" \
	       "\"e\":{\"x-personal\":true},\"a\":{\"properties\":{\"s\":{\"x-personal\":true}}}}}"

static eg_store *personal_store(tu_fx *f)
{
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	eg_contract_report rep;
	eg_contract_opts o = { 0 };
	assert_int_equal(eg_contract_add(st, "t", SCHEMA, strlen(SCHEMA), &o, NULL, NULL, &rep), EG_OK);
	const char *lines[] = {
		"{\"type\":\"t\",\"data\":{\"c\":\"u1\",\"e\":\"one@x\",\"a\":{\"s\":\"Main\",\"z\":1},\"k\":2}}",
		"{\"type\":\"t\",\"data\":{\"c\":\"u2\",\"e\":{\"deep\":[1,2]},\"k\":3}}",
	};
	tu_append(st, lines, 2);
	return st;
}

/* The data of event pos as a reader gets it, and its personal bits. */
static unsigned read_data(eg_store *st, uint64_t pos, char *out, size_t cap)
{
	eg_filter flt = { .from = pos, .to = pos };
	eg_iter *it;
	const eg_event *e;
	assert_int_equal(eg_iter_new(st, &it, &flt), EG_OK);
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	assert_true(e->data_len < cap);
	memcpy(out, e->data, e->data_len);
	out[e->data_len] = 0;
	unsigned bits = e->personal;
	eg_iter_free(it);
	return bits;
}

static void store_reads_back_and_forgets(void **state)
{
	tu_fx *f = *state;
	eg_store *st = personal_store(f);
	char d[512];
	assert_int_equal(read_data(st, 2, d, sizeof d), 0);
	assert_string_equal(d, "{\"c\":\"u1\",\"e\":\"one@x\",\"a\":{\"s\":\"Main\",\"z\":1},\"k\":2}");
	assert_int_equal(read_data(st, 3, d, sizeof d), 0);
	assert_string_equal(d, "{\"c\":\"u2\",\"e\":{\"deep\":[1,2]},\"k\":3}");
	eg_forget_result r;
	assert_int_equal(eg_store_forget(st, "u1", &r), EG_OK);
	assert_int_equal(r.keys, 1);
	assert_int_equal(r.key_id, 1);
	/* every kind built from decrypted data, even in a program that links
	 * none of their engines (this one) */
	assert_non_null(strstr(r.dropped, "projection"));
	assert_non_null(strstr(r.dropped, "features"));
	assert_non_null(strstr(r.dropped, "metrics"));
	assert_non_null(strstr(r.dropped, "errors"));
	assert_null(strstr(r.dropped, "tree"));
	assert_int_equal(read_data(st, 2, d, sizeof d), EG_EV_FORGOTTEN);
	assert_string_equal(d, "{\"c\":\"u1\",\"e\":null,\"a\":{\"s\":null,\"z\":1},\"k\":2}");
	assert_int_equal(eg_store_forget(st, "nobody", &r), EG_ENOTFOUND);
	/* a new event of a forgotten subject takes a new key */
	const char *again[] = { "{\"type\":\"t\",\"data\":{\"c\":\"u1\",\"e\":\"new@x\"}}" };
	tu_append(st, again, 1);
	assert_int_equal(read_data(st, 4, d, sizeof d), 0);
	assert_string_equal(d, "{\"c\":\"u1\",\"e\":\"new@x\"}");
	eg_store_close(st);
	/* the file: zeros where u1's first key was */
	snprintf(f->path, sizeof f->path, "%s/keys", f->dir);
	FILE *fp = fopen(f->path, "rb");
	unsigned char b[KEYS_HDR_LEN + 3 * KEYS_ENT_LEN];
	assert_int_equal(fread(b, 1, sizeof b, fp), sizeof b);
	fclose(fp);
	for (int i = 0; i < 32; i++)
		assert_int_equal(b[KEYS_HDR_LEN + 32 + i], 0);
	assert_int_equal(b[KEYS_HDR_LEN + 4], KEY_FORGOTTEN);
	assert_int_equal(b[KEYS_HDR_LEN + 2 * KEYS_ENT_LEN + 8], 3);   /* key id 3 */
}

static void damaged_or_torn_entries_read_unavailable(void **state)
{
	tu_fx *f = *state;
	eg_store *st = personal_store(f);
	eg_store_close(st);
	snprintf(f->path, sizeof f->path, "%s/keys", f->dir);
	/* entry 1 damaged (a key byte), entry 2 torn (the file cut inside it) */
	int fd = open(f->path, O_RDWR);
	unsigned char c;
	assert_int_equal(pread(fd, &c, 1, KEYS_HDR_LEN + 40), 1);
	c ^= 1;
	assert_int_equal(pwrite(fd, &c, 1, KEYS_HDR_LEN + 40), 1);
	assert_int_equal(ftruncate(fd, KEYS_HDR_LEN + KEYS_ENT_LEN + 50), 0);
	close(fd);
	st = tu_open(f->dir, 0, 0);
	char d[512];
	assert_int_equal(read_data(st, 2, d, sizeof d), EG_EV_UNAVAILABLE);
	assert_string_equal(d, "{\"c\":\"u1\",\"e\":null,\"a\":{\"s\":null,\"z\":1},\"k\":2}");
	assert_int_equal(read_data(st, 3, d, sizeof d), EG_EV_UNAVAILABLE);
	assert_string_equal(d, "{\"c\":\"u2\",\"e\":null,\"k\":3}");
	eg_store_close(st);
	/* a writer cuts the torn tail; a new key there does not open the old
	 * value (it fails its tag: unavailable, not garbage) */
	st = tu_open(f->dir, EG_OPEN_WRITE, 0);
	const char *more[] = { "{\"type\":\"t\",\"data\":{\"c\":\"u3\",\"e\":\"three@x\"}}" };
	tu_append(st, more, 1);
	assert_int_equal(read_data(st, 4, d, sizeof d), 0);
	assert_string_equal(d, "{\"c\":\"u3\",\"e\":\"three@x\"}");
	assert_int_equal(read_data(st, 3, d, sizeof d), EG_EV_UNAVAILABLE);
	/* a forged bundle in a flagged event's data: its values read null */
	eg_event e = { .pos = 4, .id = "x", .id_len = 1, .personal = EG_EV_ENCRYPTED };
	e.data = "{\"e\":{\"$enc\":\"2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"},\"f\":{\"$enc\":1}}";
	e.data_len = strlen(e.data);
	eg_shred_cx *cx = NULL;
	char *space = NULL;
	size_t cap = 0;
	assert_int_equal(eg_keys_open_event(st, &e, &cx, &space, &cap), EG_OK);
	assert_int_equal(e.personal, EG_EV_UNAVAILABLE);
	assert_memory_equal(e.data, "{\"e\":null,\"f\":null}", e.data_len);
	free(space);
	eg_shred_cx_free(cx);
	eg_store_close(st);
}

/* Forgetting empties slots of the writer's subject map (linear probing):
 * every subject kept must still find its own key, every one forgotten
 * none (a new one). */
static void forgetting_many_keeps_the_others_keys(void **state)
{
	tu_fx *f = *state;
	eg_store *st = personal_store(f);   /* u1, u2: key ids 1 and 2 */
	enum { N = 300 };
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	char line[128];
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof line, "{\"type\":\"t\",\"data\":{\"c\":\"s%d\",\"e\":\"m%d\"}}", i, i);
		tu_add_ok(st, b, line);
	}
	assert_int_equal(eg_batch_commit(b, NULL), EG_OK);
	uint64_t rnd = 28;
	int gone[N] = { 0 };
	eg_forget_result r;
	for (int k = 0; k < N / 3; k++) {
		int i = (int)(tu_rnd(&rnd) % N);
		snprintf(line, sizeof line, "s%d", i);
		assert_int_equal(eg_store_forget(st, line, &r), EG_OK);
		assert_int_equal(r.already, gone[i]);
		gone[i] = 1;
	}
	/* one more event each: a kept subject reuses its key (id 3 + i), a
	 * forgotten one gets a new one */
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof line, "{\"type\":\"t\",\"data\":{\"c\":\"s%d\",\"e\":\"n%d\"}}", i, i);
		tu_add_ok(st, b, line);
	}
	assert_int_equal(eg_batch_commit(b, NULL), EG_OK);
	int forgotten = 0;
	for (int i = 0; i < N; i++)
		forgotten += gone[i];
	eg_store_close(st);
	snprintf(f->path, sizeof f->path, "%s/keys", f->dir);
	struct stat sb;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_size, KEYS_HDR_LEN + (2 + N + forgotten) * KEYS_ENT_LEN);
	st = tu_open(f->dir, 0, 0);
	char d[256], want[256];
	for (int i = 0; i < N; i += 7) {
		assert_int_equal(read_data(st, 4 + (uint64_t)i, d, sizeof d), gone[i] ? EG_EV_FORGOTTEN : 0);
		snprintf(want, sizeof want, gone[i] ? "{\"c\":\"s%d\",\"e\":null}"
					       : "{\"c\":\"s%d\",\"e\":\"m%d\"}", i, i);
		assert_string_equal(d, want);
		assert_int_equal(read_data(st, 4 + N + (uint64_t)i, d, sizeof d), 0);
		snprintf(want, sizeof want, "{\"c\":\"s%d\",\"e\":\"n%d\"}", i, i);
		assert_string_equal(d, want);
	}
	eg_store_close(st);
}

/* A personal property named with escapes ("\u0065" is "e") is sealed
 * all the same: the record holds no plaintext. */
/* An event's personal values are one bundle: the first value's place holds
 * it, the others their index; values moved between places read null. */
static void one_bundle_per_event(void **state)
{
	tu_fx *f = *state;
	eg_store *st = personal_store(f);
	eg_filter flt = { .from = 2, .to = 2 };
	eg_iter *it;
	const eg_event *e;
	assert_int_equal(eg_iter_new(st, &it, &flt), EG_OK);
	eg_iter_raw(it);
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	assert_true(e->personal & EG_EV_ENCRYPTED);
	char raw[1024], id[64];
	assert_true(e->data_len < sizeof raw && e->id_len < sizeof id);
	memcpy(raw, e->data, e->data_len);
	raw[e->data_len] = 0;
	memcpy(id, e->id, e->id_len);
	id[e->id_len] = 0;
	eg_iter_free(it);
	const char *head = "{\"c\":\"u1\",\"e\":{\"$enc\":\"1.";
	const char *tail = "\"},\"a\":{\"s\":{\"$enc\":1},\"z\":1},\"k\":2}";
	assert_memory_equal(raw, head, strlen(head));
	char *t = strstr(raw, tail);
	assert_non_null(t);
	assert_int_equal(strlen(t), strlen(tail));
	/* the bundle and the index swapped: bound to the places, null */
	char *b0 = raw + strlen("{\"c\":\"u1\",\"e\":");
	size_t bl = (size_t)(t + 2 - b0);
	char sw[1024];
	snprintf(sw, sizeof sw, "{\"c\":\"u1\",\"e\":{\"$enc\":1},\"a\":{\"s\":%.*s,\"z\":1},\"k\":2}",
		 (int)bl, b0);
	eg_event ev = { .pos = 2, .id = id, .id_len = strlen(id), .personal = EG_EV_ENCRYPTED,
			.data = sw, .data_len = strlen(sw) };
	eg_shred_cx *cx = NULL;
	char *space = NULL;
	size_t cap = 0;
	assert_int_equal(eg_keys_open_event(st, &ev, &cx, &space, &cap), EG_OK);
	assert_int_equal(ev.personal, EG_EV_UNAVAILABLE);
	assert_memory_equal(ev.data, "{\"c\":\"u1\",\"e\":null,\"a\":{\"s\":null,\"z\":1},\"k\":2}",
			    ev.data_len);
	/* as stored, it opens (the same call) */
	ev = (eg_event){ .pos = 2, .id = id, .id_len = strlen(id), .personal = EG_EV_ENCRYPTED,
			 .data = raw, .data_len = strlen(raw) };
	assert_int_equal(eg_keys_open_event(st, &ev, &cx, &space, &cap), EG_OK);
	assert_int_equal(ev.personal, 0);
	assert_memory_equal(ev.data, "{\"c\":\"u1\",\"e\":\"one@x\",\"a\":{\"s\":\"Main\",\"z\":1},\"k\":2}",
			    ev.data_len);
	/* an index with no bundle, or a second index 1 */
	const char *bad[] = { "{\"e\":{\"$enc\":1}}", "{\"e\":{\"$enc\":1},\"f\":{\"$enc\":1}}" };
	for (size_t i = 0; i < 2; i++) {
		ev = (eg_event){ .pos = 2, .id = id, .id_len = strlen(id),
				 .personal = EG_EV_ENCRYPTED, .data = bad[i], .data_len = strlen(bad[i]) };
		assert_int_equal(eg_keys_open_event(st, &ev, &cx, &space, &cap), EG_OK);
		assert_int_equal(ev.personal, EG_EV_UNAVAILABLE);
		assert_null(memmem(ev.data, ev.data_len, "$enc", 4));
	}
	free(space);
	eg_shred_cx_free(cx);
	eg_store_close(st);
}

static void escaped_names_are_sealed_too(void **state)
{
	tu_fx *f = *state;
	eg_store *st = personal_store(f);
	const char *lines[] = { "{\"type\":\"t\",\"data\":{\"c\":\"u9\",\"\\u0065\":\"secretX\"}}" };
	tu_append(st, lines, 1);
	eg_filter flt = { .from = 4, .to = 4 };
	eg_iter *it;
	const eg_event *e;
	assert_int_equal(eg_iter_new(st, &it, &flt), EG_OK);
	eg_iter_raw(it);
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	assert_true(e->personal & EG_EV_ENCRYPTED);
	assert_null(memmem(e->data, e->data_len, "secretX", 7));
	eg_iter_free(it);
	char d[256];
	assert_int_equal(read_data(st, 4, d, sizeof d), 0);
	assert_string_equal(d, "{\"c\":\"u9\",\"\\u0065\":\"secretX\"}");
	eg_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seal_open_round_trip_and_binding),
		cmocka_unit_test(parse_refuses_what_is_not_a_form),
		cmocka_unit_test(schema_declares_personal_pointers),
		cmocka_unit_test_setup_teardown(store_reads_back_and_forgets, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(damaged_or_torn_entries_read_unavailable, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(forgetting_many_keeps_the_others_keys, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(escaped_names_are_sealed_too, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(one_bundle_per_event, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
