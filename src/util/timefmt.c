/*
 * timefmt.c — RFC 3339 and epoch-millis times, and durations (timefmt.h).
 * Civil dates are converted with Howard Hinnant's days-from-civil algorithms
 * on the proleptic Gregorian calendar, not with timegm/strftime: those
 * depend on the C library and locale, and formatting runs once per event
 * printed, so it must stay in the tens of nanoseconds.
 */
#include "timefmt.h"

#include <string.h>

#define US_PER_SEC  1000000LL
#define US_PER_DAY  (86400LL * US_PER_SEC)

/* Largest |millis| whose microseconds still fit in an int64. */
#define MILLIS_MAX  (INT64_MAX / 1000)

static const char digits2[] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Days since 1970-01-01 of a proleptic Gregorian date.  Shifting the year
 * to start in March puts the leap day last, so day-of-year is a linear
 * formula; eras of 400 years repeat exactly. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil, for any int64 day count a time can hold. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dim[13] = {
		0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	return m == 2 && is_leap(y) ? 29 : dim[m];
}

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		unsigned c = (unsigned char)s[i] - '0';
		if (c > 9)
			return -1;
		v = v * 10 + (int)c;
	}
	return v;
}

/* The fraction digits after '.', truncated to microseconds; i advances
 * past them.  -1 unless there are 1-9 digits. */
static int parse_fraction(const char *s, size_t n, size_t *i)
{
	static const int scale[7] = { 1000000, 100000, 10000, 1000, 100, 10, 1 };
	size_t start = *i;
	int v = 0, k = 0;

	while (*i < n && (unsigned)((unsigned char)s[*i] - '0') <= 9) {
		if (k < 6) {
			v = v * 10 + (s[*i] - '0');
			k++;
		}
		(*i)++;
	}
	if (*i == start || *i - start > 9)
		return -1;
	return v * scale[k];
}

/* Z, z or +HH:MM/-HH:MM at s[*i] (and nothing after it), as seconds east
 * of UTC in *off; i advances past it.  Returns 0, or -1. */
static int parse_offset(const char *s, size_t n, size_t *i, int *off)
{
	int hh, mm;

	if (*i < n && (s[*i] | 0x20) == 'z') {
		(*i)++;
		*off = 0;
		return 0;
	}
	if (n - *i != 6 || (s[*i] != '+' && s[*i] != '-') || s[*i + 3] != ':')
		return -1;
	hh = digits(s + *i + 1, 2);
	mm = digits(s + *i + 4, 2);
	if (hh < 0 || mm < 0 || hh > 23 || mm > 59)
		return -1;
	*off = (hh * 60 + mm) * 60 * (s[*i] == '-' ? -1 : 1);
	*i += 6;
	return 0;
}

int eg_time_parse_rfc3339(const char *s, size_t n, int64_t *us)
{
	int year, mon, day, hour, min, sec, frac = 0, off;
	size_t i = 19;
	int64_t t;

	/* The shortest form is YYYY-MM-DDTHH:MM:SSZ. */
	if (n < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':')
		return -1;
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return -1;
	year = digits(s, 4);
	mon = digits(s + 5, 2);
	day = digits(s + 8, 2);
	hour = digits(s + 11, 2);
	min = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (year < 0 || mon < 1 || mon > 12 || day < 1 ||
	    (unsigned)day > days_in_month(year, (unsigned)mon) ||
	    hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 60)
		return -1;
	if (s[i] == '.') {
		i++;
		if ((frac = parse_fraction(s, n, &i)) < 0)
			return -1;
	}
	if (parse_offset(s, n, &i, &off) < 0 || i != n)
		return -1;
	/* A leap second cannot be represented; it reads as the last
	 * microsecond before the next minute so that order is kept. */
	if (sec == 60) {
		sec = 59;
		frac = 999999;
	}
	t = days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 +
	    hour * 3600 + min * 60 + sec - off;
	*us = t * US_PER_SEC + frac;
	return 0;
}

int eg_time_parse_millis(const char *s, size_t n, int64_t *us)
{
	size_t i = 0;
	int neg = 0;
	int64_t v = 0;

	if (n > 0 && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == n)
		return -1;
	for (; i < n; i++) {
		unsigned c = (unsigned char)s[i] - '0';
		if (c > 9 || v > (MILLIS_MAX - (int64_t)c) / 10)
			return -1;
		v = v * 10 + (int64_t)c;
	}
	*us = (neg ? -v : v) * 1000;
	return 0;
}

