/*
 * engram.h — the whole public API of libengram, an embedded event store.
 *
 * A store is a directory holding an append-only, hash-chained log of events
 * plus derived files (indexes) rebuilt from it on demand.  One process at a
 * time may write; any number may read, and never see a partial batch.
 *
 * Conventions: every function returning int returns EG_OK (0) or a negative
 * EG_E* code; details of the last failure on a store are in eg_errmsg().
 * Pointers returned through out-parameters named *_get or inside eg_event are
 * borrowed: valid until the next call on the same handle.  The library never
 * prints and never exits.
 */
#ifndef ENGRAM_H
#define ENGRAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EG_VERSION "0.1.0"

/* Error codes. */
enum {
	EG_OK = 0,
	EG_END = 1,          /* not an error: an iterator has no more events */
	EG_EINVAL = -1,      /* bad argument or bad input (message names it) */
	EG_ENOMEM = -2,      /* allocation failed */
	EG_EIO = -3,         /* an OS call failed (message names it and errno) */
	EG_ECORRUPT = -4,    /* committed data fails its checksum or the chain */
	EG_ECONFLICT = -5,   /* expected version did not match */
	EG_ELOCKED = -6,     /* another process holds the write lock */
	EG_ENOTFOUND = -7,   /* no such store, consumer, ... */
	EG_EDUP = -8,        /* an event id already exists (not stored again) */
	EG_EREADONLY = -9,   /* a write on a store opened for reading */
	EG_EINTR = -10       /* stopped when asked to (engram dataset build's Ctrl-C) */
};

/* A short static description of an error code. */
const char *eg_strerror(int code);

/* ------------------------------------------------------------------ store */

typedef struct eg_store eg_store;

/* Flags of eg_store_open. */
enum {
	EG_OPEN_READ = 0,      /* read only; no lock taken */
	EG_OPEN_WRITE = 1,     /* take the single-writer lock (EG_ELOCKED if held) */
	EG_OPEN_CREATE = 2,    /* with EG_OPEN_WRITE: create the store if absent */
	EG_OPEN_CATCHUP = 4    /* with EG_OPEN_WRITE: open only to bring derived
				* files up to date, and briefly: a writer that
				* finds the lock held this way waits for it */
};

/* Options of eg_store_open; pass NULL for the defaults. */
typedef struct eg_open_opts {
	uint64_t segment_bytes;  /* roll segments at this size (default 64 MiB) */
	int seal;                /* a writer's sealing of closed segments (enum below) */
	int64_t lock_wait_us;    /* EG_OPEN_WRITE: wait up to this long for a
	                            lock another writer holds (0: EG_ELOCKED at
	                            once); waiters retry every 0.2-2 ms, so the
	                            order among them is not strictly arrival
	                            order (docs/CONSISTENCY.md) */
} eg_open_opts;

/* eg_open_opts.seal: whether a writer seals (compresses, docs/STORAGE.md)
 * each segment that a batch has closed, on a thread of its own while it
 * goes on appending.  A seal still running at close is stopped and left
 * for the next writer or engram compact. */
enum {
	EG_SEAL_AUTO = 0,      /* default: segments of 1 MiB or more (smaller ones,
				  test stores, only by eg_store_compact) */
	EG_SEAL_ALWAYS = 1,    /* every closed segment */
	EG_SEAL_NEVER = 2      /* none (eg_store_compact still seals) */
};

/*
 * Open the store in directory dir.  For writing, this takes the lock, cuts a
 * torn tail back to the last complete commit, and brings derived files up to
 * date with the log.  On failure *out is still set (unless EG_ENOMEM) so
 * that eg_errmsg(*out) can be read; free it with eg_store_close.
 * Errors: EG_ENOTFOUND, EG_ELOCKED, EG_ECORRUPT, EG_EIO, EG_ENOMEM.
 */
int eg_store_open(eg_store **out, const char *dir, int flags,
		  const eg_open_opts *opts);

/* Finish writing: sync the derived files and mark them closed cleanly, so
 * that the next open need not recover them.  After this the handle only
 * reads.  A failure (EG_EIO, with eg_errmsg) loses nothing of the log:
 * the next writer brings the derived files up to date from it.  Writers
 * call it before eg_store_close to hear of that failure. */
int eg_store_flush(eg_store *st);

/* Close the store (flushing it first when writing; see eg_store_flush)
 * and free it.  NULL is accepted. */
void eg_store_close(eg_store *st);

/* The message of the last failure on st ("" if none); borrowed. */
const char *eg_errmsg(const eg_store *st);

/* NULL, or what went wrong (the first thing) writing a derived file that
 * the call went on without (it answered from the log; the next run writes
 * the file again): for the caller to pass on as a warning.  Borrowed. */
const char *eg_store_note(const eg_store *st);

/* Position and chain hash of the last committed batch. */
typedef struct eg_head {
	uint64_t pos;            /* last committed position, 0 for an empty log */
	unsigned char hash[32];  /* chain value after that batch (zeros if empty) */
} eg_head;

/* Refresh the view of the log (readers see batches committed since) and
 * return the head.  Errors: EG_EIO, EG_ECORRUPT. */
int eg_store_head(eg_store *st, eg_head *out);

/* How many committed events the derived files (indexes) do not cover yet:
 * 0 when they are up to date, UINT64_MAX when they are unusable.  Reads
 * stay correct either way (the uncovered part is scanned); a writer's open
 * catches them up. */
uint64_t eg_store_index_lag(eg_store *st);

/* How many committed events the column files (idx/col/, the engines'
 * columnar form) lack in whole blocks: 0 when they are up to date.  A
 * writer builds them on a thread as it appends; a reader that finds them
 * lagging may open as a brief writer (EG_OPEN_CATCHUP), which builds them. */
uint64_t eg_store_col_lag(eg_store *st);

/* Write the 64 hex digits of a hash and a NUL into out[65]. */
void eg_hash_hex(const unsigned char hash[32], char out[65]);

/* ------------------------------------------------------------------ event */

enum eg_kind { EG_KIND_EVENT = 0, EG_KIND_METRIC = 1, EG_KIND_ERROR = 2 };

/* A stored event.  Strings are not NUL-terminated; use the lengths.
 * data and meta are minified JSON text (meta_len 0 when absent); actor and
 * session have length 0 when absent. */
typedef struct eg_event {
	uint64_t pos, version;
	int64_t time, recorded;        /* microseconds since the epoch, UTC */
	int kind;                      /* enum eg_kind */
	const char *id, *stream, *type, *actor, *session, *data, *meta;
	size_t id_len, stream_len, type_len, actor_len, session_len,
	       data_len, meta_len;
	uint64_t schema_version;       /* the version of its type's schema it
	                                  passed at append; 0: none */
	/* DCB tags (docs/CONSISTENCY.md): ntags tags, encoded in tags_len
	 * bytes as the record keeps them (each a varint length and its
	 * bytes); read them with eg_event_tag.  ntags 0: none. */
	const char *tags;
	size_t tags_len;
	uint32_t ntags;
	unsigned personal;             /* EG_EV_* bits: personal values (docs/FORGETTING.md) */
} eg_event;

/* The tag of e at *off (start with *off = 0): 1 with *tag (borrowed, *n
 * bytes, not NUL-terminated) set and *off moved past it, 0 after the last. */
int eg_event_tag(const eg_event *e, size_t *off, const char **tag, size_t *n);

/* eg_event.personal.  A reader gets the personal values decrypted; where a
 * value's key was forgotten it reads null and the event has
 * EG_EV_FORGOTTEN; where its key cannot be had (no key file, a damaged
 * entry, a value that fails its check) null and EG_EV_UNAVAILABLE.
 * EG_EV_ENCRYPTED: data is as stored, encrypted values in it (only before
 * the read path decrypts it; readers never see it set). */
#define EG_EV_ENCRYPTED 1u
#define EG_EV_FORGOTTEN 2u
#define EG_EV_UNAVAILABLE 4u

/* ------------------------------------------------------------------ maps */

/*
 * A mapping turns the JSON objects that producers already emit (Segment,
 * Snowplow, or any shape) into the input envelope: for each envelope field,
 * source paths such as "context.page.url" tried in order (docs/MAPPING.md).
 * Give one to a batch in eg_batch_opts.map.
 */
typedef struct eg_map eg_map;

/* Compile a mapping file (JSON text).  EG_OK, or EG_EINVAL with "JSON
 * path: what is allowed" written to err (errlen bytes, NUL-terminated),
 * e.g. "stream: expected a path or an array of paths"; EG_ENOMEM.  Free
 * *out with eg_map_free. */
int eg_map_parse(const char *json, size_t n, eg_map **out, char *err, size_t errlen);

/* Compile a built-in mapping by name: "segment" (Segment's track, page,
 * screen, identify, group and alias calls) or "snowplow" (Snowplow enriched
 * events as JSON).  EG_ENOTFOUND for another name, EG_ENOMEM. */
int eg_map_builtin(const char *name, eg_map **out);

/* The mapping file of a built-in (static text), or NULL for another name. */
const char *eg_map_builtin_json(const char *name);

/* NULL is accepted. */
void eg_map_free(eg_map *m);

/* ------------------------------------------------------------------ append */

typedef struct eg_batch eg_batch;
typedef struct eg_query eg_query;   /* a DCB query (below) */

/* EG_SYNC_GROUP: the commit is visible at once but made durable by the
 * next eg_store_sync (or EG_SYNC_ALWAYS commit), which syncs every such
 * commit before it in one fdatasync: group commit (engram serve answers
 * each request only after that sync). */
enum eg_sync { EG_SYNC_ALWAYS = 0, EG_SYNC_NONE = 1, EG_SYNC_GROUP = 2 };

/* Options of eg_batch_begin; zero-initialise and set what you need. */
typedef struct eg_batch_opts {
	int sync;                   /* enum eg_sync */
	const char *expect_stream;  /* with expect_version: optimistic concurrency;
	                               every event must then be in this stream */
	int64_t expect_version;     /* -1: no check; 0: the stream must not exist;
	                               N: the stream's version must be N */
	const char *default_stream; /* filled in when a line has no "stream" */
	const char *default_type;   /* filled in when a line has no "type" */
	uint64_t commit_every;      /* 0: one batch; N: commit every N events */
	uint64_t expected_events;   /* a hint (0 = unknown): size indexes once */
	const eg_map *map;          /* NULL: lines are envelopes; else each line is
	                               a producer's JSON object mapped to the
	                               envelope (borrowed until commit or abort) */
	int quarantine;             /* an event its type's schema refuses goes to
	                               the stream $quarantine (with its errors)
	                               instead of failing its line */
	int keep_recorded;          /* history as it was recorded: each line's
	                               "recorded" (RFC 3339 or epoch ms) is its
	                               record time instead of the commit's clock.
	                               EG_EINVAL (naming "recorded") when a line
	                               has none, or one before the previous
	                               added line's, before the head's recorded,
	                               or after now.  Record time is per commit:
	                               each new value commits the events before
	                               it (those commits stay if a later line
	                               fails; they are synced with the last one,
	                               or at abort).  Duplicates are skipped
	                               before these checks.  Not with a map. */
	const eg_query *fail_if;    /* conditional append (docs/CONSISTENCY.md):
	                               eg_batch_begin refuses with EG_ECONFLICT
	                               (eg_errmsg names the position and item)
	                               when an event matching it has a position
	                               > after; borrowed until eg_batch_begin
	                               returns.  Checked once, at begin, under
	                               the write lock: with commit_every, against
	                               the store before the batch */
	uint64_t after;             /* 0: any matching event conflicts; beyond
	                               the head: EG_EINVAL */
} eg_batch_opts;

/* ------------------------------------------------------------------ DCB query */

/*
 * A query of the Dynamic Consistency Boundary specification (dcb.events,
 * docs/CONSISTENCY.md): items separated by ';', OR'd; an item is
 * "types=a,b tags=x,y" (either part optional, one at least; an event
 * matches when its type is one of the types, or none are given, and it
 * carries every tag), or "all" (every event).
 */

