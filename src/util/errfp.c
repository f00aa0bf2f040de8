/*
 * errfp.c — error fingerprints and titles (errfp.h).  The message is
 * normalised in one pass, left to right: at each place the longer, more
 * specific shapes are tried first (a quoted value, a timestamp, a UUID,
 * an IP or e-mail address, a path, a hex number) and a bare number last,
 * since a UUID or a date also holds hex digits and numbers.
 */
#include "errfp.h"
#include "chain.h"
#include "stack.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------ normalising */

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* Bytes of UTF-8 sequences count as word bytes: a letter of another
 * script does not start a token in the middle of a word ("élodie"). */
static int is_word(unsigned char c)
{
	return is_digit(c) || is_alpha(c) || c == '_' || c >= 0x80;
}

static int is_hex(unsigned char c)
{
	return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Does a word end at i (the end, or a non-word byte)? */
static int word_end(const unsigned char *s, size_t n, size_t i)
{
	return i >= n || !is_word(s[i]);
}

/* k digits at i: i + k, or 0. */
static size_t digits(const unsigned char *s, size_t n, size_t i, size_t k)
{
	for (size_t j = 0; j < k; j++)
		if (i + j >= n || !is_digit(s[i + j]))
			return 0;
	return i + k;
}

/* A timestamp at i: YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][Z|±HH[:]MM], or a
 * time HH:MM:SS[.frac].  Its end, or 0. */
static size_t timestamp(const unsigned char *s, size_t n, size_t i)
{
	size_t e;
	int date = 0;
	if ((e = digits(s, n, i, 4)) && e < n && s[e] == '-' && (e = digits(s, n, e + 1, 2)) &&
	    e < n && s[e] == '-' && (e = digits(s, n, e + 1, 2))) {
		date = 1;
		size_t t;
		if (e + 1 < n && (s[e] == 'T' || s[e] == ' ') && (t = digits(s, n, e + 1, 2)) &&
		    t < n && s[t] == ':' && (t = digits(s, n, t + 1, 2)))
			e = t;
		else
			return word_end(s, n, e) ? e : 0;
	} else if (!((e = digits(s, n, i, 2)) && e < n && s[e] == ':' &&
		     (e = digits(s, n, e + 1, 2)) && e < n && s[e] == ':' && digits(s, n, e + 1, 2))) {
		return 0;
	}
	size_t t;
	if (e < n && s[e] == ':' && (t = digits(s, n, e + 1, 2)))
		e = t;
	if (e + 1 < n && (s[e] == '.' || s[e] == ',') && is_digit(s[e + 1]))
		for (e++; e < n && is_digit(s[e]); e++)
			;
	if (date && e < n && (s[e] == 'Z' || s[e] == 'z')) {
		e++;
	} else if (date && e < n && (s[e] == '+' || s[e] == '-') && (t = digits(s, n, e + 1, 2))) {
		if (t < n && s[t] == ':')
			t++;
		if ((t = digits(s, n, t, 2)))
			e = t;
	}
	return word_end(s, n, e) ? e : 0;
}

/* A UUID at i (8-4-4-4-12 hex digits): its end, or 0. */
static size_t uuid(const unsigned char *s, size_t n, size_t i)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };
	size_t e = i;
	for (int g = 0; g < 5; g++) {
		if (g) {
			if (e >= n || s[e] != '-')
				return 0;
			e++;
		}
		for (int k = 0; k < groups[g]; k++, e++)
			if (e >= n || !is_hex(s[e]))
				return 0;
	}
	return word_end(s, n, e) ? e : 0;
}

/* An IPv4 address at i: its end, or 0. */
static size_t ipv4(const unsigned char *s, size_t n, size_t i)
{
	size_t e = i;
	for (int part = 0; part < 4; part++) {
		if (part) {
			if (e >= n || s[e] != '.')
				return 0;
			e++;
		}
		size_t d = 0;
		while (e < n && is_digit(s[e]) && d < 4)
			e++, d++;
		if (!d || d > 3)
			return 0;
	}
	if (e + 1 < n && s[e] == '.' && is_digit(s[e + 1]))
		return 0;
	return word_end(s, n, e) ? e : 0;
}

