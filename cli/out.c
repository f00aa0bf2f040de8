/*
 * out.c — the one row writer every command prints through, in ndjson, csv
 * or an aligned table.  ndjson is the fast path (engram read streams
 * millions of events through it), so values are formatted straight into a
 * large buffer with no per-field allocation.
 */
#include "cli.h"
#include "json.h"
#include "timefmt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define OBUF (1u << 20)
#define TABLE_SAMPLE 200   /* rows used to size table columns */
#define TABLE_MINW 8       /* a cut column keeps at least this many code points */

typedef struct cell {
	char *s;
	size_t n;
} cell;

struct out {
	FILE *f;
	int format, err;
	int schema_col;        /* out_event: csv and table have schema_version */
	int tags_col;          /* out_event: csv and table have tags */
	char *buf;
	size_t len, cap;
	int nfield;            /* fields in the current row */
	/* csv and table: the header and cells of the current row */
	char **keys;
	int nkeys, header_done;
	cell *row;
	int nrow_cells, caprow;
	/* table: buffered rows until widths are known */
	cell **rows;
	int nrows, caprows;
	int *width;
	uint64_t json, time;   /* bit i: column i holds JSON (out_json), times */
	int widths_fixed, live;
	int declared;          /* the keys came from out_header */
	int failed;            /* out_failed: say nothing of an empty result */
	int termw;             /* the terminal's width; 0: no limit */
	/* time formatting cache: the days of the last times printed (event
	 * time and record time alternate, so two entries) */
	int64_t day[2];
	char daybuf[2][EG_TIME_LEN + 1];
	int next_day;
};

/* The width a table must fit: the terminal's, else $COLUMNS, else none
 * (a table written to a file is cut nowhere). */