/* Parse text and add its items to *q (created when NULL): several texts
 * (repeated --fail-if flags) make one query whose items are OR'd.
 * EG_OK; EG_EINVAL with the reason in err (errlen bytes), naming the item
 * and the part ("query item 2: unknown key \"typ\""), *q then as it was.
 * Free *q with eg_query_free (also after a failure). */
int eg_query_add(eg_query **q, const char *text, char *err, size_t errlen);
void eg_query_free(eg_query *q);
/* The number of items. */
int eg_query_items(const eg_query *q);
/* Item i (1-based) as text, canonical (names deduplicated); snprintf's
 * return. */
size_t eg_query_item_text(const eg_query *q, int i, char *buf, size_t cap);
/* The first item (1-based) that e matches, 0 if none. */
int eg_query_match(const eg_query *q, const eg_event *e);
/* The first event with a position > after that q matches, as of the
 * head st sees: *pos (0: none) and the item it matched.  Through the key
 * index (tags' and types' postings walked back from the newest), so the
 * cost is that of the matching events after `after`, not of the log; a
 * reader whose index lags scans the log from after instead.  EG_OK, or
 * EG_EIO / EG_ECORRUPT / EG_ENOMEM. */
int eg_query_find(eg_store *st, const eg_query *q, uint64_t after, uint64_t *pos, int *item);

/* Begin an atomic batch on a store opened with EG_OPEN_WRITE.  Events are
 * spooled to the log's tail as they are added and become visible only at
 * eg_batch_commit.  Errors: EG_EREADONLY, EG_ENOMEM, EG_EINVAL. */
int eg_batch_begin(eg_store *st, eg_batch **out, const eg_batch_opts *opts);

/*
 * Add one event given as a JSON object in the input envelope (shared
 * DESIGN.md: id, stream, type, kind, time, actor, session, data, meta), or,
 * when the batch has a map, a producer's JSON object that the map turns
 * into that envelope (a mapped field is checked as the envelope's is, and
 * a missing type names the source paths tried).  Returns EG_OK when added, EG_EDUP when its id is already in the store or
 * earlier in this batch (nothing added), EG_EINVAL when the line is invalid
 * (nothing added; eg_errmsg names the field and what was expected; the batch
 * stays usable, so a caller may skip the line; also for an event outside
 * the expect_stream of a batch that checks a version, which
 * eg_batch_add_ndjson does not pass to bad()), EG_EIO on a write failure
 * (the batch is then unusable: abort it).
 */
int eg_batch_add_json(eg_batch *b, const char *json, size_t len);

/* Called by eg_batch_add_ndjson for each invalid line: line is its 0-based
 * index in the buffer, text its bytes, msg why it was refused.  Return 0 to
 * skip it and go on, nonzero to stop. */
typedef int (*eg_bad_line_fn)(void *ctx, uint64_t line, const char *text,
			      size_t len, const char *msg);

/*
 * Add every NDJSON line in buf[0, len) (a final line without '\n' counts;
 * blank lines are skipped), as eg_batch_add_json would one by one, but
 * parsing on a second thread while the store adds: the fast way to append
 * many lines.  Duplicates are counted in the result, not returned.  *lines
 * gets the number of lines consumed.  Returns EG_OK; EG_EINVAL when bad()
 * (or a NULL bad) stopped at an invalid line, whose reason is then in
 * eg_errmsg and whose index is *lines - 1; or an error of eg_batch_add_json.
 */
int eg_batch_add_ndjson(eg_batch *b, const char *buf, size_t len,
			eg_bad_line_fn bad, void *ctx, uint64_t *lines);

/* What a line takes when it gives none itself (eg_batch_add_json_with,
 * eg_batch_add_lines): engram kafka import gives each message the id
 * "kafka:TOPIC/PARTITION/OFFSET" and the message's timestamp.  A default id
 * is checked as the envelope's is (1 to 64 bytes). */
typedef struct eg_line_defaults {
	const char *id;             /* NULL: none (a UUIDv7 is assigned) */
	size_t id_len;
	int has_time;
	int64_t time;               /* microseconds since the epoch, UTC */
} eg_line_defaults;

/* eg_batch_add_json, with d (NULL: none) filling in the id and the event
 * time when the line (or its mapping) gives none.  Same returns. */
int eg_batch_add_json_with(eg_batch *b, const char *json, size_t len,
			   const eg_line_defaults *d);

/* One line of eg_batch_add_lines: its text and defaults, and what became
 * of it. */
typedef struct eg_line {
	const char *json;           /* in: a JSON object, as for eg_batch_add_json */
	size_t len;
	eg_line_defaults d;         /* in: its defaults (zero: none) */
	int rc;                     /* out: EG_OK added, EG_EDUP a duplicate (not
	                               added), EG_EINVAL refused (given to bad()) */
	int64_t time;               /* out: its event time when rc is EG_OK or
	                               EG_EDUP; 0 when it has none yet (it then
	                               takes the commit's record time) */
} eg_line;

/*
 * Add lines[0, n) in order, as eg_batch_add_json_with would one by one, but
 * parsing on a second thread while the store adds (as eg_batch_add_ndjson
 * does): for callers that hold many separate lines, such as the messages
 * of a Kafka fetch.  bad() is called for each invalid line (line = its
 * index; return 0 to go on); each line's rc and time are set.  *done gets
 * the number of lines consumed.  Returns as eg_batch_add_ndjson.
 */
int eg_batch_add_lines(eg_batch *b, eg_line *lines, size_t n,
		       eg_bad_line_fn bad, void *ctx, uint64_t *done);

/* Add one of engram's own events to a reserved stream (a name beginning
 * with '$', but not $schemas, whose events `engram schema` writes) in a
 * user's batch, so that it commits atomically with the batch's events:
 * engram kafka import's offsets and rejected messages.  data_json (n
 * bytes) must be a JSON object; the event gets an assigned id, no
 * schema check, and the commit's record time as its time.  EG_OK, EG_EINVAL
 * (a stream not so named, data not an object), EG_ENOMEM, EG_EIO. */
int eg_batch_add_system(eg_batch *b, const char *stream, const char *type,
			const char *data_json, size_t n);

/* Add a heartbeat (stream and type EG_HEARTBEAT, docs/WINDOWS.md) at event
 * time `time`, with data_json (n bytes, a JSON object; NULL: {}), never
 * through the batch's map and never refused by a schema (it is engram's
 * own): a source's watermark in its own batch (engram kafka import's
 * minimum over partitions).  Returns as eg_batch_add_json. */
int eg_batch_add_heartbeat(eg_batch *b, int64_t time, const char *data_json, size_t n);

/* The events the batch has added so far (committed or not) and the lines
 * it skipped as duplicates: a caller that merges several requests into one
 * batch (engram serve's group commit) tells each its share. */
void eg_batch_counts(const eg_batch *b, uint64_t *added, uint64_t *duplicates);

/* Result of a commit. */
typedef struct eg_append_result {
	uint64_t appended, duplicates;
	uint64_t first_pos, last_pos;   /* 0 when nothing was appended */
	eg_head head;
	/* Events appended whose time was an integer from 10^8 to 10^11 epoch
	 * milliseconds (1970-01-02 to 1973-03-03; as seconds, 1973 to 5138),
	 * most likely epoch seconds: how many, and the first one's input line
	 * (1-based; every line given to the batch counts, one per
	 * eg_batch_add_json call) and time.  Kept as given; 0 when none. */
	uint64_t seconds_count, seconds_line;
	int64_t seconds_time;
	uint64_t quarantined;           /* events put in $quarantine (counted in
	                                   appended too) */
} eg_append_result;

/* Make every event added so far durable (per the sync option) and visible,
 * then free the batch.  EG_ECONFLICT if the expected version did not hold
 * (nothing written).  On any error the batch is aborted and freed. */
int eg_batch_commit(eg_batch *b, eg_append_result *res);

/* Discard the batch: nothing of it is visible, ever.  NULL is accepted. */
void eg_batch_abort(eg_batch *b);

/* Make every commit made with EG_SYNC_GROUP durable now, in one fdatasync
 * per segment they reach (none: EG_OK).  EG_EIO (the store then refuses
 * further writes), EG_EREADONLY. */
int eg_store_sync(eg_store *st);

/* eg_store_sync in three steps, so that one thread commits the next group
 * while another waits for the disk.  eg_store_sync_take notes what the
 * commits since the last sync need (NULL in *w: nothing) and the head
 * they reach (*pos); eg_sync_run makes it durable, from any thread, while
 * the store goes on committing (the store must stay open): EG_OK, or
 * EG_EIO (the reason comes with eg_store_sync_done); then
 * eg_store_sync_done, on the store's thread, frees w and says how it went:
 * EG_OK, or EG_EIO with the message (the store then refuses further
 * writes, as after a failed eg_store_sync).  Take and done pair up: at
 * most one w is out at a time. */
typedef struct eg_sync_work eg_sync_work;
int eg_store_sync_take(eg_store *st, eg_sync_work **w, uint64_t *pos);
int eg_sync_run(eg_sync_work *w);
int eg_store_sync_done(eg_store *st, eg_sync_work *w);

/* ------------------------------------------------------------------ read */

typedef struct eg_iter eg_iter;

enum eg_clock { EG_BY_EVENT = 0, EG_BY_RECORDED = 1 };

/* What to read; zero-initialise, then set fields.  Every condition given
 * must hold.  Positions and times are inclusive bounds. */
typedef struct eg_filter {
	uint64_t from, to;          /* positions; 0 = unbounded */
	const char *stream;         /* NULL = any */
	const char *const *streams; /* or any of nstreams streams (NULL = any;
	                               nstreams 0 with streams set: none) */
	size_t nstreams;
	const char *const *types;   /* ntypes type names; ntypes 0 = any */
	size_t ntypes;
	unsigned kinds;             /* bits 1 << enum eg_kind; 0 = any */
	int has_since, has_until;
	int64_t since, until;       /* bounds on the clock named by `by` */
	int by;                     /* enum eg_clock */
	uint64_t limit;             /* 0 = unlimited */
	int reverse;                /* newest first */
	int upcast;                 /* events of a type with a schema read at its
	                               latest version (docs/CONTRACTS.md) */
	const eg_query *query;      /* NULL = any; else only the events that match
	                               this DCB query (docs/CONSISTENCY.md; limit
	                               counts those); borrowed for the iterator's
	                               life */
} eg_filter;

/* Create an iterator over the events matching f, as of the current head.
 * The filter's strings are copied.  Errors: EG_ENOMEM, EG_EIO. */
int eg_iter_new(eg_store *st, eg_iter **out, const eg_filter *f);

/* Next matching event: EG_OK with *ev borrowed until the next call, EG_END,
 * or an error (EG_ECORRUPT when a record fails its checksum). */
int eg_iter_next(eg_iter *it, const eg_event **ev);

/* The position of the last event recorded at or before k (0: none): the
 * log as it was at record time k.  Record time never decreases along it. */
int eg_known_pos(eg_store *st, int64_t k, uint64_t *pos);

/* The position of the event whose id is id (n bytes), through the id index
 * (and a scan of what the index does not cover yet): EG_OK, EG_ENOTFOUND,
 * or EG_EIO / EG_ECORRUPT. */
int eg_store_find_id(eg_store *st, const char *id, size_t n, uint64_t *pos);

/* For --follow: block until events beyond the iterator's head are committed
 * (woken by inotify, no polling) or timeout_ms passes (-1: forever), then
 * extend the iterator to the new head.  Returns EG_OK when there may be new
 * events, EG_END on timeout or when the iterator is exhausted by its limit.
 * Forward iterators only. */
int eg_iter_wait(eg_iter *it, int timeout_ms);

/* Position of the last event the iterator has considered (matching or not);
 * a consumer checkpoints this.  0 before the first. */
uint64_t eg_iter_scanned(const eg_iter *it);

