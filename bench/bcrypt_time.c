/*
 * Time of one bcrypt hash with musl's crypt_r, the function droplin's bcrypt threads call.
 * Usage: bcrypt_time COST N   prints the median of N hashes in seconds.
 * Built by bench/bench.py with musl-gcc -static, like droplin.
 */
#define _GNU_SOURCE
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { RUNS_MAX = 32 };

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int cost = argc > 1 ? atoi(argv[1]) : 12, n = argc > 2 ? atoi(argv[2]) : 3;
	if (cost < 4 || cost > 31 || n < 1 || n > RUNS_MAX) {
		fprintf(stderr, "usage: bcrypt_time COST(4-31) N(1-%d)\n", RUNS_MAX);
		return 2;
	}
	char setting[32];
	snprintf(setting, sizeof setting, "$2b$%02d$abcdefghijklmnopqrstuu", cost);
	double t[RUNS_MAX];
	static struct crypt_data data;
	for (int i = 0; i < n; i++) {
		double t0 = now_s();
		const char *out = crypt_r("Sunny-Day7!", setting, &data);
		t[i] = now_s() - t0;
		if (!out || out[0] != '$') {
			fprintf(stderr, "bcrypt_time: crypt_r failed\n");
			return 1;
		}
	}
	qsort(t, (size_t)n, sizeof t[0], cmp_double);
	printf("%.6f\n", t[n / 2]);
	return 0;
}