/* YYYY-MM-DD alone: midnight UTC of that day. */
static int parse_date(const char *s, size_t n, int64_t *us)
{
	if (n != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	int year = digits(s, 4), mon = digits(s + 5, 2), day = digits(s + 8, 2);
	if (year < 0 || mon < 1 || mon > 12 || day < 1 ||
	    (unsigned)day > days_in_month(year, (unsigned)mon))
		return -1;
	*us = days_from_civil(year, (unsigned)mon, (unsigned)day) * US_PER_DAY;
	return 0;
}

int eg_time_parse(const char *s, size_t n, int64_t *us)
{
	size_t i = n > 0 && s[0] == '-';

	if (i == n)
		return -1;
	for (; i < n; i++)
		if ((unsigned)((unsigned char)s[i] - '0') > 9)
			return n == 10 ? parse_date(s, n, us) : eg_time_parse_rfc3339(s, n, us);
	return eg_time_parse_millis(s, n, us);
}

static inline void put2(char *o, unsigned v)
{
	memcpy(o, digits2 + 2 * v, 2);
}

/*
 * Years outside 0000-9999 do not fit the fixed width (an int64 of
 * microseconds reaches year +-292277), so their year field is "????": the
 * rest is still exact, the output stays EG_TIME_LEN bytes, and it can never
 * be parsed back as some other, wrong time.
 */
size_t eg_time_format(int64_t us, char *out)
{
	int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY, y;
	unsigned m, d, sod, frac;

	if (rem < 0) {
		rem += US_PER_DAY;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	sod = (unsigned)(rem / US_PER_SEC);
	frac = (unsigned)(rem % US_PER_SEC);
	if (y >= 0 && y <= 9999) {
		put2(out, (unsigned)y / 100);
		put2(out + 2, (unsigned)y % 100);
	} else {
		memcpy(out, "????", 4);
	}
	out[4] = '-';
	put2(out + 5, m);
	out[7] = '-';
	put2(out + 8, d);
	out[10] = 'T';
	put2(out + 11, sod / 3600);
	out[13] = ':';
	put2(out + 14, sod / 60 % 60);
	out[16] = ':';
	put2(out + 17, sod % 60);
	out[19] = '.';
	put2(out + 20, frac / 10000);
	put2(out + 22, frac / 100 % 100);
	put2(out + 24, frac % 100);
	out[26] = 'Z';
	out[27] = '\0';
	return EG_TIME_LEN;
}

/* Units, largest first, so that formatting can stop at the first exact one. */
static const struct unit {
	const char *name;
	size_t len;
	int64_t us;
} units[] = {
	{ "d", 1, 86400 * US_PER_SEC },
	{ "h", 1, 3600 * US_PER_SEC },
	{ "m", 1, 60 * US_PER_SEC },
	{ "s", 1, US_PER_SEC },
	{ "ms", 2, 1000 },
	{ "us", 2, 1 },
};

#define NUNITS (sizeof units / sizeof units[0])

/* Components, each digits and a unit, units strictly largest first (so
 * each at most once): 1h30m, 1s500ms; 30m1h and 1h1h are refused, so that
 * a typo is an error rather than a silent sum.  A unit matches only where
 * it ends the text or digits follow it ("5ms" is ms, not m then s). */
int eg_duration_parse(const char *s, size_t n, int64_t *us)
{
	size_t i = 0, next = 0;   /* next: the first unit still allowed */
	int64_t total = 0;

	if (n == 0)
		return -1;
	while (i < n) {
		size_t start = i;
		int64_t v = 0;
		for (; i < n && (unsigned)((unsigned char)s[i] - '0') <= 9; i++) {
			int64_t c = s[i] - '0';
			if (v > (INT64_MAX - c) / 10)
				return -1;
			v = v * 10 + c;
		}
		if (i == start)
			return -1;
		size_t k = next;
		for (; k < NUNITS; k++) {
			size_t e = i + units[k].len;
			if (e <= n && memcmp(s + i, units[k].name, units[k].len) == 0 &&
			    (e == n || (unsigned)((unsigned char)s[e] - '0') <= 9))
				break;
		}
		if (k == NUNITS || v > INT64_MAX / units[k].us ||
		    total > INT64_MAX - v * units[k].us)
			return -1;
		total += v * units[k].us;
		i += units[k].len;
		next = k + 1;
	}
	if (total == 0)
		return -1;
	*us = total;
	return 0;
}

size_t eg_duration_format(int64_t us, char *out)
{
	uint64_t mag = us < 0 ? 0 - (uint64_t)us : (uint64_t)us;
	char tmp[24];
	size_t len = 0, t = 0;
	const struct unit *u = &units[NUNITS - 1];

	if (us == 0) {
		memcpy(out, "0s", 3);
		return 2;
	}
	if (us < 0)
		out[len++] = '-';
	for (size_t k = 0; k < NUNITS; k++) {
		if (mag % (uint64_t)units[k].us == 0) {
			u = &units[k];
			break;
		}
	}
	mag /= (uint64_t)u->us;
	do {
		tmp[t++] = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag);
	while (t)
		out[len++] = tmp[--t];
	memcpy(out + len, u->name, u->len + 1);
	return len + u->len;
}
