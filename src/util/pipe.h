/*
 * pipe.h — work on two cores: one thread fills batches (reads events and
 * extracts what the engine needs, or splits and parses input lines), the
 * other takes them in the same order.  Window runs, session runs and bulk
 * appends use it; their output does not depend on whether the second
 * thread was used.
 */
#ifndef EG_PIPE_H
#define EG_PIPE_H

/* Fill batch b: EG_OK when it is full and more may follow, EG_END after
 * the last event (b may still hold events), or an error.  Runs on the
 * reading thread; it must not touch what take touches.  With threads, a
 * batch whose fill failed is still taken before the error is returned:
 * fill leaves in it only what may be taken (what came before the error). */
typedef int (*pipe_fill_fn)(void *ctx, void *b);
/* Take batch b: EG_OK, or an error that stops the run. */
typedef int (*pipe_take_fn)(void *ctx, void *b);

#define PIPE_MAX 8

/* Fill and take batches[0..n) in turn until the last event or an error:
 * with threads, the filling runs on a second thread ("engram-read") up to
 * n batches ahead (n <= PIPE_MAX); without, both run here with batches[0].
 * Returns EG_END after the last batch was taken, else the first error
 * (a stop of the reader waits for it). */
int eg_pipe_run(void *const *batches, int n, int threads, pipe_fill_fn fill, void *fctx,
	     pipe_take_fn take, void *tctx);

/*
 * A worker: a second thread that runs one job at a time while the caller
 * goes on, for a stage that must follow the caller's order but need not
 * hold it up (the log's SHA-256 and writes, while the next buffer fills).
 * A job owns what it is given until eg_worker_wait returns; the hand-over
 * (a mutex) orders everything the caller wrote before submitting before
 * the job, and everything the job wrote before the wait's return.
 */
typedef struct eg_worker eg_worker;
typedef int (*worker_fn)(void *arg);

/* Start a worker thread named name (at most 15 bytes); NULL if it cannot
 * be started (the caller then runs its jobs itself). */
eg_worker *eg_worker_new(const char *name);
/* Run fn(arg) on the worker once the job before it has finished.  Returns
 * that job's result: if it failed, fn is not run and the error is kept for
 * eg_worker_wait as well. */
int eg_worker_submit(eg_worker *w, worker_fn fn, void *arg);
/* Wait until the worker is idle; the result of its last job (EG_OK if it
 * ran none since the last wait), which is then cleared. */
int eg_worker_wait(eg_worker *w);
/* Wait for the job in hand, stop the thread and free w (NULL: nothing). */
void eg_worker_free(eg_worker *w);

#endif
