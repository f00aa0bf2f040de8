/*
 * pipe.c — two threads over a ring of batches (pipe.h): the reader fills
 * batch i while the engine takes batch i - 1, so reading and extracting
 * (or parsing) share the work with the engine instead of adding to it.
 */
#include "engram.h"
#include "pipe.h"

#include <pthread.h>

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