static int terminal_width(FILE *f)
{
	struct winsize ws;
	if (isatty(fileno(f)) && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	int w = c ? atoi(c) : 0;
	return w > 0 ? w : 0;
}

/* What out_new gives when it cannot allocate: writes to it do nothing and
 * out_free reports ENOMEM, so callers need no check of their own. */
static out oom_out = { .format = FMT_NDJSON, .err = ENOMEM };

out *out_new(FILE *f, int format)
{
	out *o = calloc(1, sizeof *o);
	if (!o) {
		oom_out.f = f;
		return &oom_out;
	}
	o->f = f;
	o->format = format;
	o->cap = OBUF;
	o->buf = malloc(o->cap);
	o->day[0] = o->day[1] = INT64_MIN;
	if (format == FMT_TABLE)
		o->termw = terminal_width(f);
	if (!o->buf) {
		free(o);
		oom_out.f = f;
		return &oom_out;
	}
	return o;
}

static void ensure(out *o, size_t n)
{
	if (o->len + n <= o->cap || o->err)
		return;
	if (o->format == FMT_NDJSON && o->len) {
		out_flush(o);
		if (n <= o->cap)
			return;
	}
	size_t cap = (o->len + n) * 2;
	char *b = realloc(o->buf, cap);
	if (!b) {
		o->err = ENOMEM;
		return;
	}
	o->buf = b;
	o->cap = cap;
}

static void table_fix_widths(out *o);

void out_live(out *o)
{
	o->live = 1;
}

int out_flush(out *o)
{
	/* A table holds rows back to size its columns; a flush writes them,
	 * so that what a caller flushed (before moving a checkpoint, or while
	 * following) is on the output. */
	if (o->format == FMT_TABLE && !o->widths_fixed && o->nrows)
		table_fix_widths(o);
	if (o->format == FMT_NDJSON && o->len) {
		if (fwrite(o->buf, 1, o->len, o->f) != o->len && !o->err)
			o->err = errno ? errno : EIO;
		o->len = 0;
	}
	if (fflush(o->f) && !o->err)
		o->err = errno;
	return o->err ? -1 : 0;
}

int out_finish(out *o, int rc)
{
	int err = o ? o->err : 0;
	if (out_free(o) == 0 || rc != EXIT_OK)
		return rc;
	if (!err)
		err = errno ? errno : EIO;
	cli_error("cannot write the output: %s", strerror(err));
	return EXIT_ERR;
}

int out_error(const out *o)
{
	return o->err;
}

static void put(out *o, const char *s, size_t n)
{
	ensure(o, n);
	if (o->len + n > o->cap)
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* ---------------------------------------------------------- csv/table */

/* Start a cell for key: remember the key for the header, and the buffer
 * offset where the cell's text begins. */
static size_t cell_begin(out *o, const char *key)
{
	if (!o->header_done && !o->declared) {
		char **k = realloc(o->keys, (size_t)(o->nkeys + 1) * sizeof *k);
		if (k) {
			o->keys = k;
			o->keys[o->nkeys++] = strdup(key);
		}
	}
	return o->len;
}

static void cell_end(out *o, size_t start)
{
	if (o->nrow_cells == o->caprow) {
		int cap = o->caprow ? o->caprow * 2 : 16;
		cell *r = realloc(o->row, (size_t)cap * sizeof *r);
		if (!r) {
			o->err = ENOMEM;
			return;
		}
		o->row = r;
		o->caprow = cap;
	}
	cell *c = &o->row[o->nrow_cells++];
	c->n = o->len - start;
	c->s = malloc(c->n + 1);
	if (c->s) {
		memcpy(c->s, o->buf + start, c->n);
		c->s[c->n] = 0;
	}
	o->len = start;
}

static void csv_field(FILE *f, const char *s, size_t n)
{
	int quote = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
			quote = 1;
	if (!quote) {
		fwrite(s, 1, n, f);
		return;
	}
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			fputc('"', f);
		fputc(s[i], f);
	}
	fputc('"', f);
}

/* Display width of UTF-8 text: count of code points (good enough). */
static int dwidth(const char *s, size_t n)
{
	int w = 0;
	for (size_t i = 0; i < n; i++)
		w += ((unsigned char)s[i] & 0xc0) != 0x80;
	return w;
}

/* Hashes and ids are what a user copies from a table: never cut them (an
 * error group's fingerprint, for errors show), nor a sparkline, which is
 * read whole. */
static int never_cut(const char *key)
{
	static const char *const KEYS[] = { "id", "hash", "head", "stream", "key",
					    "session", "consumer", "name", "fingerprint",
					    "trend" };
	for (size_t i = 0; i < sizeof KEYS / sizeof *KEYS; i++)
		if (!strcmp(key, KEYS[i]))
			return 1;
	size_t n = strlen(key);
	return (n > 3 && !strcmp(key + n - 3, "_id")) || (n > 4 && !strcmp(key + n - 4, "hash"));
}

static int cuttable(const out *o, int i)
{
	return !never_cut(o->keys[i]);
}

static void table_print_row(out *o, cell *r, int n)
{
	for (int i = 0; i < n; i++) {
		int w = o->width[i];
		const char *s = r[i].s ? r[i].s : "";
		size_t len = r[i].n;
		int dw = dwidth(s, len);
		if (i)
			fputs("  ", o->f);
		/* a control character (a newline in a value) would break the
		 * layout: show it as a space */
		char *cs = r[i].s;
		for (size_t k = 0; cs && k < len; k++)
			if ((unsigned char)cs[k] < 0x20)
				cs[k] = ' ';
		if (dw > w && cuttable(o, i)) {
			/* cut to w-3 code points and add "..." */
			size_t k = 0;
			int cw = 0;
			while (k < len && cw < w - 3) {
				k++;
				while (k < len && ((unsigned char)s[k] & 0xc0) == 0x80)
					k++;
				cw++;
			}
			fwrite(s, 1, k, o->f);
			fputs("...", o->f);
		} else {
			fwrite(s, 1, len, o->f);
			if (i + 1 < n)
				for (int p = dw; p < w; p++)
					fputc(' ', o->f);
		}
	}
	fputc('\n', o->f);
}

/* The narrowest a column may be cut to: its header, or TABLE_MINW. */
static int min_width(const out *o, int i)
{
	int h = dwidth(o->keys[i], strlen(o->keys[i]));
	return h > TABLE_MINW ? h : TABLE_MINW;
}

/* Which columns a narrow terminal cuts first: JSON payloads, then other
 * text, then times (a cut time is little use); ids and hashes never. */
static int cut_class(const out *o, int i)
{
	if (!cuttable(o, i))
		return 3;
	if (i < 64 && (o->json >> i & 1))
		return 0;
	return i < 64 && (o->time >> i & 1) ? 2 : 1;
}

/* The column to cut next: the widest of the first class that has one
 * above its minimum; -1 if none.  *second: the next widest of that class. */
static int widest(const out *o, int *second)
{
	for (int cls = 0; cls < 3; cls++) {
		int wi = -1;
		*second = 0;
		for (int i = 0; i < o->nkeys; i++) {
			if (cut_class(o, i) != cls || o->width[i] <= min_width(o, i))
				continue;
			if (wi < 0 || o->width[i] > o->width[wi]) {
				if (wi >= 0)
					*second = o->width[wi];
				wi = i;
			} else if (o->width[i] > *second) {
				*second = o->width[i];
			}
		}
		if (wi >= 0)
			return wi;
	}
	return -1;
}

/* The width of a row at the current column widths. */
static int table_total(const out *o)
{
	int total = 2 * (o->nkeys - 1);
	for (int i = 0; i < o->nkeys; i++)
		total += o->width[i];
	return total;
}

/* One row too wide for the terminal (stats, verify): a line per column,
 * name then value, as psql's expanded display does, so nothing is cut. */
static void table_expanded(out *o)
{
	int kw = 0;
	for (int i = 0; i < o->nkeys; i++)
		if (dwidth(o->keys[i], strlen(o->keys[i])) > kw)
			kw = dwidth(o->keys[i], strlen(o->keys[i]));
	cell *r = o->rows[0];
	for (int i = 0; i < o->nkeys; i++) {
		fputs(o->keys[i], o->f);
		for (int p = dwidth(o->keys[i], strlen(o->keys[i])); p < kw + 2; p++)
			fputc(' ', o->f);
		if (r[i].s)
			fwrite(r[i].s, 1, r[i].n, o->f);
		fputc('\n', o->f);
		free(r[i].s);
	}
	free(r);
	o->nrows = 0;
	o->widths_fixed = 1;
}

/* Fit the columns to the terminal: cut the column widest() names, never
 * below its minimum, until the row fits or nothing more can go. */
static void table_fit(out *o)
{
	int n = o->nkeys, total = table_total(o), second, wi;
	while (total > o->termw && (wi = widest(o, &second)) >= 0) {
		int to = o->width[wi] - (total - o->termw);
		if (to < second)
			to = second;
		if (to < min_width(o, wi))
			to = min_width(o, wi);
		if (to == o->width[wi])
			to--;
		total -= o->width[wi] - to;
		o->width[wi] = to;
	}
	/* Following, later rows may be wider than the first ones: give the
	 * room left to the JSON columns, whose width varies most. */
	int njson = 0;
	for (int i = 0; i < n; i++)
		njson += cut_class(o, i) == 0;
	if (!o->live || !njson || total >= o->termw)
		return;
	int extra = (o->termw - total) / njson;
	for (int i = 0; i < n; i++)
		if (cut_class(o, i) == 0)
			o->width[i] += extra;
}

static void table_fix_widths(out *o)
{
	o->width = calloc((size_t)o->nkeys + 1, sizeof *o->width);
	if (!o->width)
		return;
	for (int i = 0; i < o->nkeys; i++)
		o->width[i] = dwidth(o->keys[i], strlen(o->keys[i]));
	for (int r = 0; r < o->nrows; r++)
		for (int i = 0; i < o->nkeys; i++) {
			int w = o->rows[r][i].s ? dwidth(o->rows[r][i].s, o->rows[r][i].n) : 0;
			if (w > o->width[i])
				o->width[i] = w;
		}
	if (o->termw && !o->live && o->nrows == 1 && table_total(o) > o->termw) {
		table_expanded(o);
		return;
	}
	if (o->termw)
		table_fit(o);
	cell *hdr = calloc((size_t)o->nkeys + 1, sizeof *hdr);
	for (int i = 0; hdr && i < o->nkeys; i++)
		hdr[i] = (cell){ o->keys[i], strlen(o->keys[i]) };
	if (hdr)
		table_print_row(o, hdr, o->nkeys);
	free(hdr);
	for (int r = 0; r < o->nrows; r++) {
		table_print_row(o, o->rows[r], o->nkeys);
		for (int i = 0; i < o->nkeys; i++)
			free(o->rows[r][i].s);
		free(o->rows[r]);
	}
	o->nrows = 0;
	o->widths_fixed = 1;
}

/* ---------------------------------------------------------------- rows */

static void csv_header(out *o)
{
	for (int i = 0; i < o->nkeys; i++) {
		if (i)
			fputc(',', o->f);
		csv_field(o->f, o->keys[i], strlen(o->keys[i]));
	}
	fputc('\n', o->f);
}

void out_failed(out *o)
{
	o->failed = 1;
}

void out_header(out *o, const char *const *keys, int n)
{
	if (o->header_done || o->nkeys || o->format == FMT_NDJSON)
		return;
	for (int i = 0; i < n; i++)
		cell_begin(o, keys[i]);
	o->declared = 1;
}

void out_row_begin(out *o)
{
	o->nfield = 0;
	o->nrow_cells = 0;
	if (o->format == FMT_NDJSON)
		put(o, "{", 1);
}

void out_row_end(out *o)
{
	if (o->format == FMT_NDJSON) {
		put(o, "}\n", 2);
		return;
	}
	int n = o->nrow_cells;
	if (o->format == FMT_CSV) {
		if (!o->header_done)
			csv_header(o);
		for (int i = 0; i < n; i++) {
			if (i)
				fputc(',', o->f);
			if (o->row[i].s)
				csv_field(o->f, o->row[i].s, o->row[i].n);
			free(o->row[i].s);
		}
		fputc('\n', o->f);
	} else if (o->widths_fixed) {
		table_print_row(o, o->row, n < o->nkeys ? n : o->nkeys);
		for (int i = 0; i < n; i++)
			free(o->row[i].s);
	} else {
		if (o->nrows == o->caprows) {
			int cap = o->caprows ? o->caprows * 2 : 64;
			cell **r = realloc(o->rows, (size_t)cap * sizeof *r);
			if (!r) {
				o->err = ENOMEM;
				return;
			}
			o->rows = r;
			o->caprows = cap;
		}
		cell *copy = calloc((size_t)o->nkeys + 1, sizeof *copy);
		if (copy)
			memcpy(copy, o->row, (size_t)(n < o->nkeys ? n : o->nkeys) * sizeof *copy);
		o->rows[o->nrows++] = copy;
		if (o->nrows >= TABLE_SAMPLE)
			table_fix_widths(o);
	}
	o->header_done = 1;
	o->nrow_cells = 0;
}

int out_free(out *o)
{
	if (!o)
		return 0;
	if (o == &oom_out)
		return -1;
	if (o->format == FMT_TABLE && !o->widths_fixed && o->header_done)
		table_fix_widths(o);
	else if (o->format == FMT_TABLE && !o->header_done && !o->err && !o->failed)
		fputs("0 rows\n", o->f);   /* an empty result says so */
	else if (o->format == FMT_CSV && !o->header_done && o->nkeys && !o->failed)
		csv_header(o);   /* no rows: the header of out_header */
	int rc = out_flush(o);
	for (int i = 0; i < o->nkeys; i++)
		free(o->keys[i]);
	free(o->keys);
	free(o->row);
	free(o->rows);
	free(o->width);
	free(o->buf);
	free(o);
	return rc;
}

/* Write `"key":` in ndjson, or start a cell; returns the cell start. */
static size_t field(out *o, const char *key)
{
	if (o->format != FMT_NDJSON)
		return cell_begin(o, key);
	size_t kn = strlen(key), i = 0;
	/* a name SQL gave a column may hold quotes, backslashes, newlines */
	while (i < kn && (unsigned char)key[i] >= 0x20 && key[i] != '"' && key[i] != '\\')
		i++;
	ensure(o, 6 * kn + 4);
	if (o->len + 6 * kn + 4 > o->cap)
		return 0;
	char *p = o->buf + o->len;
	if (o->nfield++)
		*p++ = ',';
	if (i < kn) {
		p += eg_json_quote(key, kn, p);
	} else {
		*p++ = '"';
		memcpy(p, key, kn);
		p += kn;
		*p++ = '"';
	}
	*p++ = ':';
	o->len = (size_t)(p - o->buf);
	return 0;
}

static void field_end(out *o, size_t start)
{
	if (o->format != FMT_NDJSON)
		cell_end(o, start);
}

static void put_quoted(out *o, const char *s, size_t n)
{
	ensure(o, 6 * n + 2);
	if (o->len + 6 * n + 2 > o->cap)
		return;
	o->len += eg_json_quote(s, n, o->buf + o->len);
}

void out_str(out *o, const char *key, const char *s, size_t n)
{
	size_t c = field(o, key);
	if (o->format == FMT_NDJSON)
		put_quoted(o, s, n);
	else
		put(o, s, n);
	field_end(o, c);
}

void out_cstr(out *o, const char *key, const char *s)
{
	if (s)
		out_str(o, key, s, strlen(s));
	else
		out_null(o, key);
}

void out_null(out *o, const char *key)
{
	size_t c = field(o, key);
	if (o->format == FMT_NDJSON)
		put(o, "null", 4);
	field_end(o, c);
}

/* Decimal digits of v at p; returns the end. */
/* "00" "01" … "99": two digits per division in the hot writers. */
static const char PAIRS[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

static inline void w_pair(char *p, unsigned v)
{
	memcpy(p, PAIRS + 2 * v, 2);
}

static inline char *w_u64(char *p, uint64_t v)
{
	char tmp[24];
	int i = 24;
	while (v >= 100) {
		i -= 2;
		w_pair(tmp + i, (unsigned)(v % 100));
		v /= 100;
	}
	if (v >= 10) {
		i -= 2;
		w_pair(tmp + i, (unsigned)v);
	} else {
		tmp[--i] = (char)('0' + v);
	}
	memcpy(p, tmp + i, (size_t)(24 - i));
	return p + (24 - i);
}

static void put_u64(out *o, uint64_t v)
{
	ensure(o, 24);
	if (o->len + 24 <= o->cap)
		o->len = (size_t)(w_u64(o->buf + o->len, v) - o->buf);
}

void out_u64(out *o, const char *key, uint64_t v)
{
	size_t c = field(o, key);
	put_u64(o, v);
	field_end(o, c);
}

void out_i64(out *o, const char *key, int64_t v)
{
	size_t c = field(o, key);
	if (v < 0) {
		put(o, "-", 1);
		put_u64(o, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(o, (uint64_t)v);
	}
	field_end(o, c);
}

void out_f64(out *o, const char *key, double v)
{
	size_t c = field(o, key);
	char tmp[64];
	int n = snprintf(tmp, sizeof tmp, "%.6g", v);
	put(o, tmp, (size_t)n);
	field_end(o, c);
}

/* Microseconds as exact decimal seconds at p; returns the end. */
static char *w_seconds(char *p, int64_t us)
{
	uint64_t a = us < 0 ? -(uint64_t)us : (uint64_t)us;
	unsigned f = (unsigned)(a % 1000000);
	if (us < 0)
		*p++ = '-';
	p = w_u64(p, a / 1000000);
	if (f) {                            /* the fraction, without trailing zeros */
		*p = '.';
		w_pair(p + 1, f / 10000);
		w_pair(p + 3, f / 100 % 100);
		w_pair(p + 5, f % 100);
		for (p += 7; p[-1] == '0'; p--)
			;
	}
	return p;
}

void out_seconds(out *o, const char *key, int64_t us)
{
	size_t c = field(o, key);
	char tmp[48];
	put(o, tmp, (size_t)(w_seconds(tmp, us) - tmp));
	field_end(o, c);
}

void out_bool(out *o, const char *key, int v)
{
	size_t c = field(o, key);
	put(o, v ? "true" : "false", v ? 4 : 5);
	field_end(o, c);
}

/* Times repeat their day for thousands of events in a row: format the
 * date once and only the time of day after that. */
static void format_time(out *o, int64_t us, char t[EG_TIME_LEN])
{
	const int64_t DAY = 86400000000LL;
	int64_t day = us >= 0 ? us / DAY : -((-us + DAY - 1) / DAY);
	int64_t rem = us - day * DAY;
	int slot = day == o->day[0] ? 0 : day == o->day[1] ? 1 : -1;
	if (slot < 0) {
		slot = o->next_day;
		o->next_day ^= 1;
		eg_time_format(us, o->daybuf[slot]);
		o->day[slot] = day;
	}
	memcpy(t, o->daybuf[slot], 11);  /* YYYY-MM-DDT */
	unsigned s = (unsigned)(rem / 1000000), f = (unsigned)(rem % 1000000);
	w_pair(t + 11, s / 3600);
	t[13] = ':';
	w_pair(t + 14, s / 60 % 60);
	t[16] = ':';
	w_pair(t + 17, s % 60);
	t[19] = '.';
	w_pair(t + 20, f / 10000);
	w_pair(t + 22, f / 100 % 100);
	w_pair(t + 24, f % 100);
	t[26] = 'Z';
}

static void put_time(out *o, int64_t us)
{
	char t[EG_TIME_LEN];
	format_time(o, us, t);
	if (o->format == FMT_NDJSON) {
		ensure(o, EG_TIME_LEN + 2);
		if (o->len + EG_TIME_LEN + 2 > o->cap)
			return;
		o->buf[o->len++] = '"';
		put(o, t, EG_TIME_LEN);
		o->buf[o->len++] = '"';
	} else {
		put(o, t, EG_TIME_LEN);
	}
}

void out_time(out *o, const char *key, int64_t us)
{
	size_t c = field(o, key);
	if (o->format == FMT_TABLE && o->nrow_cells < 64)
		o->time |= (uint64_t)1 << o->nrow_cells;
	put_time(o, us);
	field_end(o, c);
}

void out_json(out *o, const char *key, const char *json, size_t n)
{
	size_t c = field(o, key);
	if (o->format == FMT_TABLE && o->nrow_cells < 64)
		o->json |= (uint64_t)1 << o->nrow_cells;
	/* A table or csv cell shows a plain JSON string without its quotes. */
	if (o->format != FMT_NDJSON && n >= 2 && json[0] == '"' && !memchr(json, '\\', n))
		put(o, json + 1, n - 2);
	else
		put(o, json, n);
	field_end(o, c);
}

static const char *const KINDS[] = { "event", "metric", "error", "event" };

/* Raw writers for the hot path: the caller has ensured the room. */
static inline char *w_lit(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}
#define W_LIT(p, lit) w_lit(p, lit, sizeof(lit) - 1)


/* A JSON string: plain bytes are copied, others escaped. */
static inline char *w_str(char *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == '"' || c == '\\')
			return p + eg_json_quote(s, n, p);
	}
	*p++ = '"';
	memcpy(p, s, n);
	p[n] = '"';
	return p + n + 1;
}

static inline char *w_time(out *o, char *p, int64_t us)
{
	char t[EG_TIME_LEN];
	format_time(o, us, t);
	*p++ = '"';
	memcpy(p, t, EG_TIME_LEN);
	p[EG_TIME_LEN] = '"';
	return p + EG_TIME_LEN + 1;
}

/* ,"tags":["a","b"] at o->len (the caller has ensured the room). */
static void put_tags(out *o, const eg_event *e)
{
	char *p = W_LIT(o->buf + o->len, ",\"tags\":[");
	size_t off = 0, n;
	const char *t;
	for (int i = 0; eg_event_tag(e, &off, &t, &n); i++) {
		if (i)
			*p++ = ',';
		p = w_str(p, t, n);
	}
	*p++ = ']';
	o->len = (size_t)(p - o->buf);
}

/* The tags of e as a JSON array, for the table and csv cell. */
static void tags_cell(out *o, const eg_event *e)
{
	char *s = malloc(16 + 6 * e->tags_len + 3 * e->ntags);
	if (!s) {
		out_null(o, "tags");
		return;
	}
	char *p = s;
	*p++ = '[';
	size_t off = 0, n;
	const char *t;
	for (int i = 0; eg_event_tag(e, &off, &t, &n); i++) {
		if (i)
			*p++ = ',';
		p = w_str(p, t, n);
	}
	*p++ = ']';
	out_json(o, "tags", s, (size_t)(p - s));
	free(s);
}

void out_event_tags(out *o, int on)
{
	o->tags_col = on;
}

/* The hot path of engram read: one event as an ndjson line, keys and all,
 * without the generic field machinery. */
static void ndjson_event(out *o, const eg_event *e)
{
	size_t strs = e->id_len + e->stream_len + e->type_len + e->actor_len + e->session_len +
		      e->tags_len + 3 * e->ntags;
	ensure(o, 320 + 6 * strs + e->data_len + e->meta_len);
	if (o->err)
		return;
	char *p = o->buf + o->len;
	p = W_LIT(p, "{\"pos\":");
	p = w_u64(p, e->pos);
	p = W_LIT(p, ",\"id\":");
	p = w_str(p, e->id, e->id_len);
	p = W_LIT(p, ",\"stream\":");
	p = w_str(p, e->stream, e->stream_len);
	p = W_LIT(p, ",\"version\":");
	p = w_u64(p, e->version);
	p = W_LIT(p, ",\"type\":");
	p = w_str(p, e->type, e->type_len);
	if (e->schema_version) {
		p = W_LIT(p, ",\"schema_version\":");
		p = w_u64(p, e->schema_version);
	}
	static const unsigned char kind_len[] = { 5, 6, 5, 5 };
	p = W_LIT(p, ",\"kind\":\"");
	p = w_lit(p, KINDS[e->kind & 3], kind_len[e->kind & 3]);
	p = W_LIT(p, "\",\"time\":");
	p = w_time(o, p, e->time);
	p = W_LIT(p, ",\"recorded\":");
	p = w_time(o, p, e->recorded);
	p = W_LIT(p, ",\"actor\":");
	p = e->actor_len ? w_str(p, e->actor, e->actor_len) : W_LIT(p, "null");
	p = W_LIT(p, ",\"session\":");
	p = e->session_len ? w_str(p, e->session, e->session_len) : W_LIT(p, "null");
	p = W_LIT(p, ",\"data\":");
	p = w_lit(p, e->data, e->data_len);
	p = W_LIT(p, ",\"meta\":");
	p = e->meta_len ? w_lit(p, e->meta, e->meta_len) : W_LIT(p, "null");
	if (e->ntags) {
		o->len = (size_t)(p - o->buf);
		put_tags(o, e);   /* room: 6 bytes a tag byte, and the brackets */
		p = o->buf + o->len;
	}
	if (e->personal & EG_EV_FORGOTTEN)
		p = W_LIT(p, ",\"forgotten\":true");
	if (e->personal & EG_EV_UNAVAILABLE)
		p = W_LIT(p, ",\"unavailable\":true");
	p = W_LIT(p, "}\n");
	o->len = (size_t)(p - o->buf);
}

void out_event_schemas(out *o, int on)
{
	o->schema_col = on;
}

void out_event(out *o, const eg_event *e)
{
	if (o->format == FMT_NDJSON) {
		ndjson_event(o, e);
		return;
	}
	out_row_begin(o);
	out_u64(o, "pos", e->pos);
	out_str(o, "id", e->id, e->id_len);
	out_str(o, "stream", e->stream, e->stream_len);
	out_u64(o, "version", e->version);
	out_str(o, "type", e->type, e->type_len);
	if (o->schema_col && e->schema_version)
		out_u64(o, "schema_version", e->schema_version);
	else if (o->schema_col)
		out_null(o, "schema_version");
	out_cstr(o, "kind", KINDS[e->kind & 3]);
	out_time(o, "time", e->time);
	out_time(o, "recorded", e->recorded);
	if (e->actor_len)
		out_str(o, "actor", e->actor, e->actor_len);
	else
		out_null(o, "actor");
	if (e->session_len)
		out_str(o, "session", e->session, e->session_len);
	else
		out_null(o, "session");
	out_json(o, "data", e->data, e->data_len);
	if (e->meta_len)
		out_json(o, "meta", e->meta, e->meta_len);
	else
		out_null(o, "meta");
	if (o->tags_col && e->ntags)
		tags_cell(o, e);
	else if (o->tags_col)
		out_null(o, "tags");
	out_row_end(o);
}

/* The hot path of engram sessions: one session as an ndjson line, the
 * same bytes as the generic writers make, without their machinery. */
static void ndjson_session(out *o, const eg_session_row *r)
{
	size_t sn = strlen(r->session);
	ensure(o, 320 + 6 * (r->stream_len + sn) + r->entry_len + r->exit_len);
	if (o->err)
		return;
	char *p = o->buf + o->len;
	p = W_LIT(p, "{\"stream\":");
	p = w_str(p, r->stream, r->stream_len);
	p = W_LIT(p, ",\"session\":");
	p = w_str(p, r->session, sn);
	p = W_LIT(p, ",\"start\":");
	p = w_time(o, p, r->start);
	p = W_LIT(p, ",\"end\":");
	p = w_time(o, p, r->end);
	p = W_LIT(p, ",\"duration\":");
	p = w_seconds(p, r->end - r->start);
	p = W_LIT(p, ",\"events\":");
	p = w_u64(p, r->events);
	p = W_LIT(p, ",\"page_views\":");
	p = w_u64(p, r->page_views);
	p = W_LIT(p, ",\"entry_page\":");
	p = r->entry_page ? w_lit(p, r->entry_page, r->entry_len) : W_LIT(p, "null");
	p = W_LIT(p, ",\"exit_page\":");
	p = r->exit_page ? w_lit(p, r->exit_page, r->exit_len) : W_LIT(p, "null");
	p = W_LIT(p, ",\"client_sessions\":");
	p = w_u64(p, r->client_sessions);
	p = W_LIT(p, "}\n");
	o->len = (size_t)(p - o->buf);
}

void out_session(out *o, const eg_session_row *r)
{
	if (o->format == FMT_NDJSON) {
		ndjson_session(o, r);
		return;
	}
	out_row_begin(o);
	out_str(o, "stream", r->stream, r->stream_len);
	out_cstr(o, "session", r->session);
	out_time(o, "start", r->start);
	out_time(o, "end", r->end);
	out_seconds(o, "duration", r->end - r->start);
	out_u64(o, "events", r->events);
	out_u64(o, "page_views", r->page_views);
	if (r->entry_page)
		out_json(o, "entry_page", r->entry_page, r->entry_len);
	else
		out_null(o, "entry_page");
	if (r->exit_page)
		out_json(o, "exit_page", r->exit_page, r->exit_len);
	else
		out_null(o, "exit_page");
	out_u64(o, "client_sessions", r->client_sessions);
	out_row_end(o);
}

void cli_explain_path(FILE *f, const char *path, const char *why, uint64_t from_columns,
		      uint64_t from_log)
{
	fprintf(f, ",\"path\":%s%s%s,\"events_from_columns\":%" PRIu64 ",\"events_from_log\":%"
		PRIu64, path ? "\"" : "", path ? path : "null", path ? "\"" : "", from_columns,
		from_log);
	if (!why)
		return;
	size_t n = strlen(why);
	char *q = malloc(6 * n + 2);
	if (q) {
		q[eg_json_quote(why, n, q)] = 0;
		fprintf(f, ",\"log_reason\":%s", q);
	}
	free(q);
}