static int email_local(unsigned char c)
{
	return is_word(c) || c == '.' || c == '%' || c == '+' || c == '-';
}

/* An e-mail address at i: its end, or 0.  Scans at most 256 bytes, so
 * that a long run of dots costs no more than linear time overall. */
static size_t email(const unsigned char *s, size_t n, size_t i)
{
	size_t e = i, lim = i + 256 < n ? i + 256 : n;
	while (e < lim && email_local(s[e]))
		e++;
	if (e == i || e >= lim || s[e] != '@')
		return 0;
	size_t d = ++e, dots = 0;
	while (e < lim && (is_word(s[e]) || s[e] == '-' || (s[e] == '.' && e + 1 < n && is_word(s[e + 1])))) {
		dots += s[e] == '.';
		e++;
	}
	return e > d && dots ? e : 0;
}

static int path_byte(unsigned char c)
{
	return is_word(c) || c == '.' || c == '-' || c == '/' || c == '\\' || c == '~' || c == '+' ||
	       c == '@' || c == '%' || c >= 0x80;
}

/* A file path at i: /a/b, ./a, ../a, ~/a or C:\a.  Its end, or 0.  A
 * sentence's '.' or ',' after it is not part of it. */
/* A URL at i (scheme://...; version 2): its end, or 0. */
static size_t url(const unsigned char *s, size_t n, size_t i)
{
	size_t e = i;
	while (e < n && e < i + 16 && (is_alpha(s[e]) || is_digit(s[e]) || s[e] == '+' || s[e] == '-'))
		e++;
	if (e == i || e + 3 > n || memcmp(s + e, "://", 3))
		return 0;
	e += 3;
	while (e < n && s[e] > ' ' && s[e] != '"' && s[e] != '\'' && s[e] != '<' && s[e] != '>')
		e++;
	while (e > i && (s[e - 1] == '.' || s[e - 1] == ',' || s[e - 1] == ')' || s[e - 1] == ':'))
		e--;
	return e;
}

static size_t path(const unsigned char *s, size_t n, size_t i)
{
	size_t e = i;
	if (s[i] == '/' && i + 1 < n && path_byte(s[i + 1]) && s[i + 1] != '/')
		e = i + 1;
	else if (s[i] == '~' && i + 2 < n && s[i + 1] == '/')
		e = i + 2;
	else if (s[i] == '.' && i + 2 < n && s[i + 1] == '/')
		e = i + 2;
	else if (s[i] == '.' && i + 3 < n && s[i + 1] == '.' && s[i + 2] == '/')
		e = i + 3;
	else if (is_alpha(s[i]) && i + 3 < n && s[i + 1] == ':' && s[i + 2] == '\\')
		e = i + 3;
	else
		return 0;
	while (e < n && path_byte(s[e]))
		e++;
	while (e > i + 1 && (s[e - 1] == '.' || s[e - 1] == ','))
		e--;
	int letter = 0;
	for (size_t k = i; k < e && !letter; k++)
		letter = is_alpha(s[k]);
	return letter ? e : 0;
}

/* A hex number at i: 0x..., or a run of 8 or more hex digits holding a
 * digit and a letter (a hash, an object id).  Its end, or 0. */
static size_t hexnum(const unsigned char *s, size_t n, size_t i)
{
	size_t e = i;
	if (s[i] == '0' && i + 2 < n && (s[i + 1] | 0x20) == 'x' && is_hex(s[i + 2])) {
		for (e = i + 2; e < n && is_hex(s[e]); e++)
			;
		return word_end(s, n, e) ? e : 0;
	}
	int digit = 0, letter = 0;
	for (; e < n && is_hex(s[e]); e++) {
		digit |= is_digit(s[e]);
		letter |= !is_digit(s[e]);
	}
	return e - i >= 8 && digit && letter && word_end(s, n, e) ? e : 0;
}

/* A quoted value at i ('...', "..." or `...` on one line, at most 512
 * bytes, the quotes not inside a word: not the apostrophe of "don't").
 * Its end, or 0. */