/* The chain hash after the batch that holds the event eg_iter_next
 * returned last (what eg_store_chain_at gives for that batch's last
 * position): one walk to the batch's commit record, then cached for the
 * batch's other events.  EG_OK, EG_EINVAL before the first event,
 * EG_ECORRUPT when no commit record closes the batch. */
int eg_iter_chain(eg_iter *it, unsigned char hash[32]);

void eg_iter_free(eg_iter *it);

/* --------------------------------------------------------------- verify */

/* Result of eg_store_verify. */
typedef struct eg_verify_result {
	uint64_t events, head_pos;
	unsigned char hash[32];
	/* On EG_ECORRUPT: where the first problem is. */
	uint64_t bad_pos;          /* position of the event, 0 if not an event */
	char bad_segment[64];      /* segment file name */
	uint64_t bad_offset;       /* byte offset in that segment */
} eg_verify_result;

/* The chain hash after the batch that ends at position pos (what
 * eg_store_head gave when pos was the head): EG_OK, EG_ENOTFOUND when pos
 * is beyond the head or not the last position of a batch, EG_ECORRUPT.
 * It reads the commit record; eg_store_verify proves the records. */
int eg_store_chain_at(eg_store *st, uint64_t pos, unsigned char hash[32]);

/* ------------------------------------------------------------- compact */

/* Options of eg_store_compact; NULL for the defaults. */
typedef struct eg_compact_opts {
	uint32_t block_size;     /* logical bytes per zstd block (0: 256 KiB; 4 KiB..16 MiB) */
	int level;               /* zstd level (0: 3; 1..19) */
} eg_compact_opts;

typedef struct eg_compact_result {
	uint32_t sealed;         /* segments sealed by this call */
	uint32_t already;        /* segments that were sealed before */
	uint64_t bytes_before;   /* the sealed segments' file sizes before... */
	uint64_t bytes_after;    /* ...and after */
	uint64_t log_bytes;      /* all of log/ afterwards */
} eg_compact_result;

/* Writer: seal every segment not sealed yet, the last one included (the
 * next batch then starts a new segment).  Each is replaced atomically, so
 * a crash leaves it plain or sealed, never neither; readers holding the
 * plain file keep reading it.  Errors: EG_EREADONLY, EG_ECORRUPT (a record
 * fails its check: nothing of that segment is replaced), EG_EIO, EG_ENOMEM. */
int eg_store_compact(eg_store *st, const eg_compact_opts *o, eg_compact_result *out);

/* Check every record's checksum, the density of positions and the whole
 * hash chain (in a sealed segment, every block's check first).  EG_OK, or EG_ECORRUPT with the first bad place in *res and a
 * message in eg_errmsg. */
int eg_store_verify(eg_store *st, eg_verify_result *res);

/* ---------------------------------------------------------- inspection */

/* Sizes are file lengths in bytes.  log_bytes counts the segments up to the
 * last commit; uncommitted_bytes what follows it (an interrupted append,
 * cut off by the next writer, or a batch being written).  The derived files,
 * all rebuilt from the log: index_bytes (idx/'s own files), projection_bytes,
 * window_bytes, session_bytes, feature_bytes, column_bytes, metric_bytes,
 * error_bytes (idx/proj, idx/win, idx/sess, idx/feat, idx/col,
 * idx/metrics, and idx/errors with the store's errors.grouping),
 * consumer_bytes (consumers/) and dataset_bytes (datasets/: kept
 * answers, built again by engram dataset build), with derived_bytes their
 * sum.  total_bytes is log_bytes + derived_bytes. */
typedef struct eg_stats {
	uint64_t events, segments, streams, types;
	uint64_t log_bytes, index_bytes, total_bytes;
	int64_t time_min, time_max, recorded_min, recorded_max;  /* 0 if empty */
	uint64_t projection_bytes, window_bytes, session_bytes, consumer_bytes;
	uint64_t derived_bytes, uncommitted_bytes;
	uint64_t feature_bytes, dataset_bytes;
	uint64_t column_bytes;
	uint64_t metric_bytes, error_bytes;
	uint64_t tree_bytes;          /* idx/tree: the Merkle tree (docs/PROOFS.md) */
} eg_stats;

int eg_store_stats(eg_store *st, eg_stats *out);

enum eg_keyspace { EG_KEYS_STREAMS = 0, EG_KEYS_TYPES = 1, EG_KEYS_TAGS = 2 };

/* Call fn for every stream (with its count and current version) or every
 * type (version 0), in name order.  fn returns 0 to go on, nonzero to stop
 * (that value is returned). */
typedef int (*eg_key_fn)(void *ctx, const char *name, size_t len,
			 uint64_t count, uint64_t version);
int eg_store_keys(eg_store *st, int keyspace, eg_key_fn fn, void *ctx);
/* One stream or type: EG_OK with its event count in *count, or
 * EG_ENOTFOUND if no event has it.  A lookup in the key index, where
 * eg_store_keys reads every key. */
int eg_store_key(eg_store *st, int keyspace, const char *name, size_t len, uint64_t *count);

/* Delete every derived file and rebuild it from the log (writer only). */
int eg_store_reindex(eg_store *st);

/* ---------------------------------------------------------------- backup */

/* Result of eg_store_backup. */
typedef struct eg_backup_result {
	eg_head head;            /* what the copy holds: its head, verified */
	uint64_t bytes;          /* log bytes copied */
	uint64_t segments;       /* segment files copied */
	uint64_t consumers;      /* consumer checkpoints copied */
} eg_backup_result;

/*
 * Copy the store into a new store at dir, which must not exist or be an
 * empty directory (its parent must exist), while writers go on appending:
 * no lock is taken.  The copy holds the log up to the head as of the call,
 * byte for byte and not one byte beyond (so every batch whole), and every
 * consumer checkpoint (read before the head, so none is ahead of it).
 * Derived state is not copied: the copy's indexes are built from its own
 * log before this returns, and its projection, window and session state
 * is built by its first queries.  Every file and directory is fsync'd, and
 * the copy is verified (eg_store_verify) before EG_OK.  On failure dir may
 * hold a partial copy: delete it.  Errors: EG_EINVAL (dir exists and is
 * not empty), EG_EIO, EG_ECORRUPT (the copy does not verify), EG_ENOMEM.
 */
int eg_store_backup(eg_store *st, const char *dir, eg_backup_result *res);

/* ----------------------------------------------------------- consumers */

/* A consumer name is 1-64 bytes of [A-Za-z0-9._-].  Its checkpoint is the
 * last position it has been handed; it starts at 0. */

/* Read the checkpoint of consumer name (0 if it never ran).
 * Errors: EG_EINVAL (bad name), EG_EIO. */
int eg_consumer_get(eg_store *st, const char *name, uint64_t *pos);

/* Durably set the checkpoint (write, fsync, rename).  Works on stores opened
 * for reading too: consumers run beside the writer. */
int eg_consumer_set(eg_store *st, const char *name, uint64_t pos);

/* eg_consumer_set, also keeping the schema versions the consumer has been
 * handed: schemas is a JSON object of type -> array of versions,
 * {"order_placed":[1,2]} (NULL or "": none). */
int eg_consumer_set_schemas(eg_store *st, const char *name, uint64_t pos, const char *schemas);

/* The schema versions kept with consumer name's checkpoint: *schemas is
 * that JSON object (malloc'd; free it), or NULL when it has none. */
int eg_consumer_schemas(eg_store *st, const char *name, char **schemas);

/* Call fn for each consumer, in name order. */
typedef int (*eg_consumer_fn)(void *ctx, const char *name, uint64_t pos);
int eg_consumer_list(eg_store *st, eg_consumer_fn fn, void *ctx);

/* Delete consumer name's checkpoint (unlink, fsync of the directory); its
 * next consume starts from the first event again.  Errors: EG_EINVAL (bad
 * name), EG_ENOTFOUND (no such consumer; the message names it), EG_EIO. */
int eg_consumer_delete(eg_store *st, const char *name);

/* Move an existing consumer's checkpoint to pos: the last position it has
 * been handed becomes pos, so its next consume starts at pos + 1 (0
 * replays the whole log).  Errors: EG_EINVAL (bad name, or pos beyond the
 * head: the message says both), EG_ENOTFOUND (no such consumer), EG_EIO.
 * A consumer running at the same time overwrites it with its own. */
int eg_consumer_reset(eg_store *st, const char *name, uint64_t pos);

/* Park an event consumer name cannot handle (engram serve's nack after its
 * last delivery): append to the stream $parked-NAME, which no producer may
 * write, one event of type "parked" whose data is {"consumer": NAME,
 * "deliveries": deliveries, "event": line}, line being the event as engram
 * read prints it (one JSON object, n bytes).  One batch committed with
 * sync (enum eg_sync); *res as eg_batch_commit gives it.  Writer only.
 * Errors: EG_EINVAL (bad name, line not one JSON object), EG_EREADONLY,
 * EG_EIO, EG_ENOMEM. */
int eg_consumer_park(eg_store *st, const char *name, const char *line, size_t n,
		     uint64_t deliveries, int sync, eg_append_result *res);

/* ---------------------------------------------------------- spec state
 * What projections, windows and sessions keep under idx/proj/, idx/win/
 * and idx/sess/: one directory per spec (its hash), rebuilt from the log
 * when missing.  A query that opens one notes the time in it. */

typedef struct eg_spec_state {
	const char *kind;        /* "projection", "window" or "session" */
	const char *name;        /* the spec's "name" (from its spec.json), or NULL */
	const char *hash;        /* the directory's name, 32 hex digits */
	uint64_t bytes;          /* the size of its files */
	int64_t last_used;       /* when a query last opened it (microseconds
	                            since the epoch; reindex does not count) */
} eg_spec_state;
/* Strings are borrowed for the call.  Return 0 to go on, nonzero to stop
 * (that value is returned). */
typedef int (*eg_spec_state_fn)(void *ctx, const eg_spec_state *s);

/* Call fn for every kept spec state, by kind (projection, window, session)
 * then hash.  Works on stores opened for reading.  Errors: EG_EIO,
 * EG_ENOMEM. */
int eg_spec_state_list(eg_store *st, eg_spec_state_fn fn, void *ctx);

/* Delete the spec state whose hash is hash, or starts with it (at least 4
 * hex digits, matching one state only), so that reindex no longer rebuilds
 * it; a later query with that spec builds it anew from the log.  fn (may
 * be NULL) is called with the state once it is gone.  Needs the write
 * lock (reindex holds it while it rebuilds), and the state's own lock,
 * which a query holds while it runs.  Errors: EG_EREADONLY; EG_EINVAL (not
 * a hash, or a prefix of several: the message lists them); EG_ENOTFOUND;
 * EG_ELOCKED (a query is using it); EG_EIO. */
int eg_spec_state_drop(eg_store *st, const char *hash, eg_spec_state_fn fn, void *ctx);

/* --------------------------------------------------------- projections */

/*
 * A projection folds events into per-key state (docs/PROJECTIONS.md): a
 * spec names the key, the event types and one aggregate per field.  State
 * can be asked as of an event time and as known at a record time.  Saved
 * snapshots (derived files under idx/proj/, keyed by the spec's hash) make
 * every query a snapshot lookup plus the events after it.
 */
typedef struct eg_proj_spec eg_proj_spec;
typedef struct eg_proj eg_proj;

/* No time bound. */
#define EG_TIME_NONE INT64_MAX

/* Parse a spec (JSON text).  EG_OK, or EG_EINVAL with "JSON path: what is
 * allowed" written to err (errlen bytes, NUL-terminated); EG_ENOMEM.  The
 * caller frees *out with eg_proj_spec_free. */
int eg_proj_spec_parse(const char *json, size_t n, eg_proj_spec **out,
		       char *err, size_t errlen);
void eg_proj_spec_free(eg_proj_spec *spec);
/* The spec's "name" (borrowed). */
const char *eg_proj_spec_name(const eg_proj_spec *spec);
/* The i-th distinct event type the spec names (in "types", a field's
 * "types", "sign", "open" or "close"), borrowed; NULL when i is past the
 * last. */
