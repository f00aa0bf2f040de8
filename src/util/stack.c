/*
 * stack.c — stack-trace text into frames (stack.h).  One pass over the
 * lines: the first line a format recognises fixes the language, and the
 * lines after it are read with that language's rules; lines no rule knows
 * (source lines under a Python frame, "... 5 more", blank lines) are
 * skipped, so that a trace cut or wrapped by a logger still gives the
 * frames it has.
 */
#include "stack.h"

#include <stdio.h>
#include <string.h>

typedef struct span {
	const char *p;
	size_t n;
} span;

static int starts(span s, const char *lit)
{
	size_t k = strlen(lit);
	return s.n >= k && memcmp(s.p, lit, k) == 0;
}

static int ends(span s, const char *lit)
{
	size_t k = strlen(lit);
	return s.n >= k && memcmp(s.p + s.n - k, lit, k) == 0;
}

static int has(span s, const char *lit)
{
	return memmem(s.p, s.n, lit, strlen(lit)) != NULL;
}

static span trim(span s)
{
	while (s.n && (s.p[0] == ' ' || s.p[0] == '\t'))
		s.p++, s.n--;
	while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\r'))
		s.n--;
	return s;
}

/* The decimal at [p, p + n) (digits only; capped), 0 if none. */
static uint32_t number(const char *p, size_t n)
{
	uint64_t v = 0;
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		if (v < 1000000000)
			v = v * 10 + (uint64_t)(p[i] - '0');
	}
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static int add(eg_stack *st, span func, span file, uint32_t line)
{
	if (buf_grow(&st->f, &st->cap, st->n + 1, sizeof *st->f))
		return -1;
	st->f[st->n++] = (eg_frame){ func.p, file.p, func.n, file.n, line,
				     eg_stack_in_app(st->lang, func.p, func.n, file.p, file.n) };
	return 0;
}

/* ------------------------------------------------------------ in_app */

static int has_n(const char *s, size_t n, const char *lit)
{
	return memmem(s, n, lit, strlen(lit)) != NULL;
}

static int pre_n(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	return n >= k && memcmp(s, lit, k) == 0;
}

int eg_stack_in_app(int lang, const char *func, size_t fn, const char *file, size_t filen)
{
	switch (lang) {
	case EG_STACK_PYTHON:
		return !(has_n(file, filen, "site-packages/") || has_n(file, filen, "dist-packages/") ||
			 has_n(file, filen, "/lib/python") || pre_n(file, filen, "<"));
	case EG_STACK_JAVA:
		return !(pre_n(func, fn, "java.") || pre_n(func, fn, "javax.") ||
			 pre_n(func, fn, "sun.") || pre_n(func, fn, "jdk.") ||
			 pre_n(func, fn, "com.sun."));
	case EG_STACK_GO:
		return !(pre_n(func, fn, "runtime.") || has_n(file, filen, "/src/runtime/") ||
			 has_n(file, filen, "/usr/local/go/") || has_n(file, filen, "/usr/lib/go") ||
			 has_n(file, filen, "/pkg/mod/") || has_n(file, filen, "/vendor/"));
	case EG_STACK_NODE:
		return filen && !(has_n(file, filen, "node_modules/") || pre_n(file, filen, "node:") ||
				  pre_n(file, filen, "internal/") || pre_n(file, filen, "<") ||
				  (filen == 6 && !memcmp(file, "native", 6)));
	}
	return 1;
}

const char *eg_stack_lang_name(int lang)
{
	static const char *const names[] = { "", "python", "java", "go", "node" };
	return lang >= 0 && lang <= EG_STACK_NODE ? names[lang] : "";
}

/* ------------------------------------------------------------ headers */