static size_t quoted(const unsigned char *s, size_t n, size_t i)
{
	unsigned char q = s[i];
	if (q != '\'' && q != '"' && q != '`')
		return 0;
	if (i && is_word(s[i - 1]))
		return 0;
	for (size_t e = i + 1; e < n && e <= i + 512 && s[e] != '\n'; e++)
		if (s[e] == q)
			return word_end(s, n, e + 1) ? e + 1 : 0;
	return 0;
}

static int put(buf *out, const char *ph)
{
	return buf_puts(out, ph);
}

int eg_err_normalize(int version, const char *str, size_t n, buf *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, e;
	int bad = 0, v2 = version >= 2;
	if (v2)
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
			i++;
	while (i < n && !bad) {
		unsigned char c = s[i];
		int start = !i || !is_word(s[i - 1]);
		if ((e = quoted(s, n, i))) {
			bad = put(out, "<str>");
		} else if (start && is_digit(c) && (e = timestamp(s, n, i))) {
			bad = put(out, "<ts>");
		} else if (start && is_hex(c) && (e = uuid(s, n, i))) {
			bad = put(out, "<uuid>");
		} else if (v2 && start && is_digit(c) && (e = ipv4(s, n, i))) {
			bad = put(out, "<ip>");
		} else if (v2 && start && is_alpha(c) && (e = url(s, n, i))) {
			bad = put(out, "<url>");
		} else if (v2 && start && email_local(c) && c != '.' && (e = email(s, n, i))) {
			bad = put(out, "<email>");
		} else if (start && (c == '/' || c == '.' || c == '~' || is_alpha(c)) &&
			   (!i || s[i - 1] != ':' || c != '/') && (e = path(s, n, i))) {
			bad = put(out, "<path>");
		} else if (start && is_hex(c) && (e = hexnum(s, n, i))) {
			bad = put(out, "<hex>");
		} else if (is_digit(c)) {
			for (e = i; e < n && is_digit(s[e]); e++)
				;
			if (e + 1 < n && s[e] == '.' && is_digit(s[e + 1]))
				for (e++; e < n && is_digit(s[e]); e++)
					;
			bad = put(out, "<num>");
		} else if (v2 && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
			for (e = i; e < n && (s[e] == ' ' || s[e] == '\t' || s[e] == '\n' || s[e] == '\r'); e++)
				;
			if (e < n)
				bad = buf_add(out, " ", 1);
		} else {
			/* copy up to the next byte where something may start */
			for (e = i + 1; e < n && is_word(s[e]) && is_word(s[e - 1]) && !is_digit(s[e]); e++)
				;
			bad = buf_add(out, s + i, e - i);
		}
		i = e;
	}
	return bad ? -1 : 0;
}

/* ------------------------------------------------------------ hashing */

/* The parts hashed, each as its length (4 bytes, little endian) and its
 * bytes, so that no two lists of parts hash the same bytes. */
static int part(buf *h, const char *p, size_t n)
{
	unsigned char len[4] = { (unsigned char)n, (unsigned char)(n >> 8),
				 (unsigned char)(n >> 16), (unsigned char)(n >> 24) };
	return buf_add(h, len, 4) || buf_add(h, p, n) ? -1 : 0;
}

static int part_s(buf *h, const char *s)
{
	return part(h, s, strlen(s));
}

/* A string value decoded into tmp (reset first); its text in *p, *n. */
static int decode(const json_span *v, buf *tmp, const char **p, size_t *n)
{
	tmp->n = 0;
	if (v->type != JSON_STRING) {
		*p = v->p;
		*n = v->n;
		return 0;
	}
	if (buf_reserve(tmp, v->n))
		return -1;
	*n = eg_json_string_decode(v, tmp->p);
	*p = tmp->p;
	return 0;
}

/* A frame's function or file as version 2 hashes it: a file by its base
 * name (deployments put the same code under different directories), a
 * function normalised (lambda and closure numbers, addresses). */
