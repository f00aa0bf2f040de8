/*
 * replay.c — a main() for the fuzz targets without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file named on the command line and
 * on every file in the directories named, so that `make fuzz-replay` (and
 * `make test`) replays the corpora with any C compiler, under the
 * sanitizers when built with SAN=1.  Each input is copied into a buffer of
 * exactly its size, so AddressSanitizer sees a read one byte past it.  A
 * failed CHECK (a trap), a sanitizer report or an input running longer
 * than FUZZ_REPLAY_TIMEOUT seconds (default 20) stops the run with the
 * input's name on stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
/* Optional in a target, as with libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* Present when a sanitizer runtime is linked in. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static const char *current;   /* the input being run, for the reports */

static void say_current(const char *what)
{
	/* async-signal-safe: write(2) only */
	const char *pre = "fuzz replay: ";
	if (write(2, pre, strlen(pre)) < 0 || write(2, what, strlen(what)) < 0)
		return;
	if (current) {
		if (write(2, " on input ", 10) < 0 || write(2, current, strlen(current)) < 0)
			return;
	} else if (write(2, " after the last input", 21) < 0) {
		return;
	}
	if (write(2, "\n", 1) < 0)
		return;
}

static void on_signal(int sig)
{
	say_current(sig == SIGALRM ? "timeout" : sig == SIGILL ? "failed CHECK (trap)" :
		    "fatal signal");
	if (sig == SIGALRM)
		_exit(1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_death(void)
{
	say_current("sanitizer report");
}

static unsigned timeout_s(void)
{
	const char *t = getenv("FUZZ_REPLAY_TIMEOUT");
	long v = t ? strtol(t, NULL, 10) : 20;
	return v > 0 ? (unsigned)v : 20;
}

/* Run one file; 0, or -1 if it cannot be read. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "fuzz replay: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, n = 0;
	unsigned char *all = malloc(cap);
	for (size_t k; all && (k = fread(all + n, 1, cap - n, f)) > 0;) {
		n += k;
		if (n == cap) {
			unsigned char *more = realloc(all, cap *= 2);
			if (!more)
				free(all);
			all = more;
		}
	}
	int bad = ferror(f) || !all;
	fclose(f);
	/* exactly n bytes: an overread of the input is a heap overflow */
	unsigned char *exact = bad ? NULL : malloc(n ? n : 1);
	if (!exact) {
		fprintf(stderr, "fuzz replay: cannot read %s\n", path);
		free(all);
		return -1;
	}
	memcpy(exact, all, n);
	free(all);
	current = path;
	alarm(timeout_s());
	LLVMFuzzerTestOneInput(exact, n);
	alarm(0);
	current = NULL;
	free(exact);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of a directory, in name order; the count run, or
 * -1 on an error. */
static long run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "fuzz replay: cannot open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	long rc = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
			if (!more) {
				rc = -1;
				break;
			}
			names = more;
		}
		size_t len = strlen(dir) + strlen(e->d_name) + 2;
		if (!(names[n] = malloc(len))) {
			rc = -1;
			break;
		}
		snprintf(names[n++], len, "%s/%s", dir, e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (rc >= 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			rc = run_file(names[i]) ? -1 : rc + 1;
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/');
	name = name ? name + 1 : argv[0];
	if (!strncmp(name, "fuzz_", 5))
		name += 5;
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	signal(SIGILL, on_signal);
	signal(SIGABRT, on_signal);
	signal(SIGFPE, on_signal);
	signal(SIGALRM, on_signal);
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(on_death);
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	long total = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long k;
		if (stat(argv[i], &st)) {
			fprintf(stderr, "fuzz replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		k = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) ? -1 : 1;
		if (k < 0)
			return 1;
		total += k;
	}
	printf("== fuzz replay: %s: %ld inputs\n", name, total);
	fflush(stdout);
	return 0;
}