/* "Type: message" or "Type" (a type has no spaces): into st. */
static void type_message(eg_stack *st, span s)
{
	const char *c = memchr(s.p, ':', s.n);
	size_t tn = c ? (size_t)(c - s.p) : s.n;
	if (!tn || memchr(s.p, ' ', tn))
		return;
	st->type = s.p;
	st->type_len = tn;
	span m = { c ? c + 1 : s.p + s.n, c ? s.n - tn - 1 : 0 };
	m = trim(m);
	st->msg = m.p;
	st->msg_len = m.n;
}

/* The line before the frames of Java, Go and Node. */
static void header(eg_stack *st, span s)
{
	if (st->lang == EG_STACK_GO) {
		if (starts(s, "panic: ")) {
			st->type = s.p;
			st->type_len = 5;
			span m = trim((span){ s.p + 7, s.n - 7 });
			if (ends(m, " [recovered]"))
				m.n -= 12;
			st->msg = m.p;
			st->msg_len = m.n;
		}
		return;
	}
	if (starts(s, "Exception in thread \"")) {
		const char *q = memchr(s.p + 21, '"', s.n - 21);
		if (!q)
			return;
		s = trim((span){ q + 1, (size_t)(s.p + s.n - q - 1) });
	}
	if (starts(s, "Uncaught "))
		s = (span){ s.p + 9, s.n - 9 };
	type_message(st, s);
}

/* ------------------------------------------------------------ frames */

/* Python: File "x.py", line 3, in f */
static int python_frame(eg_stack *st, span t)
{
	const char *q = memchr(t.p + 6, '"', t.n - 6);
	if (!q)
		return 0;
	span file = { t.p + 6, (size_t)(q - t.p - 6) };
	span rest = { q + 1, (size_t)(t.p + t.n - q - 1) };
	uint32_t line = 0;
	span func = { rest.p + rest.n, 0 };
	if (starts(rest, ", line ")) {
		const char *d = rest.p + 7, *e = d;
		while (e < rest.p + rest.n && *e >= '0' && *e <= '9')
			e++;
		line = number(d, (size_t)(e - d));
		span r2 = { e, (size_t)(rest.p + rest.n - e) };
		if (starts(r2, ", in "))
			func = (span){ r2.p + 5, r2.n - 5 };
	}
	return add(st, func, file, line) ? -1 : 1;
}

/* "path:line" (Java, Go) into file and line; no ':' or no digits after
 * it leave the whole text the file. */
static void file_line(span s, span *file, uint32_t *line)
{
	*file = s;
	*line = 0;
	for (size_t i = s.n; i-- > 0;)
		if (s.p[i] == ':') {
			uint32_t v = number(s.p + i + 1, s.n - i - 1);
			if (v) {
				*file = (span){ s.p, i };
				*line = v;
			}
			return;
		}
}

/* Java: at com.x.Y.method(Y.java:12); rest is after "at ". */
static int java_frame(eg_stack *st, span rest)
{
	const char *o = memchr(rest.p, '(', rest.n);
	span func = { rest.p, (size_t)(o - rest.p) };
	/* a module or class loader before the class: java.base/java.lang... */
	for (size_t i = func.n; i-- > 0;)
		if (func.p[i] == '/') {
			func = (span){ func.p + i + 1, func.n - i - 1 };
			break;
		}
	span loc = { o + 1, (size_t)(rest.p + rest.n - o - 2) }, file;
	uint32_t line;
	file_line(loc, &file, &line);
	if (starts(file, "Native Method") || starts(file, "Unknown Source"))
		file.n = 0;
	return add(st, func, file, line) ? -1 : 1;
}

static int is_java(span rest)
{
	const char *o = memchr(rest.p, '(', rest.n);
	return o && o > rest.p && !memchr(rest.p, ' ', (size_t)(o - rest.p)) && ends(rest, ")");
}

/* A Node frame: "f (place)", or a place "path:line[:col]" alone (so that
 * "at the end of the day" in a message is none). */
static int is_node(span rest)
{
	if (ends(rest, ")") && has(rest, " ("))
		return 1;
	size_t i = rest.n;
	while (i && rest.p[i - 1] >= '0' && rest.p[i - 1] <= '9')
		i--;
	return i < rest.n && i > 1 && rest.p[i - 1] == ':' && !memchr(rest.p, ' ', rest.n);
}