static int frame_part(int version, int file, const char *p, size_t n, buf *h, buf *tmp)
{
	if (version < 2)
		return part(h, p, n);
	if (file) {
		for (size_t i = n; i-- > 0;)
			if (p[i] == '/' || p[i] == '\\') {
				p += i + 1;
				n -= i + 1;
				break;
			}
		return part(h, p, n);
	}
	tmp->n = 0;
	if (eg_err_normalize(version, p, n, tmp))
		return -1;
	return part(h, tmp->p, tmp->n);
}

/* The frames of a JSON array into h: the in-app ones, or all when none
 * is in app.  How many went in, or -1. */
static int array_frames(int version, const json_span *arr, buf *h, buf *tmp)
{
	json_arr it;
	json_span v;
	int any_app = 0, count = 0;
	for (int pass = 0; pass < 2; pass++) {
		eg_json_arr_begin(&it, arr);
		while (eg_json_arr_next(&it, &v) == 1) {
			if (v.type != JSON_OBJECT)
				continue;
			json_span f = { "\"\"", 2, JSON_STRING }, fl = f, a;
			int in_app = !eg_json_member(&v, "in_app", 6, &a) || a.type != JSON_FALSE;
			eg_json_member(&v, "function", 8, &f);
			eg_json_member(&v, "file", 4, &fl);
			if (!pass) {
				any_app |= in_app;
				continue;
			}
			if (any_app && !in_app)
				continue;
			const char *p;
			size_t n;
			buf fn = { 0 };
			/* the function is copied out: normalising it uses tmp */
			int bad = decode(&f, tmp, &p, &n) || buf_add(&fn, p, n) ||
				  frame_part(version, 0, fn.p ? fn.p : "", fn.n, h, tmp) ||
				  decode(&fl, tmp, &p, &n) || frame_part(version, 1, p, n, h, tmp);
			free(fn.p);
			if (bad)
				return -1;
			count++;
		}
	}
	return count;
}

/* The frames of a text stack into h, as array_frames. */
static int text_frames(int version, const json_span *s, buf *h, buf *tmp)
{
	size_t n;
	char *text = eg_json_string_dup(s, &n);
	if (!text)
		return -1;
	eg_stack st;
	if (eg_stack_parse(text, n, &st)) {
		free(text);
		return -1;
	}
	int any_app = 0, count = 0, bad = 0;
	for (size_t i = 0; i < st.n; i++)
		any_app |= st.f[i].in_app;
	for (size_t i = 0; i < st.n && !bad; i++) {
		if (any_app && !st.f[i].in_app)
			continue;
		bad = frame_part(version, 0, st.f[i].func, st.f[i].func_len, h, tmp) ||
		      frame_part(version, 1, st.f[i].file, st.f[i].file_len, h, tmp);
		count++;
	}
	eg_stack_free(&st);
	free(text);
	return bad ? -1 : count;
}

/* The default parts (frames, else type and message) into h. */
static int default_parts(int version, const char *type, size_t tn, const json_span *data,
			 buf *h, buf *tmp)
{
	json_span v;
	size_t mark = h->n;
	int got = 0;
	if (part_s(h, "stack"))
		return -1;
	if (eg_json_member(data, "stack", 5, &v)) {
		if (v.type == JSON_ARRAY)
			got = array_frames(version, &v, h, tmp);
		else if (v.type == JSON_STRING)
			got = text_frames(version, &v, h, tmp);
	}
	if (got < 0)
		return -1;
	if (got)
		return EG_FP_STACK;
	h->n = mark;
	const char *p = "";
	size_t n = 0;
	if (eg_json_member(data, "message", 7, &v) && decode(&v, tmp, &p, &n))
		return -1;
	buf norm = { 0 };
	int bad = eg_err_normalize(version, p, n, &norm) || part_s(h, "message") ||
		  part(h, type, tn) || part(h, norm.p ? norm.p : "", norm.n);
	free(norm.p);
	return bad ? -1 : EG_FP_MESSAGE;
}

/* An explicit data.fingerprint into h: 0 when there is none (or an empty
 * array), EG_FP_EXPLICIT, or -1. */
