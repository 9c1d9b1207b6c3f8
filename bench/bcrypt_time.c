/*
 * The bcrypt bound, with musl's crypt_r: the function droplin's bcrypt threads call.
 *
 *   bcrypt_time COST THREADS N   THREADS threads hash N times each, at once; prints
 *                                "<hashes per second> <median seconds of one hash>"
 *
 * With THREADS = cores this is "cores / time of one hash" measured while every core hashes,
 * as during a login run, and under whatever else the machine runs at that moment.
 * Built by bench/bench.py with musl-gcc -static, like droplin.
 */
#define _GNU_SOURCE
#include <crypt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { THREADS_MAX = 64, RUNS_MAX = 16 };

struct hasher {
	pthread_t tid;
	int cost, n, failed;
	double t[RUNS_MAX];
};

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

static void *hasher_main(void *arg)
{
	struct hasher *h = arg;
	char setting[32];
	struct crypt_data *data = calloc(1, sizeof *data);
	snprintf(setting, sizeof setting, "$2b$%02d$abcdefghijklmnopqrstuu", h->cost);
	for (int i = 0; i < h->n; i++) {
		double t0 = now_s();
		const char *out = data ? crypt_r("Sunny-Day7!", setting, data) : NULL;
		h->t[i] = now_s() - t0;
		if (!out || out[0] != '$')
			h->failed = 1;
	}
	free(data);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct hasher hs[THREADS_MAX];
	double all[THREADS_MAX * RUNS_MAX];
	int cost = argc > 1 ? atoi(argv[1]) : 12, threads = argc > 2 ? atoi(argv[2]) : 1,
	    n = argc > 3 ? atoi(argv[3]) : 2;
	if (cost < 4 || cost > 31 || threads < 1 || threads > THREADS_MAX || n < 1 || n > RUNS_MAX) {
		fprintf(stderr, "usage: bcrypt_time COST(4-31) THREADS(1-%d) N(1-%d)\n", THREADS_MAX,
			RUNS_MAX);
		return 2;
	}
	double t0 = now_s();
	for (int i = 0; i < threads; i++) {
		hs[i] = (struct hasher){.cost = cost, .n = n};
		if (pthread_create(&hs[i].tid, NULL, hasher_main, &hs[i])) {
			fprintf(stderr, "bcrypt_time: pthread_create failed\n");
			return 1;
		}
	}
	int k = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(hs[i].tid, NULL);
		if (hs[i].failed) {
			fprintf(stderr, "bcrypt_time: crypt_r failed\n");
			return 1;
		}
		for (int j = 0; j < n; j++)
			all[k++] = hs[i].t[j];
	}
	double wall = now_s() - t0;
	qsort(all, (size_t)k, sizeof all[0], cmp_double);
	printf("%.4f %.6f\n", k / wall, all[k / 2]);
	return 0;
}