/* Node: "f (/app/x.js:3:7)", "/app/x.js:3:7", "async f (...)". */
static int node_frame(eg_stack *st, span rest)
{
	span func = { rest.p, 0 }, loc = rest;
	if (ends(rest, ")")) {
		const char *o = NULL;
		for (size_t i = rest.n; i-- > 0;)
			if (rest.p[i] == '(' && i && rest.p[i - 1] == ' ') {
				o = rest.p + i;
				break;
			}
		if (o) {
			func = trim((span){ rest.p, (size_t)(o - rest.p) });
			loc = (span){ o + 1, (size_t)(rest.p + rest.n - o - 2) };
		}
	}
	if (starts(func, "async "))
		func = (span){ func.p + 6, func.n - 6 };
	/* path:line:col: the column goes, then the line */
	span file;
	uint32_t line = 0, col;
	file_line(loc, &file, &col);
	if (col)
		file_line(file, &file, &line);
	if (!line) {
		line = col;
		if (!col)
			file = loc;
	}
	return add(st, func, file, line) ? -1 : 1;
}

/* Go: the function line "main.f(0x1, ...)" (args cut) and the file line
 * "\t/path/file.go:12 +0x1d" after it. */
static int go_frame(eg_stack *st, span fl, span loc)
{
	span func = fl;
	if (starts(func, "created by ")) {
		func = (span){ func.p + 11, func.n - 11 };
		const char *g = memmem(func.p, func.n, " in goroutine ", 14);
		if (g)
			func.n = (size_t)(g - func.p);
	} else if (ends(func, ")")) {
		int depth = 0;
		for (size_t i = func.n; i-- > 0;) {
			depth += func.p[i] == ')' ? 1 : func.p[i] == '(' ? -1 : 0;
			if (!depth) {
				func.n = i;
				break;
			}
		}
	}
	const char *sp = memchr(loc.p, ' ', loc.n);
	if (sp)
		loc.n = (size_t)(sp - loc.p);
	span file;
	uint32_t line;
	file_line(loc, &file, &line);
	return add(st, func, file, line) ? -1 : 1;
}

static void reverse(eg_stack *st)
{
	for (size_t i = 0, j = st->n; i + 1 < j; i++, j--) {
		eg_frame t = st->f[i];
		st->f[i] = st->f[j - 1];
		st->f[j - 1] = t;
	}
}

/* The next line of [p, end) into *l; the position after it. */
static const char *next_line(const char *p, const char *end, span *l)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *e = nl ? nl : end;
	*l = (span){ p, (size_t)(e - p) };
	if (l->n && l->p[l->n - 1] == '\r')
		l->n--;
	return nl ? nl + 1 : end;
}

