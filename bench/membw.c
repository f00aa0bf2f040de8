/*
 * bench/membw.c — the memory-bandwidth limit beside bench/compare.sh's
 * scans: how fast one core reads FILE... once they are in the page cache
 * (mapped, every 8-byte word summed; best of 5 passes).
 *
 *   membw FILE...   prints {"bytes": N, "gb_per_s": X}
 */
#define BENCH_NAME "membw"
#include "bench.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: membw FILE...");
	const uint64_t *map[argc];
	size_t len[argc], total = 0;
	for (int i = 1; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY);
		struct stat sb;
		if (fd < 0 || fstat(fd, &sb))
			die("%s: cannot open", argv[i]);
		len[i] = (size_t)sb.st_size / 8 * 8;
		map[i] = len[i] ? mmap(NULL, len[i], PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0) : NULL;
		if (map[i] == MAP_FAILED)
			die("%s: cannot map", argv[i]);
		close(fd);
		total += len[i];
	}
	double best = 1e30;
	volatile uint64_t sink = 0;
	for (int pass = 0; pass < 5; pass++) {
		double t0 = now();
		uint64_t a = 0, b = 0, c = 0, d = 0;
		for (int i = 1; i < argc; i++) {
			size_t n = len[i] / 8, k = 0;
			for (; k + 4 <= n; k += 4)
				a += map[i][k], b += map[i][k + 1], c += map[i][k + 2], d += map[i][k + 3];
			for (; k < n; k++)
				a += map[i][k];
		}
		sink += a + b + c + d;
		double t = now() - t0;
		best = t < best ? t : best;
	}
	printf("{\"bytes\": %zu, \"gb_per_s\": %.2f}\n", total, total / best / 1e9);
	return 0;
}
