/*
 * schema_int.h — the compiled form of a schema, shared by the compiler
 * (schema_compile.c) and the validator (schema_validate.c), and the exact
 * decimals and canonical JSON both use.  Not for other modules.
 */
#ifndef EG_SCHEMA_INT_H
#define EG_SCHEMA_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>
#include <stdint.h>

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

/* A growable byte buffer; oom set once an allocation failed. */
typedef struct sbuf {
	char *p;
	size_t n, cap;
	int oom;
} sbuf;

int eg_sbuf_reserve(sbuf *b, size_t more);

/* The end of the string starting at the quote p (after its closing quote),
 * or end if it never closes. */
const char *eg_schema_str_end(const char *p, const char *end);

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
	int additional;       /* -1 anything allowed, -2 false, else a node */
	int items;            /* -1 none */
	sdec num[5];          /* minimum, maximum, exclusive ones, multipleOf */
	char *numtext[5];     /* as written, for messages */
	int64_t minlen, maxlen, minitems, maxitems;
	int unique;
	pcre2_code *re;
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
	int nnodes, cap;
	int env[3];             /* actor, session, stream nodes, -1 none */
	unsigned envreq;        /* bit i: env field i required */
	sannot *annots;
	int nannots, acap;
	pcre2_match_context *mctx;
	/* One match block kept for the next validation; taken by exchange so
	 * that threads never share one. */
	_Atomic(pcre2_match_data *) md;
};

#define SNUM_MIN 0
#define SNUM_MAX 1
#define SNUM_XMIN 2
#define SNUM_XMAX 3
#define SNUM_MULT 4

#endif