static int explicit_parts(int version, const char *type, size_t tn, const json_span *data,
			  buf *h, buf *tmp)
{
	json_span v, el;
	if (!eg_json_member(data, "fingerprint", 11, &v))
		return 0;
	if (v.type == JSON_STRING) {
		const char *p;
		size_t n;
		return decode(&v, tmp, &p, &n) || part_s(h, "explicit") || part(h, p, n) ? -1
			: EG_FP_EXPLICIT;
	}
	if (v.type != JSON_ARRAY)
		return 0;
	json_arr it;
	int count = 0;
	if (part_s(h, "explicit"))
		return -1;
	eg_json_arr_begin(&it, &v);
	while (eg_json_arr_next(&it, &el) == 1) {
		const char *p;
		size_t n;
		if (decode(&el, tmp, &p, &n))
			return -1;
		count++;
		if (el.type == JSON_STRING && (n == 13 || n == 11) &&
		    (!memcmp(p, "{{ default }}", n) || !memcmp(p, "{{default}}", n))) {
			if (default_parts(version, type, tn, data, h, tmp) < 0)
				return -1;
		} else if (part(h, p, n)) {
			return -1;
		}
	}
	return count ? EG_FP_EXPLICIT : 0;
}

/* The title: TYPE: the first line of the normalised message, cut. */
static int title_of(int version, const char *type, size_t tn, const json_span *data, buf *title)
{
	json_span v;
	buf tmp = { 0 }, norm = { 0 };
	const char *p = "";
	size_t n = 0;
	int bad = 0;
	if (eg_json_member(data, "message", 7, &v) && v.type == JSON_STRING)
		bad = decode(&v, &tmp, &p, &n);
	if (!bad)
		bad = eg_err_normalize(version, p, n, &norm);
	const char *nl = norm.n ? memchr(norm.p, '\n', norm.n) : NULL;
	size_t mn = nl ? (size_t)(nl - norm.p) : norm.n;
	size_t start = title->n;
	if (!bad && tn)
		bad = buf_add(title, type, tn) || (mn && buf_puts(title, ": "));
	if (!bad)
		bad = buf_add(title, norm.p, mn);
	if (!bad && title->n - start > EG_ERR_TITLE_MAX) {
		size_t cut = start + EG_ERR_TITLE_MAX;
		while (cut > start && ((unsigned char)title->p[cut] & 0xc0) == 0x80)
			cut--;            /* not inside a UTF-8 sequence */
		title->n = cut;
		bad = buf_puts(title, "...");
	}
	free(tmp.p);
	free(norm.p);
	return bad ? -1 : 0;
}

int eg_err_fingerprint(int version, const char *type, size_t tn, const char *data, size_t dn,
		       char fp[33], buf *title)
{
	if (version < 1 || version > EG_ERR_FP_LATEST)
		return -2;
	json_span d = { "{}", 2, JSON_OBJECT };
	if (dn && data[0] == '{')
		d = (json_span){ data, dn, JSON_OBJECT };
	buf h = { 0 }, tmp = { 0 };
	char head[32];
	int hn = snprintf(head, sizeof head, "engram-fp-v%d", version);
	int how = part(&h, head, (size_t)hn);
	if (!how)
		how = explicit_parts(version, type, tn, &d, &h, &tmp);
	if (!how)
		how = default_parts(version, type, tn, &d, &h, &tmp);
	unsigned char md[32];
	const EVP_MD *sha = how > 0 ? eg_chain_sha256() : NULL;
	if (how > 0 && (!sha || !EVP_Digest(h.p, h.n, md, NULL, sha, NULL)))
		how = -1;
	if (how > 0) {
		static const char hx[] = "0123456789abcdef";
		for (int i = 0; i < 16; i++) {
			fp[2 * i] = hx[md[i] >> 4];
			fp[2 * i + 1] = hx[md[i] & 15];
		}
		fp[32] = '\0';
		if (title && title_of(version, type, tn, &d, title))
			how = -1;
	}
	free(h.p);
	free(tmp.p);
	return how;
}
