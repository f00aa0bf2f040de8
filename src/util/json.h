/*
 * json.h — a validating JSON scanner, the parser behind every NDJSON line.
 *
 * It never builds a tree: callers walk the members of one object, get each
 * value as a span of the input, and copy spans out minified.  Every function
 * rejects invalid JSON (RFC 8259) and invalid UTF-8, and reports the byte
 * offset of the first problem so that errors can name what was expected.
 */
#ifndef EG_JSON_H
#define EG_JSON_H

#include <stddef.h>
#include <stdint.h>

enum json_type {
	JSON_NULL = 1, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING,
	JSON_ARRAY, JSON_OBJECT
};

/* Why a scan failed: the offset (from the start of the text) and a short
 * static phrase such as "invalid UTF-8 in string" or "expected ',' or '}'".
 * Running out of input ("unexpected end of input") is reported at off == n.
 * Functions taking a json_err * accept NULL when only the verdict matters. */
typedef struct json_err {
	size_t off;
	const char *what;
} json_err;

/* A value found in the input: [p, p + n) is its exact text (strings keep
 * their quotes and escapes). */
typedef struct json_span {
	const char *p;
	size_t n;
	enum json_type type;
} json_span;

/* Maximum nesting depth accepted; deeper input is rejected, not recursed.
 * The object walked by json_obj counts as one level, so a member value may
 * nest JSON_MAX_DEPTH - 1 deep, exactly as eg_json_validate would accept. */
#define JSON_MAX_DEPTH 256

/*
 * Validate one whole JSON text in [s, s+n): one value with optional
 * surrounding whitespace and nothing else.  Returns 0, or -1 with *err set.
 */
int eg_json_validate(const char *s, size_t n, json_err *err);

/*
 * Walk the members of a top-level object.  Usage:
 *
 *     json_obj it; json_span key, val;
 *     if (eg_json_obj_begin(&it, s, n, &err)) ...error...
 *     while ((r = eg_json_obj_next(&it, &key, &val, &err)) == 1) { ... }
 *     if (r < 0) ...error...
 *
 * eg_json_obj_begin fails unless the text (after whitespace) starts with '{'.
 * eg_json_obj_next returns 1 with the next member (key is a JSON_STRING span,
 * quotes included; val fully validated), 0 at the closing '}' when only
 * whitespace follows it, or -1 with *err on invalid input.
 */
typedef struct json_obj {
	const char *p, *end, *start;
	int state;
} json_obj;

int eg_json_obj_begin(json_obj *it, const char *s, size_t n, json_err *err);
int eg_json_obj_next(json_obj *it, json_span *key, json_span *val, json_err *err);

/*
 * Walk the elements of an array, given as a validated JSON_ARRAY span (for
 * instance a member value from eg_json_obj_next).  eg_json_arr_next returns 1 with
 * the next element, 0 at the closing ']'.
 */
typedef struct json_arr {
	const char *p, *end;
	int first;
} json_arr;

void eg_json_arr_begin(json_arr *it, const json_span *array);
int eg_json_arr_next(json_arr *it, json_span *val);

/*
 * Find the member `name` (raw bytes, no quotes, compared to the key's
 * decoded text) of a validated JSON_OBJECT span.  Returns 1 and the value,
 * or 0 if absent (the last of duplicate keys wins).
 */
int eg_json_member(const json_span *object, const char *name, size_t n, json_span *val);

/*
 * Find several members of a JSON_OBJECT span in one pass, for text already
 * validated (an event's stored data): values are skipped, not validated
 * again.  Member names[i] (raw bytes, length lens[i], compared to the key's
 * decoded text) goes to vals[i]; bit i of the result says it was found (the
 * last of duplicate keys wins, as eg_json_member).  At most 32 names.  Never
 * reads outside the span, whatever its bytes, but the answer means
 * something only for valid JSON.
 */
unsigned eg_json_members_valid(const json_span *object, const char *const *names,
			    const size_t *lens, int k, json_span *vals);

/*
 * Decode a JSON_STRING span (with quotes) into raw UTF-8 bytes at out, which
 * must hold at least span.n bytes.  Returns the decoded length.  The span
 * must come from a successful scan (it is not validated again).  \u0000 is
 * decoded as a NUL byte.
 */
size_t eg_json_string_decode(const json_span *s, char *out);

/* The same for a string's body [p, end), its quotes left out: what the
 * schema validator decodes while it walks text without spans. */
size_t eg_json_unescape(const char *p, const char *end, char *out);

/*
 * Past the string whose opening quote is at p: just after its closing
 * quote, or end if it never closes.  For text assumed valid (it is not
 * checked), bounded whatever its bytes.  *flags (may be NULL) gets
 * JSON_STR_ESCAPED if the body holds a backslash and JSON_STR_NONASCII if
 * it holds a byte >= 0x80: a body with neither is its own decoded text and
 * counts one code point per byte, which lets a caller skip decoding it.
 */
#define JSON_STR_ESCAPED 1u
#define JSON_STR_NONASCII 2u
const char *eg_json_string_end(const char *p, const char *end, unsigned *flags);

/* In validated JSON text: past the value at p (a string, a container with
 * everything in it, or a number or literal up to its delimiter), or NULL
 * when a string or container does not close before end. */
const char *eg_json_value_end(const char *p, const char *end);

/* A decoded, NUL-terminated copy of a JSON_STRING span (malloc'd; NUL bytes
 * inside are kept), its length in *n when n is not NULL; NULL when out of
 * memory. */
char *eg_json_string_dup(const json_span *s, size_t *n);

/* Which of names[0..n) a JSON value is, as a string (compared after
 * decoding): its index, or -1 when it is not a string or none of them.
 * For keyword values such as a type or an operation name. */
int eg_json_string_index(const json_span *s, const char *const *names, int n);

/* The type of the valid JSON value whose first byte is c. */
enum json_type eg_json_type_of(char c);

/* True if a JSON_STRING span (quotes included) needs no unescaping, so its
 * bytes between the quotes are already the decoded string. */
int eg_json_string_is_plain(const json_span *s);

/*
 * Copy a validated value to out without insignificant whitespace; every
 * other byte (key order, number text, string escapes) is kept exactly.
 * out must hold span.n bytes.  Returns the length written.
 */
size_t eg_json_minify(const json_span *v, char *out);

/* Append s (raw UTF-8 of length n, assumed valid) to out as a JSON string
 * literal with quotes, escaping '"', '\\' and control characters.  out must
 * hold 6 * n + 2 bytes.  Returns the length written. */
size_t eg_json_quote(const char *s, size_t n, char *out);

/* Check that [s, s+n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
 * Returns 1 if it is, 0 if not. */
int eg_json_utf8_valid(const char *s, size_t n);

#endif