const char *eg_proj_spec_type(const eg_proj_spec *spec, size_t i);
/* Hex SHA-256 of what the spec means (key, types, fields; not its name or
 * snapshot_every): the name of its snapshots. */
void eg_proj_spec_hash(const eg_proj_spec *spec, char out[65]);

/* Called while a projection folds the log: done of total events. */
typedef void (*eg_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/*
 * Bind a spec to an open store: load the newest valid snapshot, fold the
 * events after it up to the head (calling progress, which may be NULL),
 * and save snapshots every snapshot_every events on the way.  The spec is
 * copied.  Works on stores opened for reading (snapshots are derived files;
 * if they cannot be written, the state is kept in memory only).  Errors:
 * EG_ENOMEM, EG_EIO, EG_ECORRUPT.  Free with eg_proj_close.
 */
int eg_proj_open(eg_store *st, const eg_proj_spec *spec, eg_progress_fn progress,
		 void *ctx, eg_proj **out);
/* Fold events committed since open or the last refresh. */
int eg_proj_refresh(eg_proj *p);
void eg_proj_close(eg_proj *p);

/* Which events a query sees: time <= as_of and recorded <= known_at
 * (EG_TIME_NONE: no bound). */
typedef struct eg_proj_at {
	int64_t as_of, known_at;
} eg_proj_at;

/* One row: the key and each field, as JSON text (borrowed until the
 * callback returns).  History rows also carry their validity interval in
 * event time: [valid_from, valid_to), valid_to EG_TIME_NONE while current. */
typedef struct eg_proj_row {
	const char *key;
	size_t key_len;
	size_t nfields;
	const char *const *names;
	const char *const *values;
	const size_t *lens;
	int64_t valid_from, valid_to;
} eg_proj_row;
/* Return 0 to go on, nonzero to stop (that value is returned). */
typedef int (*eg_proj_row_fn)(void *ctx, const eg_proj_row *row);

/* The state of one key (its text as written: acct-1, or 42 for a numeric
 * key): fn is called once, or not at all if the key has no events under
 * at.  EG_OK, or an error (EG_EIO, EG_ECORRUPT, EG_ENOMEM). */
int eg_proj_get(eg_proj *p, const char *key, size_t n, const eg_proj_at *at,
		eg_proj_row_fn fn, void *ctx);
/* Every key with events under at, in key order. */
int eg_proj_scan(eg_proj *p, const eg_proj_at *at, eg_proj_row_fn fn, void *ctx);
/* The states of one key over event time, one row per change (a type-2
 * slowly changing dimension), oldest first. */
int eg_proj_history(eg_proj *p, const char *key, size_t n, const eg_proj_at *at,
		    eg_proj_row_fn fn, void *ctx);

/* What the last query did, for --explain. */
typedef struct eg_proj_field_stats {
	const char *name;
	uint64_t used;         /* events folded into the field */
	uint64_t missing;      /* skipped: the path is absent (or null) */
	uint64_t not_number;   /* skipped: not a number where one is needed */
	const char *path;      /* the field's path as written; NULL for count, open */
} eg_proj_field_stats;

typedef struct eg_proj_explain {
	uint64_t head_pos;        /* log head the projection has folded to */
	uint64_t snapshot_pos;    /* events <= this came from a saved snapshot */
	uint64_t folded;          /* events this handle folded from the log */
	uint64_t saved;           /* snapshots this handle saved */
	uint64_t no_key;          /* events skipped for lacking the key */
	uint64_t known_pos;       /* last query: what known_at resolved to */
	uint64_t keys, events;    /* last query: rows and events they hold */
	uint64_t chunks, entries; /* last query: summaries merged, entries read */
	size_t nfields;
	const eg_proj_field_stats *fields;  /* borrowed, per field */
	const char *path;         /* the last fold from the log's events: "columns"
	                             (the column files and the log's tail after
	                             them) or "log"; NULL: no fold ran */
	const char *path_why;     /* with "log": why not the columns (static text) */
	uint64_t from_columns, from_log;   /* with "columns": events read each way */
} eg_proj_explain;
void eg_proj_get_explain(const eg_proj *p, eg_proj_explain *out);

/* ---------------------------------------------------------------- windows
 * Figures by event time in tumbling, hopping or session windows, with a
 * watermark, allowed lateness, revisions for late data and too-late events
 * counted, never dropped (docs/WINDOWS.md). */

typedef struct eg_win_spec eg_win_spec;
typedef struct eg_win eg_win;

/* The type (and stream) of a heartbeat: an event that says "no events
 * before its time will come, except late ones".  Windows read it as the
 * watermark moving to its time, so that results of a quiet source are
 * emitted, and a replay of the log stays the same; projections skip it.
 * `engram append --heartbeat TIME` appends one. */
#define EG_HEARTBEAT "engram.heartbeat"

/* Parse a windows spec (JSON text).  EG_OK, or EG_EINVAL with "JSON path:
 * what is allowed" in err; EG_ENOMEM.  Free with eg_win_spec_free. */
int eg_win_spec_parse(const char *json, size_t n, eg_win_spec **out,
		      char *err, size_t errlen);
void eg_win_spec_free(eg_win_spec *spec);
const char *eg_win_spec_name(const eg_win_spec *spec);
/* The i-th type of the spec's "types" (borrowed); NULL past the last. */
const char *eg_win_spec_type(const eg_win_spec *spec, size_t i);

/* One window's figures.  Values are JSON texts (borrowed, valid during the
 * callback).  groups[i] is the value of the spec's i-th group_by path
 * (null when the event lacks it), named group_names[i]. */
typedef struct eg_win_row {
	int64_t start, end;          /* [start, end) in event time */
	size_t ngroups;
	const char *const *group_names;
	const char *const *groups;
	const size_t *group_lens;
	size_t naggs;
	const char *const *agg_names;
	const char *const *values;
	const size_t *lens;
	const char *const *prev_values;   /* changelog: revision - 1's values, or NULL */
	const size_t *prev_lens;
	uint64_t revision;           /* 0: not emitted yet (or only too-late events) */
	int final;                   /* the watermark passed end + allowed_lateness */
	int retracted;               /* session windows: merged into another */
	uint64_t too_late;           /* events too late for this window */
	uint64_t pos;                /* changelog: the event that made this revision */
} eg_win_row;
typedef int (*eg_win_row_fn)(void *ctx, const eg_win_row *row);
/* A too-late event and the window (its figures unchanged) it was late for. */
typedef int (*eg_win_late_fn)(void *ctx, const eg_event *e, const eg_win_row *row);

/* Bind a spec to a store.  The run continues from the checkpoint in the
 * store's derived files (idx/win/HASH/) when there is a valid one, else
 * from the start of the log; EG_WIN_IN_MEMORY starts from the start and
 * saves nothing.  The spec is borrowed: keep it until eg_win_close. */
#define EG_WIN_IN_MEMORY 1
int eg_win_open(eg_store *st, const eg_win_spec *spec, int flags, eg_win **out);
void eg_win_close(eg_win *w);
/* Take the events after those already taken, in log order, up to position
 * to (0: the head), store the rows they make as change records and save a
 * checkpoint.  After an error, close the handle. */
int eg_win_run(eg_win *w, uint64_t to);
/* The stored changes from *cursor (0: the first) on, in the order they
 * were made, stopping before those made by events after position to (0:
 * none): revisions and retractions to on_rev (with prev_values and pos),
 * too-late events to on_late (the row holds the window only).  *cursor
 * moves past what was delivered; eg_win_cursor is the end.  A non-zero
 * return of a callback stops and is returned. */
int eg_win_changes(eg_win *w, uint64_t *cursor, uint64_t to, eg_win_row_fn on_rev,
		   eg_win_late_fn on_late, void *ctx);
uint64_t eg_win_cursor(const eg_win *w);
/* The table as a live run reported it when the log ended at position at
 * (0: where this run is): every window with a result, its latest revision,
 * ordered by start, end and group.  include_open (only at the run's end)
 * adds the windows not emitted yet, with revision 0. */
int eg_win_table(eg_win *w, uint64_t at, int include_open, eg_win_row_fn fn, void *ctx);

/* A row that differs between the reports at two positions. */
enum { EG_WIN_NEW = 1, EG_WIN_CHANGED, EG_WIN_GONE };
typedef struct eg_win_diff_row {
	int change;                  /* EG_WIN_NEW, _CHANGED or _GONE (merged away) */
	const eg_win_row *row;       /* as in the second report (GONE: the last) */
	const char *const *before_values;   /* CHANGED, GONE: the first report's */
	const size_t *before_lens;
	uint64_t before_revision, before_too_late;
	size_t nevents;              /* the events between the reports that changed it */
	const uint64_t *events;      /* their positions, in log order */
} eg_win_diff_row;
typedef int (*eg_win_diff_fn)(void *ctx, const eg_win_diff_row *d);
/* The rows whose figures (values, too_late) or presence differ between the
 * reports at positions p1 <= p2 (0: the run's end), in table order, then
 * the sessions merged away. */
int eg_win_diff(eg_win *w, uint64_t p1, uint64_t p2, eg_win_diff_fn fn, void *ctx);

typedef struct eg_win_agg_stats {
	const char *name;
	uint64_t used, missing, not_number;   /* over the whole run, resumed or not */
	const char *path;                     /* as written; NULL for count */
} eg_win_agg_stats;
typedef struct eg_win_explain {
	uint64_t through;            /* events up to this position were taken */
	uint64_t events;             /* events of the spec's types */
	uint64_t too_late;
	uint64_t revisions;          /* rows emitted, first results and corrections */
	uint64_t corrections;        /* revisions after the first */
	uint64_t heartbeats;         /* EG_HEARTBEAT events taken */
	uint64_t windows, open_windows;
	int64_t max_time, watermark; /* INT64_MIN until an event is taken */
	size_t naggs;
	const eg_win_agg_stats *aggs;
	uint64_t resumed_from;       /* the checkpoint's position the run went on from */
	/* Where the handle's runs read events (docs/STORAGE.md, "Engines on
	 * columns"): "columns" (the column files, and the log's tail after
	 * their last block), "log", or NULL when none ran; why not the
	 * columns when the log was read (NULL otherwise); the events each
	 * side gave, over the handle's runs.  Borrowed from w. */
	const char *path;
	const char *log_reason;
	uint64_t from_columns, from_log;
} eg_win_explain;
void eg_win_get_explain(const eg_win *w, eg_win_explain *out);

/* --------------------------------------------------------------- sessions
 * Sessions per stream by event time (docs/SESSIONS.md): a stream's events,
 * in event-time order, belong to one session while each is less than a gap
 * after the one before.  Whatever order the events arrive in, the sessions
 * are those of the stream's events sorted by time: a late event that closes
 * a gap merges two sessions.  Checkpoints of the state (derived files under
 * idx/sess/HASH/) make a query read only the events after the newest. */

typedef struct eg_sess_opts {
	int64_t gap;                     /* microseconds; 0: 30 minutes */
	const char *const *types;        /* the events taken; ntypes 0: all */
	size_t ntypes;
	const char *const *page_types;   /* page views; 0: page_view, screen_view */
	size_t npage_types;
	int no_upcast;                   /* events as stored, not at their type's
	                                    latest schema version */
} eg_sess_opts;

typedef struct eg_sessions eg_sessions;

/* Bind options to a store (they are copied).  The state continues from the
 * newest valid checkpoint when a query needs it; EG_SESS_IN_MEMORY reads
 * and writes none.  Works on stores opened for reading.  Errors: EG_EINVAL
 * (gap <= 0), EG_ENOMEM.  Free with eg_sessions_close. */
#define EG_SESS_IN_MEMORY 1
int eg_sessions_open(eg_store *st, const eg_sess_opts *o, int flags, eg_sessions **out);
void eg_sessions_close(eg_sessions *s);

/* One session.  Strings are borrowed for the callback; entry_page and
 * exit_page are the JSON text of data.page_url of the session's first and
 * last page view that has one (NULL when none does). */
typedef struct eg_session_row {
	const char *stream;
	size_t stream_len;
	const char *session;             /* 36-char id from stream and start */
	int64_t start, end;              /* first and last event times */
	uint64_t events, page_views;
	uint64_t client_sessions;        /* distinct non-empty `session` fields */
	const char *entry_page, *exit_page;
	size_t entry_len, exit_len;
} eg_session_row;
typedef int (*eg_session_fn)(void *ctx, const eg_session_row *row);

/* Which sessions a scan reports. */
typedef struct eg_sess_query {
	const char *stream;              /* NULL: every stream */
	int has_since, has_until;
	int64_t since, until;            /* bounds on the session's start */
	uint64_t at;                     /* sessions of the log prefix [1, at]
	                                    (eg_known_pos); 0: the head */
} eg_sess_query;

/* Bring the state up to the head (saving checkpoints), or rebuild it for
 * the prefix q->at from the nearest checkpoint before it, then call fn for
 * each session q selects, by stream name and start.  A non-zero return of
 * fn stops and is returned.  The newest checkpoint may be written on a
 * second thread while fn is called, so fn must not use s.  Errors:
 * EG_EIO, EG_ECORRUPT, EG_ENOMEM. */
int eg_sessions_scan(eg_sessions *s, const eg_sess_query *q, eg_session_fn fn, void *ctx);

/* What the last scan did, for --explain. */
typedef struct eg_sess_explain {
	uint64_t through;                /* the state covers events <= this */
	uint64_t resumed_from;           /* the checkpoint's position it went on from */
	uint64_t taken;                  /* events this scan read from the log */
	uint64_t events, sessions, streams;   /* in the state */
	uint64_t merges;                 /* sessions joined by a late event */
	uint64_t saved;                  /* checkpoints this scan wrote */
	/* Where the scan read events (docs/STORAGE.md, "Engines on
	 * columns"): "columns", "log", or NULL when it read none; why not
	 * the columns when it read the log; the events from each. */
	const char *path;
	const char *log_reason;
	uint64_t from_columns, from_log;
} eg_sess_explain;
void eg_sessions_get_explain(const eg_sessions *s, eg_sess_explain *out);

/* ---------------------------------------------------------------- funnels
 * How far each stream gets through a sequence of steps within a time limit,
 * as ClickHouse's windowFunnel with strictly increasing times
 * (docs/FUNNELS.md).  A step is an event type, or a type and an exact
 * data.page_url.  Per stream (and per value of the optional by path), the
 * level reached is the length of the longest chain of events matching
 * steps 1, 2, … in strictly increasing event time, the last within
 * `within` of the first, over every possible first-step event. */

typedef struct eg_funnel eg_funnel;

#define EG_FUNNEL_MAX_STEPS 32
/* The accepted form of a steps list, for messages. */
#define EG_FUNNEL_STEPS_FORM "TYPE[:PAGE_URL][,TYPE[:PAGE_URL]...]"

/* What to compute; zero-initialise, then set fields. */
typedef struct eg_funnel_opts {
	int64_t within;             /* microseconds, > 0: last step - first step <= within */
	const char *by;             /* a field path (stream, type, actor, session,
	                               data.a.b, …), or NULL: one funnel */
	int has_since, has_until;   /* bounds on event time, inclusive: only */
	int64_t since, until;       /* these events are considered at all */
	int no_upcast;              /* events as stored, not at their type's
	                               latest schema version */
} eg_funnel_opts;

/*
 * Parse steps, "TYPE[:PAGE_URL]" separated by commas (1 to
 * EG_FUNNEL_MAX_STEPS of them; spaces around a step are dropped; the URL
 * is everything after the first ':', so it may hold ':' but not ','), and
 * the options.  EG_OK, or EG_EINVAL with why in err (errlen bytes,
 * NUL-terminated; an empty step, a step without a type, an empty URL,
 * more steps than allowed; "by: …" for a bad by path; "within: …" for
 * within <= 0), or EG_ENOMEM.  Free with eg_funnel_free.
 */
int eg_funnel_new(const char *steps, const eg_funnel_opts *opts, eg_funnel **out,
		  char *err, size_t errlen);
void eg_funnel_free(eg_funnel *f);
/* The i-th distinct event type of the steps (borrowed); NULL past the last. */
const char *eg_funnel_step_type(const eg_funnel *f, size_t i);

/* One row of the result: one step of one by value. */
typedef struct eg_funnel_row {
	const char *by_path;        /* the by path as given, or NULL */
	const char *by;             /* JSON text of its value (null when absent) */
	size_t by_len;
	int step;                   /* 1-based */
	const char *name;           /* the step as written (spaces dropped) */
	uint64_t users;             /* streams whose level is >= step */
	double conversion;          /* users / the previous step's users; NaN at
	                               step 1 or when the previous step has none */
	double median_time;         /* seconds from the previous step to this one,
	                               median over those users (see docs); NaN at
	                               step 1 or when no user reached the step */
} eg_funnel_row;
/* Return 0 to go on, nonzero to stop (that value is returned). */
typedef int (*eg_funnel_row_fn)(void *ctx, const eg_funnel_row *row);

/*
 * Read the events of the steps' types (through the type index) as of the
 * store's head and call fn for each row: without a by path, one row per
 * step; with one, the rows of every value that some stream took into step
 * 1, values in the byte order of their JSON text.  Strings in a row are
 * borrowed for the call.  Errors: EG_ENOMEM, EG_EIO, EG_ECORRUPT (message
 * in eg_errmsg(st)), or fn's nonzero value.  May be called again.
 */
int eg_funnel_run(eg_store *st, eg_funnel *f, eg_funnel_row_fn fn, void *ctx);

/* What the last run did, for --explain. */
typedef struct eg_funnel_explain {
	uint64_t through;           /* the head position it read to */
	uint64_t read;              /* events of the steps' types read */
	uint64_t events;            /* of those, events matching some step */
	uint64_t matches;           /* (event, step) pairs: an event may match several */
	uint64_t streams;           /* (stream, by value) pairs with a matching event */
	uint64_t entered;           /* of those, pairs with a step-1 event */
	uint64_t values;            /* distinct by values seen (1 without by) */
	uint64_t rows;
	const char *path;           /* "columns": read from the column files (and
	                               the log's tail after them); "log" */
	const char *path_why;       /* with "log": why not the columns (static
	                               text), or NULL (an empty store) */
	uint64_t from_columns, from_log;   /* with "columns": events read each way */
} eg_funnel_explain;
void eg_funnel_get_explain(const eg_funnel *f, eg_funnel_explain *out);

/* ----------------------------------------------------------- contracts
 * Versioned schemas per event type (docs/CONTRACTS.md), kept as events in
 * the reserved stream $schemas.  Append validates each event against its
 * type's latest version; readers may upcast older events to it. */

/* One version of a type's schema.  Strings borrowed until the next call
 * on the store. */
typedef struct eg_contract {
	const char *type;
	size_t type_len;
	uint64_t version;        /* 1, 2, ... */
	const char *compat;      /* backward, forward, full, each maybe
	                            _transitive, or none */
	const char *schema;      /* the schema document, minified JSON */
	size_t schema_len;
	const char *upcast;      /* how version - 1 becomes this one (JSON), or NULL */
	size_t upcast_len;
	uint64_t pos;            /* its event in $schemas */
	int64_t recorded;
} eg_contract;
/* Return 0 to go on, nonzero to stop (that value is returned). */
typedef int (*eg_contract_fn)(void *ctx, const eg_contract *c);

/* Every version of every type (or of type only, when not NULL), by type
 * name then version.  Works on stores opened for reading. */
int eg_contract_list(eg_store *st, const char *type, eg_contract_fn fn, void *ctx);

/* Version `version` of type's schema (0: the latest).  EG_ENOTFOUND if the
 * type has no schema or no such version. */
int eg_contract_get(eg_store *st, const char *type, uint64_t version, eg_contract *out);

/* How many stored events of type passed each version: counts[v] for
 * version v (counts[0]: events stored without a schema), n entries. */
int eg_contract_counts(eg_store *st, const char *type, uint64_t *counts, size_t n);

/* Whether "schema require-all" is on: events of a type without a schema
 * are then refused. */
int eg_contract_require_all(eg_store *st, int *on);
/* Turn it on or off (an event in $schemas; writer only). */
int eg_contract_set_require_all(eg_store *st, int on);

/* Options of eg_contract_add. */
typedef struct eg_contract_opts {
	const char *compat;      /* NULL: the previous version's mode, or backward */
	const char *upcast;      /* the upcast document from the previous version */
	size_t upcast_len;
	uint64_t sample;         /* 0: check every stored event of the type; N: N of them */
	int dry_run;             /* check only (engram schema check) */
	int force;               /* register even when stored events fail it */
	size_t max_examples;     /* failing events reported (default 5) */
} eg_contract_opts;

/* What eg_contract_add found, one item at a time: a rule the new version
 * breaks against an earlier one (pos 0), or a stored event that fails it
 * (pos its position). */
typedef struct eg_contract_issue {
	uint64_t against;        /* rules: the version compared with */
	const char *rule;        /* "property-added-required", or for events the
	                            schema keyword that failed */
	const char *pointer;     /* JSON pointer of the property */
	const char *message;
	uint64_t pos;            /* events: its position */
	uint64_t stored_version; /* events: the version it was stored under */
} eg_contract_issue;
typedef int (*eg_contract_issue_fn)(void *ctx, const eg_contract_issue *c);

typedef struct eg_contract_report {
	uint64_t version;        /* the version registered (or that would be) */
	const char *compat;      /* the mode it was checked under */
	uint64_t rules_broken;   /* incompatibilities found */
	uint64_t checked;        /* stored events validated against it */
	uint64_t failed;         /* of which failed */
	uint64_t pos;            /* its event in $schemas; 0 on a dry run */
	int unchanged;           /* the same document as the latest version:
	                            nothing registered */
} eg_contract_report;

/*
 * Register the next version of type's schema (schema[0..n), JSON).  The
 * new version is compared with the earlier ones under the compatibility
 * mode, and every stored event of the type (or opts->sample of them) is
 * upcast to it and validated; each problem goes to fn (may be NULL).
 * EG_OK (registered, or only checked when dry_run); EG_EINVAL (the schema
 * or upcast document is invalid: eg_errmsg names its path, or a bad
 * mode); EG_ECONFLICT (incompatible, or stored events fail and force is
 * not set: nothing registered); EG_EREADONLY; EG_EIO; EG_ENOMEM.
 */
int eg_contract_add(eg_store *st, const char *type, const char *schema, size_t n,
		    const eg_contract_opts *opts, eg_contract_issue_fn fn, void *ctx,
		    eg_contract_report *rep);

/* One difference between two versions of a schema (docs/CONTRACTS.md,
 * "Compatibility"): the rule's name, the property's JSON pointer in the
 * data, a sentence, and which way it breaks. */
typedef struct eg_contract_change {
	const char *rule, *pointer, *message;
	int breaks_backward;     /* a reader of the newer may refuse older events */
	int breaks_forward;      /* a reader of the older may refuse newer events */
} eg_contract_change;
typedef int (*eg_contract_change_fn)(void *ctx, const eg_contract_change *c);

/* Every difference from version v1 of type's schema to version v2.
 * EG_ENOTFOUND for a missing version. */
int eg_contract_diff(eg_store *st, const char *type, uint64_t v1, uint64_t v2,
		     eg_contract_change_fn fn, void *ctx);

/* Validate one event (JSON envelope text, as append takes it, with no
 * store write) against its type's latest schema; type, when not NULL,
 * is the type of lines without one.  EG_OK; EG_EINVAL with the errors in
 * eg_errmsg, as append would report them; EG_ENOTFOUND if its type has no
 * schema (and the message says so). */
int eg_contract_validate(eg_store *st, const char *json, size_t n, const char *type);

/* ---------------------------------------------------------- quarantine */

/* One event in $quarantine. */
typedef struct eg_quarantined {
	uint64_t pos;            /* its position in $quarantine's event */
	int64_t recorded;
	const char *id;          /* the refused event's id */
	size_t id_len;
	const char *type;
	size_t type_len;
	uint64_t line;           /* its input line */
	uint64_t schema_version; /* the version that refused it */
	const char *errors;      /* JSON array of {pointer, keyword, message} */
	size_t errors_len;
	const char *event;       /* the refused event, as an envelope (JSON) */
	size_t event_len;
	uint64_t appended_pos;   /* 0 while pending; else where a retry put it */
	const char *retry_error; /* retry: why it still fails now, else NULL */
} eg_quarantined;
typedef int (*eg_quarantine_fn)(void *ctx, const eg_quarantined *q);

/* Every event in $quarantine, oldest first. */
int eg_quarantine_list(eg_store *st, eg_quarantine_fn fn, void *ctx);

/* Validate every pending quarantined event against the current schemas
 * and append, in one batch, those that pass: each one once, whatever
 * retries ran before (its id makes a second copy a duplicate).  fn sees
 * each pending one with appended_pos set when it was appended now, and
 * the errors of now when it still fails.  *appended and *failing count
 * them. */
int eg_quarantine_retry(eg_store *st, int sync, eg_quarantine_fn fn, void *ctx,
			uint64_t *appended, uint64_t *failing);

/* --------------------------------------------------------------- features
 * Point-in-time feature sets (docs/FEATURES.md): for an entity and a
 * cutoff, aggregates over the entity's events before the cutoff that were
 * already recorded when it was known.  Training (a labels file, row by
 * row) and serving (one entity now) call the same eg_feat_get. */

typedef struct eg_feat_spec eg_feat_spec;
typedef struct eg_feat eg_feat;

/* Parse a features spec (JSON text).  EG_OK, or EG_EINVAL with "JSON path:
 * what is allowed" in err; EG_ENOMEM.  A feature of kind projection names
 * a projection spec file: give its text with eg_feat_spec_set_projection
 * before eg_feat_open.  Free with eg_feat_spec_free. */
int eg_feat_spec_parse(const char *json, size_t n, eg_feat_spec **out,
		       char *err, size_t errlen);
void eg_feat_spec_free(eg_feat_spec *spec);
/* The features, in output order: their count and names (borrowed). */
size_t eg_feat_spec_count(const eg_feat_spec *spec);
const char *eg_feat_spec_name(const eg_feat_spec *spec, size_t i);
/* The labels' entity and cutoff column names ("labels" in the spec);
 * NULL when the spec has none. */
const char *eg_feat_spec_label_entity(const eg_feat_spec *spec);
const char *eg_feat_spec_label_cutoff(const eg_feat_spec *spec);
/* Feature i's projection file as written in the spec, or NULL when it is
 * not a projection feature. */
const char *eg_feat_spec_projection_file(const eg_feat_spec *spec, size_t i);
/* Give feature i its projection spec's text: EG_OK, EG_EINVAL (err says
 * why: the projection spec is invalid or has no such field), EG_ENOMEM. */
int eg_feat_spec_set_projection(eg_feat_spec *spec, size_t i, const char *json,
				size_t n, char *err, size_t errlen);

/* Bind a spec to a store, reading events up to position bound (0: the
 * head now).  The entity table it reads is derived state (idx/feat/HASH/):
 * built from the log the first time, brought up to date after.  The spec
 * is borrowed until eg_feat_close.  Errors: EG_EINVAL (a projection
 * feature without its text; bound beyond the head), EG_ENOMEM, EG_EIO,
 * EG_ECORRUPT. */
int eg_feat_open(eg_store *st, const eg_feat_spec *spec, uint64_t bound,
		 eg_feat **out);
void eg_feat_close(eg_feat *f);
/* The position reads are bounded by. */
uint64_t eg_feat_bound(const eg_feat *f);

/* The values of one query: JSON text per feature, "null" when there is
 * none (borrowed until the next eg_feat_get).  With EG_FEAT_NAIVE, naive
 * holds what each feature would be if record time were ignored (a join
 * on event time only), and eg_feat_late lists the events that make the
 * difference. */
typedef struct eg_feat_values {
	size_t n;
	const char *const *names;
	const char *const *values;
	const size_t *lens;
	const char *const *naive;     /* NULL without EG_FEAT_NAIVE */
	const size_t *naive_lens;
} eg_feat_values;

#define EG_FEAT_NAIVE 1

/* The features of entity (n bytes) for events with time before cutoff (at
 * or before it when the spec is "inclusive") and recorded at or before
 * known_at.  An entity never seen has features as over no events.
 * EG_OK, or EG_EIO / EG_ECORRUPT / EG_ENOMEM. */
int eg_feat_get(eg_feat *f, const char *entity, size_t n, int64_t cutoff,
		int64_t known_at, int flags, eg_feat_values *out);

/* The features of n rows (row i: entity ents[i] of lens[i] bytes, at
 * cutoffs[i], known at known[i]), handed to fn in row order from the
 * calling thread (values borrowed until it returns; a nonzero return
 * stops and is returned).  The rows are computed by up to threads threads
 * (0: one per core), each with a handle of its own over the same tables,
 * when no query needs the store itself (a projection field that is not
 * answered from the entity table); else by this one.  Errors as
 * eg_feat_get. */
typedef int (*eg_feat_row_fn)(void *ctx, size_t row, const eg_feat_values *v);
int eg_feat_get_rows(eg_feat *f, size_t n, const char *const *ents, const size_t *lens,
		     const int64_t *cutoffs, const int64_t *known, int threads,
		     eg_feat_row_fn fn, void *ctx);

/* After an EG_FEAT_NAIVE get: the positions of the events that feature i
 * (a ratio: either feature it divides) counted only with record time
 * ignored (recorded after known_at): up to max of the first 16 met, in
 * log order, into pos; returns how many there are in all. */
size_t eg_feat_late(const eg_feat *f, size_t i, uint64_t *pos, size_t max);

/* How eg_feat_open brought the entity table to its bound, for --explain. */
typedef struct eg_feat_explain {
	uint64_t bound;
	int kept;                   /* the table kept in idx/feat/ was read */
	uint64_t built;             /* rows (events with an entity) of the tables
	                               built; 0: the kept table was current */
	const char *path;           /* how they were read: "columns" (the column
	                               files, and the log's tail after them), or
	                               "log"; NULL when none were */
	const char *path_why;       /* with "log": why not the columns (static
	                               text) */
	uint64_t from_columns, from_log;   /* with "columns": events read each way */
} eg_feat_explain;
void eg_feat_get_explain(const eg_feat *f, eg_feat_explain *out);

/* ------------------------------------------------------------------ SQL
 * SQL over the store through SQLite virtual tables (docs/SQL.md): the
 * events table, read through engram's indexes, and table-valued functions
 * over the engines.  The connection's own database is in memory; the
 * store's tables cannot be written (TEMP tables and views can). */

struct sqlite3;
struct sqlite3_stmt;

/* Open an in-memory SQLite connection with everything registered on st
 * (borrowed: keep it open until sqlite3_close(*db)).  EG_OK, EG_ENOMEM, or
 * EG_EIO with the message in eg_errmsg(st). */
int eg_sql_open(eg_store *st, struct sqlite3 **db);

/* sqlite3_prepare_v2, after declaring what the statement's spec-shaped
 * functions need: projection('bank.json') has one column per field of that
 * spec, so each spec given as a literal gets its table (in temp) before the
 * statement is prepared.  Returns an SQLite result code. */
int eg_sql_prepare(struct sqlite3 *db, const char *sql, int n, struct sqlite3_stmt **stmt,
		   const char **tail);

/* The tables and functions of such a connection, i = 0, 1, … (NULL past
 * the last): name, arguments ("" for a table), columns, what it holds. */
typedef struct eg_sql_table {
	const char *name, *args, *columns, *what;
} eg_sql_table;
const eg_sql_table *eg_sql_table_at(size_t i);

/* ------------------------------------------------------------- datasets
 * "Filter on the last step" (docs/DATASETS.md): a dataset spec's base
 * query is run once over the store, every row kept with one verdict per
 * filter, under DIR/datasets/NAME/ through the derived-state module; the
 * final rows, the attrition of each filter and why a key was excluded are
 * then read from the kept table without running anything again. */

typedef struct eg_dataset eg_dataset;

typedef struct eg_dset_build_opts {
	int64_t as_of;          /* EG_TIME_NONE: none (events up to any time) */
	int64_t known_at;       /* EG_TIME_NONE: the head */
	int force;              /* build even when the kept dataset is current */
	const char *spec_dir;   /* relative spec paths in the spec are read from
	                         * here (the spec file's directory); NULL: cwd */
	const char *label;      /* the spec's name in messages (its path) */
	const volatile int *cancel;   /* when it becomes nonzero (a signal
	                         * handler sets it), the build stops with
	                         * EG_EINTR, keeping nothing; NULL: never */
} eg_dset_build_opts;

/* Build the dataset of spec (JSON text, n bytes) at the head (bounded by
 * o's as_of and known_at) and keep it, replacing the kept one only once
 * the new one is whole; or, when the kept one was built from the same
 * spec, the same spec files and the same bounds at the same head, reuse
 * it (*reused = 1).  *out: the dataset, open for reading.  EG_OK;
 * EG_EINVAL for a bad spec, a bad name, an SQL error in the base or a
 * filter (naming it) or a missing column; else as eg_store calls.  The
 * message is in eg_errmsg(st). */
int eg_dset_build(eg_store *st, const char *spec, size_t n, const eg_dset_build_opts *o,
		  eg_dataset **out, int *reused);
/* Open the kept dataset name: EG_OK, EG_ENOTFOUND (none kept), EG_EINVAL
 * (a bad name), EG_ECORRUPT (its file is damaged: build it again). */
int eg_dset_open(eg_store *st, const char *name, eg_dataset **out);
void eg_dset_close(eg_dataset *d);
/* Call fn for the name of each kept dataset (directories of
 * DIR/datasets/), in name order. */
int eg_dset_list(eg_store *st, int (*fn)(void *ctx, const char *name), void *ctx);
/* Delete the kept dataset name (its directory).  EG_OK, EG_ENOTFOUND,
 * EG_EINVAL (a bad name), EG_EIO. */
int eg_dset_drop(eg_store *st, const char *name);
/* Is the dataset behind the store: would building it now read more of
 * the log than it did?  0 no, 1 yes, or an error code. */
int eg_dset_stale(eg_store *st, const eg_dataset *d);

const char *eg_dset_name(const eg_dataset *d);
/* Its manifest (JSON: name, spec_hash, head, as_of, known_at, the row and
 * key counts, columns, filters, built), n bytes. */
const char *eg_dset_manifest(const eg_dataset *d, size_t *n);
uint64_t eg_dset_nrows(const eg_dataset *d);
uint64_t eg_dset_nkeys(const eg_dataset *d);
/* The log position it was built at (the head, or the last position
 * recorded by known_at). */
uint64_t eg_dset_head(const eg_dataset *d);
/* The base's columns, in order; the key column's index; the output
 * columns (indexes, *n of them) and whether they are DISTINCT. */
size_t eg_dset_ncols(const eg_dataset *d);
const char *eg_dset_col(const eg_dataset *d, size_t i);
size_t eg_dset_key_col(const eg_dataset *d);
const size_t *eg_dset_output(const eg_dataset *d, size_t *n, int *distinct);
/* The filters, in spec order: name, SQL, why; the base columns its
 * expression reads (indexes, *n of them). */
size_t eg_dset_nfilters(const eg_dataset *d);
const char *eg_dset_filter(const eg_dataset *d, size_t i, const char **sql, const char **why);
const size_t *eg_dset_filter_reads(const eg_dataset *d, size_t i, size_t *n);
/* A filter's filter index by name, or -1. */
long eg_dset_filter_index(const eg_dataset *d, const char *name);

enum { EG_DSET_FAIL = 0, EG_DSET_PASS = 1, EG_DSET_NULL = 2 };
/* Row r's verdict of filter i: PASS, FAIL, or NULL (the expression was
 * NULL: the row fails). */
int eg_dset_verdict(const eg_dataset *d, uint64_t r, size_t i);
/* Does row r pass every filter? */
int eg_dset_kept(const eg_dataset *d, uint64_t r);
/* Row r's key, as a dense id 0 … nkeys-1 in order of first appearance. */
uint64_t eg_dset_key_id(const eg_dataset *d, uint64_t r);

/* A value of the kept table: SQLite's type codes (1 INTEGER, 2 FLOAT,
 * 3 TEXT, 4 BLOB, 5 NULL). */
typedef struct eg_dset_value {
	int type;
	int64_t i;
	double r;
	const char *s;          /* TEXT, BLOB: n bytes, in the mapped file */
	size_t n;
} eg_dset_value;
void eg_dset_value_at(const eg_dataset *d, uint64_t r, size_t col, eg_dset_value *v);
/* The value as the commands print it, into out (the text of TEXT, an
 * integer's digits, a real's shortest form, "null", a BLOB's hex); its
 * length.  At most cap - 1 bytes are written, always NUL-terminated. */
size_t eg_dset_value_text(const eg_dset_value *v, char *out, size_t cap);
/* The rows whose key, as text (eg_dset_value_text), is key: up to max
 * of them into rows, in order; how many there are. */
uint64_t eg_dset_key_rows(const eg_dataset *d, const char *key, size_t n, uint64_t *rows,
			  uint64_t max);

/* One filter's line of the attrition table. */
typedef struct eg_dset_step {
	size_t filter;
	uint64_t rows_failing, keys_failing;   /* keys none of whose rows pass it */
	uint64_t only_rows, only_keys;         /* failing it and no other filter;
	                                        * keys kept were it dropped */
	uint64_t rows_remaining, keys_remaining;   /* passing it and all before */
} eg_dset_step;
/* The attrition table for the filters in order (n of them, each filter
 * at most once; the others are not applied), over the rows whose
 * group[r] is g (group NULL: all rows): steps[0..n).  EG_OK or EG_ENOMEM. */
int eg_dset_explain(const eg_dataset *d, const size_t *order, size_t n, const uint32_t *group,
		    uint32_t g, eg_dset_step *steps);
/* The base rows and keys of group g (group NULL: all). */
void eg_dset_count(const eg_dataset *d, const uint32_t *group, uint32_t g, uint64_t *rows,
		   uint64_t *keys);
/* How many rows fail both filter i and filter j (i == j: fail i). */
uint64_t eg_dset_overlap(const eg_dataset *d, size_t i, size_t j);
/* The rows grouped by the value of column col: *group (malloc'd, a group
 * per row), *ngroups groups numbered in SQLite's order of the values
 * (NULL, numbers, text, blobs), each group's first row in *first
 * (malloc'd).  EG_OK or EG_ENOMEM. */
int eg_dset_group_by(const eg_dataset *d, size_t col, uint32_t **group, uint64_t **first,
		     uint32_t *ngroups);

/* ---------------------------------------------------------- errors */

/*
 * Error groups (docs/ERRORS.md): the events of kind error grouped by
 * fingerprint, kept under idx/errors/vN/ per version N of the grouping
 * algorithm, checkpointed and brought up to the log's head by each open
 * (only the error events appended since are read).
 */
typedef struct eg_errors eg_errors;

/* The newest version of the grouping algorithm. */
#define EG_ERRORS_LATEST 2

/* The store's current grouping version: the one its file errors.grouping
 * names, else EG_ERRORS_LATEST (a new store groups with the newest).
 * EG_OK, or EG_EIO / EG_ECORRUPT (a file that names no version). */
int eg_errors_grouping(eg_store *st, int *version);
/* Make version (1 .. EG_ERRORS_LATEST) current: errors.grouping written
 * atomically.  EG_EINVAL for an unknown version, EG_EIO. */
int eg_errors_set_grouping(eg_store *st, int version);

/* Open the groups of version (0: the current one), folding the error
 * events appended since their checkpoint and saving it (a damaged
 * checkpoint is rebuilt from the log; one that cannot be saved is noted,
 * eg_store_note).  EG_EINVAL for an unknown version, EG_ENOMEM, EG_EIO,
 * EG_ECORRUPT.  Close with eg_errors_close. */
int eg_errors_open(eg_store *st, int version, eg_errors **out);
void eg_errors_close(eg_errors *e);

/* What an open did, for --explain and the tests. */
typedef struct eg_errors_explain {
	int version;
	uint64_t through;        /* the log position the groups cover */
	uint64_t resumed_from;   /* the checkpoint's position (0: built from the log) */
	uint64_t events_read;    /* error events folded by this open */
	uint64_t groups, occurrences;
	int rebuilt;             /* the checkpoint was damaged or of another log */
} eg_errors_explain;
void eg_errors_get_explain(const eg_errors *e, eg_errors_explain *x);

/* Which occurrences a query takes; zero-initialise. */
typedef struct eg_errors_query {
	int has_since, has_until;
	int64_t since, until;    /* event time, inclusive */
	const char *service, *release;   /* data.service, data.release (NULL: any) */
	int64_t quiet_us;        /* the quiet period of regressed (0: 7 days) */
	int64_t every_us;        /* eg_errors_series' interval (0: 1 hour) */
	uint64_t at;             /* only events at positions <= at (0: all) */
} eg_errors_query;

#define EG_ERRORS_TREND 24
/* One group's row.  Strings are borrowed until the callback returns. */
typedef struct eg_error_group {
	const char *fingerprint, *title, *type;
	uint64_t count, users, sessions;   /* occurrences, distinct actors, sessions */
	int64_t first_seen, last_seen;
	const char *first_release;         /* data.release of the first occurrence ("" none) */
	int regressed;           /* some gap between consecutive occurrences >= quiet */
	int64_t trend_start;     /* trend[i]: occurrences in the hour trend_start + i h */
	uint32_t trend[EG_ERRORS_TREND];
} eg_error_group;

/* The groups with an occurrence the query takes, by count descending,
 * then last_seen descending, then fingerprint.  trend covers the 24
 * hours that end with the hour of the answer's end (q->until, else the
 * newest occurrence taken).  fn's nonzero return stops and is returned. */
int eg_errors_groups(eg_errors *e, const eg_errors_query *q,
		     int (*fn)(void *ctx, const eg_error_group *g), void *ctx);

/* Counts per interval of q->every_us (from the epoch) and group, by time,
 * then fingerprint. */
int eg_errors_series(eg_errors *e, const eg_errors_query *q,
		     int (*fn)(void *ctx, int64_t start, const char *fingerprint, uint64_t count),
		     void *ctx);

/* The fingerprint that starts with prefix (6 to 32 hex digits) in *fp
 * (borrowed until close): EG_OK, EG_ENOTFOUND, or EG_ECONFLICT when
 * several do (the message names two), EG_EINVAL for a bad prefix. */
int eg_errors_find(eg_errors *e, const char *prefix, const char **fp);

/* One occurrence of a group: its event (borrowed until fn returns). */
typedef struct eg_error_occurrence {
	const eg_event *ev;
	const char *service, *release;
} eg_error_occurrence;
/* The occurrences of group fp, newest first (event time, then position),
 * at most limit (0: all).  fn's nonzero return stops and is returned. */
int eg_errors_occurrences(eg_errors *e, const char *fp, uint64_t limit,
			  int (*fn)(void *ctx, const eg_error_occurrence *o), void *ctx);

/* How the groups of a became those of b (both open over the same log):
 * for each pair of an old and a new group sharing occurrences, a row;
 * *merged old groups now share a new one, *split old groups spread over
 * several new ones.  EG_ECONFLICT when the two cover different logs. */
typedef struct eg_regroup_row {
	const char *from, *to, *title;   /* fingerprints; the new group's title */
	uint64_t events;
} eg_regroup_row;
int eg_errors_compare(eg_errors *a, eg_errors *b,
		      int (*fn)(void *ctx, const eg_regroup_row *r), void *ctx,
		      uint64_t *merged, uint64_t *split);

/* ---------------------------------------------------------- generators */

/* Deterministic generators of realistic events, as NDJSON lines on out
 * (engram gen, the demo, the tests and the benchmarks): the same options
 * always give the same bytes.  Each returns 0, or -1 with errno set when
 * out cannot be written. */
/* How gen clickstream writes each event. */
enum eg_gen_format {
	EG_GEN_ENGRAM = 0,   /* engram's input envelope, appended as is */
	EG_GEN_SEGMENT,      /* Segment spec messages: page, screen, track, identify */
	EG_GEN_SNOWPLOW,     /* Snowplow enriched events as JSON */
};

typedef struct eg_gen_opts {
	uint64_t events;     /* how many lines (clickstream: distinct events) to write */
	uint64_t accounts;   /* bank: how many accounts (0 = default 1000) */
	double late;         /* orders, clickstream: fraction of events written late, 0..1 */
	uint64_t seed;       /* PRNG seed (0 is a valid seed) */
	int64_t start_us;    /* start of the clock; 0 = 2025-01-01T00:00:00Z */
	uint64_t users;      /* clickstream: visitors (0 = default 10000) */
	double dup;          /* clickstream: fraction of events sent twice, 0..1 */
	uint32_t days;       /* clickstream: days the events spread over (0 = default 7) */
	int format;          /* clickstream: enum eg_gen_format */
	int64_t loads_us;    /* orders: 0, or each line ends with "recorded", the end
	                        of the load that delivered it: the first multiple
	                        of loads_us (from the epoch) at or after its
	                        arrival (its time, or a late line's later one) */
	uint64_t customers;  /* orders: how many customers (0 = default 50000,
	                        at most EG_GEN_MAX_CUSTOMERS) */
} eg_gen_opts;

#define EG_GEN_MAX_CUSTOMERS 100000000
/* Longest period and horizon of eg_gen_labels: 1000 years (so that a
 * cutoff plus either never overflows). */
#define EG_GEN_MAX_SPAN_US (365250LL * 86400 * 1000000)

/* Write o->events bank events to out.  Returns 0, or -1 on a write error
 * (errno set). */
int eg_gen_bank(FILE *out, const eg_gen_opts *o);

/* Write o->events order events to out: orders placed, paid, shipped,
 * delivered, cancelled and refunded, many in flight at once, by
 * o->customers customers.  Lines come in event-time order, except that a
 * fraction o->late of them is held back and written 1 to 12 hours (of
 * event time) later than its own time; changing o->late only reorders the
 * same lines.  With o->loads_us each line ends with "recorded" (see
 * eg_gen_opts), never decreasing along the output; without it the output
 * is what it always was.  Returns 0, or -1 on a write error or out of
 * memory (errno set; EINVAL if o->late is not in [0, 1], o->loads_us is
 * negative or o->customers too large). */
int eg_gen_orders(FILE *out, const eg_gen_opts *o);

/* Options of eg_gen_labels; zero-initialise and set what you need. */
typedef struct eg_gen_labels_opts {
	int64_t every_us;       /* a cutoff every this long (> 0) ... */
	int64_t horizon_us;     /* ... labelled by an order within this long
	                           after it (0 = 30 days); both at most
	                           EG_GEN_MAX_SPAN_US */
	double sample;          /* the fraction of rows kept, 0..1 (0 = all) */
	const char *column;     /* the label's column (NULL: reordered_30d) */
} eg_gen_labels_opts;

/*
 * Write the labels of the orders that eg_gen_orders writes with the same
 * o (o->late and o->loads_us change no event), as CSV with the header
 * customer,label_time,<column>: for each customer that placed an order,
 * cutoffs every l->every_us from one period after its first order_placed,
 * while cutoff + horizon is at most the time of the last event; the label
 * is 1 if the customer placed an order in [cutoff, cutoff + horizon), else
 * 0.  l->sample keeps that fraction of rows, picked by a hash of the seed,
 * the customer and the cutoff.  Rows by label_time, then customer.
 * Returns 0, or -1 on a write error or out of memory (errno set; EINVAL
 * for a bad option).
 */
int eg_gen_labels(FILE *out, const eg_gen_opts *o, const eg_gen_labels_opts *l);

/* Largest o->users and o->days that eg_gen_clickstream accepts. */
#define EG_GEN_MAX_USERS 100000000
#define EG_GEN_MAX_DAYS 36500

/* Write the clickstream of an online shop: o->events distinct events of
 * o->users visitors (user-000001 ...) in sessions spread over o->days days
 * from o->start_us, with a daily rhythm: page_view (screen_view in the
 * mobile apps), search, product_click, add_to_cart, checkout, purchase and
 * login.  Lines come in event-time order, except that a fraction o->late
 * of the events (of mobile users only, who queue them while offline) is
 * written minutes to hours late, and a fraction o->dup is written a second
 * time, byte for byte, seconds after the first.  Changing o->late or o->dup
 * changes neither the events nor, in EG_GEN_ENGRAM format, their lines;
 * o->format changes how each line is written, not which events there are or
 * in which order.  Returns 0, or -1 on a write error or out of memory
 * (errno set; EINVAL if o->late or o->dup is not in [0, 1], o->format is
 * unknown, or o->users or o->days is too large). */
int eg_gen_clickstream(FILE *out, const eg_gen_opts *o);

/* Write o->events error events (kind error) of four services of a shop
 * (checkout in Python, payments in Java, gateway in Go, web in Node) over
 * o->days days (0 = default 30) from o->start_us: exceptions from a
 * catalogue of bugs whose messages carry ids, numbers, UUIDs, quoted
 * values, paths, addresses and times; stacks as frames, as the text each
 * language prints, or none; a few explicit fingerprints; a few bugs that
 * go quiet from a quarter of the span to three quarters and come back
 * with a new release; actors and sessions (docs/ERRORS.md).  In time
 * order.  Returns 0, or -1 on a write error or out of memory (errno set;
 * EINVAL if o->days is too large). */
int eg_gen_errors(FILE *out, const eg_gen_opts *o);

/* Options of eg_gen_metrics; zero-initialise and set what you need. */
typedef struct eg_gen_metrics_opts {
	uint64_t series;     /* how many series (0 = 100, at most EG_GEN_MAX_SERIES) */
	uint32_t days;       /* over how many days (0 = 1, at most EG_GEN_MAX_DAYS) */
	int64_t step_us;     /* a sample per series every step (0 = 1 minute) */
	double late;         /* percent of samples written late, 0..100 */
	uint64_t seed;       /* PRNG seed (0 is a valid seed) */
	int64_t start_us;    /* the first step (0 = 2026-01-05T00:00:00Z) */
} eg_gen_metrics_opts;

#define EG_GEN_MAX_SERIES 10000000

/* Write the metric samples of a web service (docs/METRICS.md): one per
 * series per step over o->days from o->start_us, as metric envelopes.  The
 * series: http_request_duration_ms per endpoint, method and region
 * (log-normal, slower in the busy hours of the day), http_requests_total
 * per endpoint, method and status (the requests of each step, a StatsD
 * style increment; busier in the day), and queue_depth per region (a
 * gauge), o->series of them in all (up to three gauges, the rest half
 * latency, half counters).  Lines come in time order, except that
 * o->late percent of the samples are written 1 to 120 minutes of event
 * time later (at least a step: after a later sample of their series).
 * Changing o->late only reorders the same lines.  Returns 0, or -1 on a
 * write error or out of memory (errno set; EINVAL for a bad option). */
int eg_gen_metrics(FILE *out, const eg_gen_metrics_opts *o);

/* ------------------------------------------------------------- metrics
 *
 * Rollups of the metric samples of the log (kind "metric", docs/METRICS.md):
 * per series (a name and its tag set) and per name, at 1 minute, 1 hour and
 * 1 day, UTC-aligned: count, sum, min, max, last and a quantile sketch.
 * Derived state under idx/metrics/, brought up to the log by every query
 * (late samples fold into the cells of their own time) and rebuilt from the
 * log when missing or damaged. */

typedef struct eg_metrics eg_metrics;

/* Open the rollups of st (nothing is read from the log yet).  Errors:
 * EG_ENOMEM.  Free *out with eg_metrics_close. */
int eg_metrics_open(eg_store *st, eg_metrics **out);
void eg_metrics_close(eg_metrics *m);

/* A query: one row per interval of `every` (aligned on multiples of it
 * since the epoch) and group.  Zero-initialise, then set fields. */
typedef struct eg_metrics_query {
	const char *const *names;     /* nnames metric names; 0: every name */
	size_t nnames;
	const char *const *where_key; /* nwhere tag = value conditions, all must hold */
	const char *const *where_val;
	size_t nwhere;
	const char *const *by;        /* nby tags to group by (beside the name) */
	size_t nby;
	int64_t every;                /* interval, microseconds, > 0 */
	int has_since, has_until;
	int64_t since, until;         /* event time, since inclusive, until exclusive */
	const double *quantiles;      /* nq quantiles in [0, 1] to estimate */
	size_t nq;
	int by_series;                /* one group per series (its tags in the row) */
} eg_metrics_query;

/* One row; borrowed for the callback. */
typedef struct eg_metrics_row {
	int64_t time;                 /* interval start */
	int64_t span;                 /* microseconds of it inside [since, until) */
	const char *name;
	const char *const *by;        /* nby values; NULL: the series lacks the tag */
	const char *tags;             /* by_series: the series' canonical tags, else NULL */
	uint64_t count;
	double sum, min, max, last;
	const double *q;              /* the nq quantile estimates */
} eg_metrics_row;
/* Return 0 to go on; nonzero stops the run and is returned. */
typedef int (*eg_metrics_row_fn)(void *ctx, const eg_metrics_row *r);

/* What served a query (engram metrics --explain). */
typedef struct eg_metrics_explain {
	int per_name;                 /* the per-name rollups answered (no --by, --where) */
	uint64_t cells[3];            /* cells read at 1m, 1h, 1d */
	uint64_t raw;                 /* samples read from the log */
	int64_t level_us[3];          /* microseconds of each level */
	uint64_t folded;              /* samples folded into the rollups first */
	uint64_t skipped;             /* metric events that are not samples */
} eg_metrics_explain;

/* Bring the rollups the query needs up to the log, then call fn for each
 * row, by time, name and group values.  ex may be NULL.  Errors: EG_EINVAL
 * (every <= 0, a quantile outside [0, 1]), EG_ENOMEM, EG_EIO, EG_ECORRUPT
 * (reading the log), or fn's value. */
int eg_metrics_run(eg_metrics *m, const eg_metrics_query *q, eg_metrics_row_fn fn,
		   void *ctx, eg_metrics_explain *ex);

/* A series, for engram metrics --list and --format prometheus; borrowed. */
typedef struct eg_metrics_series {
	const char *name;
	const char *tags;             /* canonical: keys sorted, compact JSON */
	const char *metric_type;      /* data.metric_type of its last sample, or NULL */
	size_t ntags;
	const char *const *tag_keys, *const *tag_vals;
	uint64_t samples;
	int64_t first, last_time;     /* event times of its first and last samples */
	double last;                  /* the value at last_time (ties: greater pos) */
} eg_metrics_series;
typedef int (*eg_metrics_series_fn)(void *ctx, const eg_metrics_series *s);

/* Bring the series table up to the log and call fn for each series of the
 * names given (nnames 0: all), by name then tags.  Errors as
 * eg_metrics_run. */
int eg_metrics_series_each(eg_metrics *m, const char *const *names, size_t nnames,
			   eg_metrics_series_fn fn, void *ctx);

/* ------------------------------------------------------- Merkle proofs
 *
 * The RFC 9162 (section 2.1) Merkle tree over every event of the log in
 * order, leaf i being event position i + 1 and its leaf data the event
 * record's bytes (docs/PROOFS.md).  Hashes are 32-byte SHA-256 values;
 * paths hold at most 64 of them. */
typedef struct eg_tree eg_tree;

/* The tree as of the current head, its file (idx/tree/) brought up to it
 * first, or built anew from the log when it does not check.  Errors:
 * EG_ENOMEM, EG_EIO, EG_ECORRUPT (reading the log). */
int eg_tree_open(eg_store *st, eg_tree **out);
void eg_tree_close(eg_tree *t);
/* The head it covers, and its size (= that head's position). */
void eg_tree_head(const eg_tree *t, eg_head *out);
uint64_t eg_tree_size(const eg_tree *t);
/* The root of the tree of the first size events (size <= eg_tree_size;
 * 0: SHA-256 of nothing).  EG_EINVAL beyond. */
int eg_tree_root(eg_tree *t, uint64_t size, unsigned char out[32]);
/* The leaf hash and audit path (RFC 9162 2.1.3.1, leaf upward) of leaf
 * index (0-based: position index + 1) in the tree of size events.
 * Every proof is checked against the root before it is returned (a tree
 * file that fails is rebuilt from the log).  EG_EINVAL unless
 * index < size <= eg_tree_size. */
int eg_proof_inclusion(eg_tree *t, uint64_t index, uint64_t size, unsigned char leaf[32],
		       unsigned char path[][32], size_t *n);
/* The consistency path (RFC 9162 2.1.4.1) from the tree of m events to
 * that of n, with both roots.  EG_EINVAL unless m <= n <= eg_tree_size. */
int eg_proof_consistency(eg_tree *t, uint64_t m, uint64_t n, unsigned char old_root[32],
			 unsigned char new_root[32], unsigned char path[][32], size_t *np);
/* The leaf of the event at pos: its leaf data (the record's bytes, as the
 * log holds them) and the event decoded from them, as stored (no upcast),
 * its pointers into data.  The record is checked (EG_ECORRUPT if it fails);
 * EG_ENOTFOUND when there is no such event.  Free with eg_leaf_free. */
typedef struct eg_leaf {
	unsigned char *data;
	size_t len;
	eg_event ev;
	char idbuf[40];
} eg_leaf;
int eg_tree_leaf(eg_store *st, uint64_t pos, eg_leaf *out);
void eg_leaf_free(eg_leaf *l);
/* ------------------------------------------------------------ forgetting */

/* Result of eg_store_forget (docs/FORGETTING.md). */
typedef struct eg_forget_result {
	char subject[72];
	uint32_t key_id;              /* the (last) key destroyed */
	unsigned keys;                /* keys destroyed now (0: forgotten before) */
	int already;                  /* the subject was forgotten before */
	int64_t forgotten_at;         /* µs since the epoch */
	char dropped[256];            /* derived kinds dropped, comma-separated */
} eg_forget_result;

/*
 * Forget a subject (the value of its types' x-subject): its keys are
 * overwritten with zeros in DIR/keys and marked forgotten, durably; then
 * every derived state that may hold decrypted values is dropped (rebuilt
 * from the log on next use, the personal values then null).  Needs the
 * write lock.  EG_OK (res->already when it was forgotten before),
 * EG_ENOTFOUND (no key of that subject ever), EG_EINVAL, EG_EREADONLY,
 * EG_EIO, EG_ECORRUPT (the key file's header is damaged).
 */
int eg_store_forget(eg_store *st, const char *subject, eg_forget_result *res);

/* Call fn for each forgotten key in key id order: the subject (not
 * NUL-terminated), the key id and when it was forgotten.  fn's nonzero
 * return stops the walk and is returned. */
typedef int (*eg_forgotten_fn)(void *ctx, const char *subject, size_t n, uint32_t key_id,
			       int64_t forgotten_at);
int eg_store_forgotten(eg_store *st, eg_forgotten_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