int eg_stack_parse(const char *s, size_t n, eg_stack *st)
{
	memset(st, 0, sizeof *st);
	const char *p = s, *end = s + n;
	span first = { NULL, 0 }, l;
	int goroutines = 0, stop = 0, r = 0;
	while (p < end && !stop && r >= 0) {
		p = next_line(p, end, &l);
		span t = trim(l);
		if (!t.n)
			continue;
		int indented = l.p[0] == ' ' || l.p[0] == '\t';
		if (starts(t, "Traceback (most recent call last):")) {
			/* a chained exception: the last traceback is the one raised */
			st->lang = EG_STACK_PYTHON;
			st->n = 0;
			st->type_len = st->msg_len = 0;
			continue;
		}
		if ((!st->lang || st->lang == EG_STACK_PYTHON) && starts(t, "File \"") &&
		    has(t, "\", line ")) {
			st->lang = EG_STACK_PYTHON;
			r = python_frame(st, t);
			continue;
		}
		if (st->lang == EG_STACK_PYTHON) {
			if (!indented)
				type_message(st, t);
			continue;
		}
		if ((!st->lang || st->lang == EG_STACK_GO) && starts(t, "goroutine ") && ends(t, "]:")) {
			st->lang = EG_STACK_GO;
			stop = goroutines++ > 0;
			continue;
		}
		if (st->lang == EG_STACK_GO) {
			span loc;
			const char *q = p;
			if (!indented && q < end) {
				q = next_line(q, end, &loc);
				loc = trim(loc);
				if (loc.n && (loc.p[0] == '/' || has(loc, ".go:"))) {
					p = q;
					r = go_frame(st, t, loc);
				}
			}
			continue;
		}
		if (starts(t, "at ") && t.n > 3) {
			span rest = trim((span){ t.p + 3, t.n - 3 });
			int java = is_java(rest);
			if ((!st->lang || st->lang == EG_STACK_JAVA) && java) {
				st->lang = EG_STACK_JAVA;
				r = java_frame(st, rest);
			} else if ((!st->lang || st->lang == EG_STACK_NODE) && !java && is_node(rest)) {
				st->lang = EG_STACK_NODE;
				r = node_frame(st, rest);
			}
			continue;
		}
		if (st->lang == EG_STACK_JAVA && (starts(t, "Caused by:") || starts(t, "Suppressed:")))
			stop = 1;
		else if (!st->lang && !first.n)
			first = t;
		else if (!st->lang && starts(t, "panic: "))
			first = t;
	}
	if (r < 0) {
		eg_stack_free(st);
		return -1;
	}
	if (st->lang != EG_STACK_PYTHON && st->lang && first.n)
		header(st, first);
	if (!st->n)
		st->lang = EG_STACK_NONE;
	if (st->lang != EG_STACK_PYTHON)
		reverse(st);
	return 0;
}

void eg_stack_free(eg_stack *st)
{
	free(st->f);
	memset(st, 0, sizeof *st);
}

int eg_stack_json(const eg_stack *st, buf *out)
{
	int bad = buf_puts(out, "[");
	for (size_t i = 0; i < st->n && !bad; i++) {
		const eg_frame *f = &st->f[i];
		char num[32];
		bad |= buf_puts(out, i ? ",{\"function\":" : "{\"function\":");
		bad |= buf_quote(out, f->func ? f->func : "", f->func_len);
		bad |= buf_puts(out, ",\"file\":");
		bad |= buf_quote(out, f->file ? f->file : "", f->file_len);
		if (f->line)
			snprintf(num, sizeof num, ",\"line\":%u", f->line);
		else
			snprintf(num, sizeof num, ",\"line\":null");
		bad |= buf_puts(out, num);
		bad |= buf_puts(out, f->in_app ? ",\"in_app\":true}" : ",\"in_app\":false}");
	}
	return bad || buf_puts(out, "]") ? -1 : 0;
}

/* ------------------------------------------------------------ --map stacks */

static int put_member(buf *b, int *first, const json_span *k, const char *v, size_t vn)
{
	int bad = buf_puts(b, *first ? "" : ",");
	*first = 0;
	bad |= buf_add(b, k->p, k->n);
	bad |= buf_puts(b, ":");
	return bad | buf_add(b, v, vn);
}

static int key_is(const json_span *k, const char *name)
{
	size_t n = strlen(name);
	return k->n == n + 2 && !memcmp(k->p + 1, name, n);
}

/* data rewritten with the frames; stack: the text's span. */
static int map_data(const json_span *data, const json_span *stack, const eg_stack *st, buf *b)
{
	json_obj it;
	json_span k, v;
	int first = 1, has_msg = 0, r, bad = buf_puts(b, "{");
	eg_json_obj_begin(&it, data->p, data->n, NULL);
	while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		if (key_is(&k, "stack") || key_is(&k, "stack_text"))
			continue;
		has_msg |= key_is(&k, "message");
		bad |= put_member(b, &first, &k, v.p, v.n);
	}
	json_span ks = { "\"stack\"", 7, JSON_STRING }, kt = { "\"stack_text\"", 12, JSON_STRING },
		  km = { "\"message\"", 9, JSON_STRING };
	if (!has_msg && st->msg_len) {
		bad |= put_member(b, &first, &km, "", 0);
		bad |= buf_quote(b, st->msg, st->msg_len);
	}
	bad |= put_member(b, &first, &ks, "", 0);
	bad |= eg_stack_json(st, b);
	bad |= put_member(b, &first, &kt, stack->p, stack->n);
	return bad | buf_puts(b, "}");
}

