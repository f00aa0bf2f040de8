/*
 * pipe.c — two threads over a ring of batches (pipe.h): the reader fills
 * batch i while the engine takes batch i - 1, so reading and extracting
 * (or parsing) share the work with the engine instead of adding to it.
 * Also a worker thread that runs one job at a time behind its caller.
 */
#include "engram.h"
#include "pipe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct pipe {
	void *const *b;
	int n;
	int rc[PIPE_MAX];              /* what fill returned for each batch */
	pipe_fill_fn fill;
	void *fctx;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned made, taken;          /* batches filled, batches taken */
	int stop;
} pipe;

/* The second thread: fills the batches in turn, each once the engine has
 * taken what it held, until the last event, an error or a stop. */
static void *reader(void *arg)
{
	pipe *p = arg;
	pthread_setname_np(pthread_self(), "engram-read");
	for (unsigned i = 0;; i++) {
		pthread_mutex_lock(&p->mu);
		while (!p->stop && i - p->taken >= (unsigned)p->n)
			pthread_cond_wait(&p->cv, &p->mu);
		int stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		int rc = p->fill(p->fctx, p->b[i % (unsigned)p->n]);
		pthread_mutex_lock(&p->mu);
		p->rc[i % (unsigned)p->n] = rc;
		p->made = i + 1;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (rc != EG_OK)
			break;
	}
	return NULL;
}

static int run_threads(pipe *p, pipe_take_fn take, void *tctx)
{
	pthread_t th;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	int rc = pthread_create(&th, NULL, reader, p) ? EG_ENOMEM : EG_OK;
	for (unsigned i = 0; !rc; i++) {
		pthread_mutex_lock(&p->mu);
		while (p->made <= i)
			pthread_cond_wait(&p->cv, &p->mu);
		pthread_mutex_unlock(&p->mu);
		unsigned k = i % (unsigned)p->n;
		if (!(rc = take(tctx, p->b[k])))
			rc = p->rc[k];
		pthread_mutex_lock(&p->mu);
		p->taken = i + 1;
		p->stop = rc != EG_OK;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (rc)
			pthread_join(th, NULL);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	return rc;
}

int eg_pipe_run(void *const *batches, int n, int threads, pipe_fill_fn fill, void *fctx,
	     pipe_take_fn take, void *tctx)
{
	if (threads && n >= 2) {
		pipe p = { .b = batches, .n = n > PIPE_MAX ? PIPE_MAX : n, .fill = fill, .fctx = fctx };
		return run_threads(&p, take, tctx);
	}
	int rc = EG_OK;
	while (!rc) {
		rc = fill(fctx, batches[0]);
		if (rc == EG_OK || rc == EG_END) {
			int t = take(tctx, batches[0]);
			if (t)
				rc = t;
		}
	}
	return rc;
}

/* ---------------------------------------------------------------- worker */

struct eg_worker {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	worker_fn fn;                 /* the job in hand (NULL: idle) */
	void *arg;
	int rc;                       /* the last job's result, until a wait */
	int stop;
};

static void *worker_main(void *arg)
{
	eg_worker *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->fn && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->fn)
			break;
		worker_fn fn = w->fn;
		void *a = w->arg;
		pthread_mutex_unlock(&w->mu);
		int rc = fn(a);
		pthread_mutex_lock(&w->mu);
		w->rc = rc;
		w->fn = NULL;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* The thread's name is set from inside (pthread_setname_np on another
 * thread races with its start on some libcs): a trampoline's argument. */
typedef struct wstart {
	eg_worker *w;
	char name[16];
} wstart;

static void *worker_start(void *arg)
{
	wstart s = *(wstart *)arg;
	free(arg);
	pthread_setname_np(pthread_self(), s.name);
	return worker_main(s.w);
}

eg_worker *eg_worker_new(const char *name)
{
	eg_worker *w = calloc(1, sizeof *w);
	wstart *s = malloc(sizeof *s);
	if (!w || !s) {
		free(w);
		free(s);
		return NULL;
	}
	s->w = w;
	snprintf(s->name, sizeof s->name, "%s", name);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->th, NULL, worker_start, s)) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(s);
		free(w);
		return NULL;
	}
	return w;
}

int eg_worker_submit(eg_worker *w, worker_fn fn, void *arg)
{
	pthread_mutex_lock(&w->mu);
	while (w->fn)
		pthread_cond_wait(&w->cv, &w->mu);
	int rc = w->rc;
	if (rc == EG_OK) {
		w->fn = fn;
		w->arg = arg;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

int eg_worker_wait(eg_worker *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->fn)
		pthread_cond_wait(&w->cv, &w->mu);
	int rc = w->rc;
	w->rc = EG_OK;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

void eg_worker_free(eg_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
