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

#endif
