/*
 * schema_int.h — the compiled form of a schema, shared by the compiler
 * (schema_compile.c) and the validator (schema_validate.c), and the exact
 * decimals and canonical JSON both use.  Not for other modules.
 */
#ifndef EG_SCHEMA_INT_H
#define EG_SCHEMA_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <string.h>

#include "schema.h"

/* Type bits (the "type" keyword); integer is also a number. */
enum {
	ST_NULL = 1, ST_BOOL = 2, ST_OBJECT = 4, ST_ARRAY = 8, ST_NUMBER = 16,
	ST_INTEGER = 32, ST_STRING = 64, ST_ALL = 127
};

enum sformat { SF_NONE, SF_DATE_TIME, SF_DATE, SF_EMAIL, SF_UUID, SF_URI };

/*
 * A JSON number as an exact decimal, whatever its length: the first 19
 * significant digits in m (trailing zeros stripped), the decimal exponent e
 * of m's last digit, lead the exponent of the first digit, tail set when
 * nonzero digits beyond the 19th were dropped, last the exponent of the
 * last nonzero digit (the value is an integer iff last >= 0).  Exponents
 * are clamped far beyond any double, so comparisons stay exact.
 */
typedef struct sdec {
	uint64_t m;
	int64_t e, lead, last;
	int neg, zero, tail;
} sdec;

void eg_sdec_parse(const char *s, size_t n, sdec *d);
int eg_sdec_cmp(const sdec *a, const sdec *b);

/* A growable byte buffer (grown by buf.h's buf_reserve) whose failure
 * sticks: oom set once an allocation failed, so that the canonical form's
 * many small appends are checked once at the end. */
typedef struct sbuf {
	char *p;
	size_t n, cap;
	int oom;
} sbuf;

int eg_sbuf_reserve(sbuf *b, size_t more);

/* The canonical form of the JSON value at p (its text up to end): equal for
 * values equal as JSON (numbers by value, objects whatever their key order,
 * strings after unescaping), appended to out.  Returns the end of the value
 * in the text, or NULL on text that is not JSON, too deep, or out of memory
 * (out->oom). */
struct scanon;
const char *eg_schema_canon(struct scanon *c, sbuf *out, const char *p, const char *end);
struct scanon *eg_scanon_new(void);
void eg_scanon_free(struct scanon *c);

/* One entry of "properties" or "required": name (decoded), child node (-1
 * when only required), and its index among the required names (-1 if not
 * required).  Sorted by name. */
typedef struct sprop {
	char *name;
	size_t n;
	int child, req;
} sprop;

/* The slot of a member name in a node's property table (ptab): its length
 * and its first and last eight bytes, mixed.  Names of the same length
 * that differ only in their middle share a slot and go to the next. */
static inline uint32_t eg_schema_name_hash(const char *k, size_t n)
{
	uint64_t a = 0, b = 0;

	if (n >= 8) {
		memcpy(&a, k, 8);
		memcpy(&b, k + n - 8, 8);
	} else if (n >= 4) {
		uint32_t x, y;
		memcpy(&x, k, 4);
		memcpy(&y, k + n - 4, 4);
		a = x;
		b = y;
	} else if (n > 0) {
		a = (uint64_t)(unsigned char)k[0] | (uint64_t)(unsigned char)k[n / 2] << 8 |
		    (uint64_t)(unsigned char)k[n - 1] << 16;
	}
	uint64_t h = (a ^ n) * 0x9E3779B97F4A7C15ULL ^ b * 0xC2B2AE3D27D4EB4FULL;
	return (uint32_t)(h >> 32);
}

/* Keyword presence bits of a node. */
enum {
	SK_MIN = 1, SK_MAX = 2, SK_XMIN = 4, SK_XMAX = 8, SK_MULT = 16,
	SK_MINLEN = 32, SK_MAXLEN = 64, SK_MINITEMS = 128, SK_MAXITEMS = 256,
	SK_UNIQUE = 512, SK_CONST = 1024, SK_ENUM = 2048, SK_PATTERN = 4096,
	SK_FORMAT = 8192, SK_REQUIRED = 16384
};

typedef struct snode {
	int boolean;          /* -1 an object schema; 0 false; 1 true */
	unsigned types;       /* ST_* bits allowed; ST_ALL when no "type" */
	unsigned has;         /* SK_* bits */
	int ref;              /* node applied to the same value, -1 none */
	char *refpath;        /* the schema path of this node's $ref */
	char *reftext;        /* its value, until resolved */
	sprop *props;
	int nprops, nreq;
	int *ptab;            /* props by name hash: index + 1, 0 empty */
	unsigned pmask;       /* ptab has pmask + 1 slots, at most half full */
	int additional;       /* -1 anything allowed, -2 false, else a node */
	int items;            /* -1 none */
	sdec num[5];          /* minimum, maximum, exclusive ones, multipleOf */
	char *numtext[5];     /* as written, for messages */
	int64_t minlen, maxlen, minitems, maxitems;
	int unique;
	pcre2_code *re;
	int jit;              /* re is JIT-compiled: pcre2_jit_match may run it */
	char *pattern;
	int format;
	char *cst;            /* const, canonical */
	size_t cstn;
	char *csttext;        /* const or the enum list, minified */
	char **en;            /* enum values, canonical */
	size_t *enn;
	int nenum;
} snode;

/* An annotation kept from the document. */
typedef struct sannot {
	char *at, *name, *json;
	size_t n;
} sannot;

struct eg_schema {
	snode *nodes;
	int nnodes;
	size_t cap;
	int env[3];             /* actor, session, stream nodes, -1 none */
	unsigned envreq;        /* bit i: env field i required */
	sannot *annots;
	int nannots;
	size_t acap;
	pcre2_match_context *mctx;
};

#define SNUM_MIN 0
#define SNUM_MAX 1
#define SNUM_XMIN 2
#define SNUM_XMAX 3
#define SNUM_MULT 4

#endif