int eg_stack_map_line(const char *s, size_t n, buf *out, char *err, size_t errlen)
{
	json_obj it;
	json_span k, v, data = { 0 }, stack;
	json_err je;
	int r, has_type = 0;
	if (eg_json_obj_begin(&it, s, n, &je)) {
		snprintf(err, errlen, "expected a JSON object (%s at byte %zu)", je.what, je.off);
		return 1;
	}
	while ((r = eg_json_obj_next(&it, &k, &v, &je)) == 1) {
		if (key_is(&k, "data") && v.type == JSON_OBJECT)
			data = v;
		has_type |= key_is(&k, "type") && v.type == JSON_STRING;
	}
	if (r < 0) {
		snprintf(err, errlen, "expected a JSON object (%s at byte %zu)", je.what, je.off);
		return 1;
	}
	if (!data.p || !eg_json_member(&data, "stack", 5, &stack) || stack.type != JSON_STRING)
		return buf_add(out, s, n);
	size_t tn;
	char *text = eg_json_string_dup(&stack, &tn);
	if (!text)
		return -1;
	eg_stack st;
	if (eg_stack_parse(text, tn, &st)) {
		free(text);
		return -1;
	}
	if (!st.n) {
		eg_stack_free(&st);     /* frames a later traceback took back */
		free(text);
		return buf_add(out, s, n);
	}
	int first = 1, bad = buf_puts(out, "{");
	eg_json_obj_begin(&it, s, n, NULL);
	while (eg_json_obj_next(&it, &k, &v, NULL) == 1) {
		if (key_is(&k, "data")) {
			bad |= put_member(out, &first, &k, "", 0);
			bad |= map_data(&data, &stack, &st, out);
		} else {
			bad |= put_member(out, &first, &k, v.p, v.n);
		}
	}
	if (!has_type && st.type_len) {
		json_span kt = { "\"type\"", 6, JSON_STRING };
		bad |= put_member(out, &first, &kt, "", 0);
		bad |= buf_quote(out, st.type, st.type_len);
	}
	bad |= buf_puts(out, "}");
	eg_stack_free(&st);
	free(text);
	return bad ? -1 : 0;
}

int eg_stack_conv(const char *in, size_t n, buf *out, uint32_t **lines, char *err,
		  size_t errcap)
{
	uint32_t *l = NULL;
	size_t nl = 0, lcap = 0;
	uint32_t line = 0;
	const char *p = in, *end = in + n;
	*lines = NULL;
	while (p < end) {
		const char *nlp = memchr(p, '\n', (size_t)(end - p));
		const char *e = nlp ? nlp : end;
		size_t len = (size_t)(e - p);
		line++;
		if (len && p[len - 1] == '\r')
			len--;
		size_t i = 0;
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i < len) {
			char why[200];
			int r = eg_stack_map_line(p, len, out, why, sizeof why);
			if (r == 0)
				r = buf_add(out, "\n", 1) ? -1 : 0;
			if (r == 0 && buf_grow(&l, &lcap, nl + 1, sizeof *l))
				r = -1;
			if (r) {
				if (r < 0)
					snprintf(err, errcap, "out of memory");
				else
					snprintf(err, errcap, "line %u: %s", line, why);
				free(l);
				return -1;
			}
			l[nl++] = line;
		}
		p = nlp ? nlp + 1 : end;
	}
	*lines = l;
	return 0;
}
