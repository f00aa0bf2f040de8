/*
 * reindex.c — bringing the derived files up to the log: after a crash (from
 * the last checkpoint), after `engram reindex` (from nothing), or when the
 * index state does not match the log.  It replays committed batches through
 * the same index calls that an append makes, so both paths give the same
 * files.  eg_store_reindex rebuilds the indexes, then runs every derived
 * kind's hooks from the registry of derived.c.
 */
#include "colint.h"
#include "derived.h"
#include "internal.h"
#include "os.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>

int eg_index_state_matches_log(eg_store *st)
{
	const ixstate *s = &st->ix.st;
	eg_log *lg = &st->log;
	if (s->through_pos == 0)
		return 1;
	uint32_t i = eg_log_seg_index(lg, s->head_seg_first);
	if (i == UINT32_MAX || s->head_off < SEG_HDR_LEN + COMMIT_LEN)
		return 0;
	logpos at = { i, s->head_off - COMMIT_LEN };
	const unsigned char *p = eg_log_ptr(st, lg, at, COMMIT_LEN);
	rec_commit c;
	if (!p || !eg_rec_commit_decode(p, COMMIT_LEN, &c) ||
	    c.first_pos + c.count - 1 != s->through_pos ||
	    memcmp(c.chain, s->chain, 32) || c.recorded != s->recorded)
		return 0;
	at.off = s->head_off;
	eg_log_set_head(lg, s->through_pos, at, s->chain, s->recorded);
	return 1;
}

/* Index one decoded event of the batch being replayed. */
static int replay_event(eg_store *st, const eg_event *ev, logpos at,
			const unsigned char *rec, size_t len)
{
	uint64_t sid = UINT64_MAX, tid, old;
	int rc;
	if (ev->stream_len &&
	    (rc = eg_index_key_get(st, 0, ev->stream, ev->stream_len, &sid)))
		return rc;
	if ((rc = eg_index_key_get(st, 1, ev->type, ev->type_len, &tid)))
		return rc;
	if ((rc = eg_index_id_find(st, ev->id, ev->id_len, &old)) ||
	    (!old && (rc = eg_index_id_add(st, ev->id, ev->id_len, ev->pos))))
		return rc;
	if ((rc = eg_index_note_event(st, ev, at, rec, len, sid, tid)))
		return rc;
	return ev->tags_len ? eg_index_note_tags(st, ev->pos, ev->tags, ev->tags_len) : EG_OK;
}

int eg_index_catch_up(eg_store *st)
{
	eg_index *ix = &st->ix;
	eg_log *lg = &st->log;
	if (ix->st.through_pos >= lg->head_pos)
		return EG_OK;
	logpos at = { 0, SEG_HDR_LEN };
	if (ix->st.through_pos) {
		at.seg = eg_log_seg_index(lg, ix->st.head_seg_first);
		at.off = ix->st.head_off;
	}
	int rc = EG_OK, open = 0;
	uint64_t next = ix->st.through_pos + 1;
	while (next <= lg->head_pos || open) {
		int mr = eg_log_map_seg(st, lg, at.seg, at.off + 1);
		if (mr < 0)
			return mr == EG_ECORRUPT || mr == EG_ENOMEM ? mr : EG_EIO;  /* a sealed block */
		size_t avail = eg_log_avail(lg, at.seg, at.off);
		if (avail == 0) {
			if (at.seg + 1 >= lg->nseg)
				break;
			at.seg++;
			at.off = SEG_HDR_LEN;
			continue;
		}
		const unsigned char *p = lg->segs[at.seg].map + at.off;
		int type = 0;
		size_t len = rec_peek(p, avail, &type);
		if (!open) {
			eg_index_batch_begin(st);
			open = 1;
		}
		if (type == REC_EVENT && len) {
			rec_event ev;
			if (!eg_rec_event_decode(p, len, &ev) || ev.ev.pos != next)
				return eg_st_err(st, EG_ECORRUPT, "record at segment %020llu.seg offset %llu "
					      "is damaged; run engram verify",
					      (unsigned long long)lg->segs[at.seg].first_pos,
					      (unsigned long long)at.off);
			if ((rc = replay_event(st, &ev.ev, at, p, len)))
				return rc;
			next++;
		} else if (type == REC_COMMIT && len) {
			rec_commit c;
			if (!eg_rec_commit_decode(p, len, &c))
				return eg_st_err(st, EG_ECORRUPT, "commit record at segment %020llu.seg "
					      "offset %llu is damaged",
					      (unsigned long long)lg->segs[at.seg].first_pos,
					      (unsigned long long)at.off);
			logpos end = { at.seg, at.off + len };
			if ((rc = eg_index_batch_commit(st, &c, end)))
				return rc;
			open = 0;
		} else {
			return eg_st_err(st, EG_ECORRUPT, "unexpected bytes at segment %020llu.seg offset %llu",
				      (unsigned long long)lg->segs[at.seg].first_pos,
				      (unsigned long long)at.off);
		}
		at.off += len;
	}
	return eg_index_checkpoint(st);
}

int eg_index_rebuild(eg_store *st)
{
	eg_col_writer_close(st);     /* the column files name keys by id */
	eg_col_drop(st);
	eg_index_close(st);
	eg_index_unlink(st);
	int rc = eg_index_open(st, 1);
	if (rc)
		return rc;
	return eg_index_catch_up(st);
}

int eg_store_reindex(eg_store *st)
{
	if (!st->writable)
		return eg_st_err(st, EG_EREADONLY, "reindex needs the write lock");
	int rc = eg_index_rebuild(st);
	if (!rc)
		rc = eg_ds_reindex(st);
	eg_col_writer_open(st);
	return rc;
}
