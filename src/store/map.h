/*
 * map.h — what append.c needs of a compiled mapping (map.c): turn one
 * producer's JSON line into the values of the envelope fields, which
 * append.c then checks exactly as it checks a line in the envelope.
 */
#ifndef EG_MAP_H
#define EG_MAP_H

#include "engram.h"
#include "json.h"

/* The envelope fields a mapping can fill, in the order they are checked. */
enum { MF_ID, MF_STREAM, MF_TYPE, MF_KIND, MF_TIME, MF_ACTOR, MF_SESSION,
       MF_DATA, MF_META, MF_N };
extern const char *const eg_map_field_names[MF_N];

/* One line mapped: v[f].type is 0 when nothing gave field f.  Scalar fields
 * are spans of the line (or of the mapping's constants); data and meta are
 * objects built, minified, in the caller's space.  from[f] names what gave
 * v[f] (the source path, or "value" for a constant), for messages. */
typedef struct map_out {
	json_span v[MF_N];
	const char *from[MF_N];
} map_out;

/* Bytes of space that eg_map_apply may use for a line of len bytes, plus what
 * the caller needs to decode the scalar fields. */
size_t eg_map_space(const eg_map *m, size_t len);

/* Map the line json[0, len), which must be a valid JSON object: its members
 * are all validated on the way.  data and meta are written at *space,
 * which is moved past them.  Returns 0, or -1 with a message in err
 * (errlen bytes) such as `expected a JSON object: ...` or
 * `field "data": expected properties to be a JSON object`. */
int eg_map_apply(const eg_map *m, const char *json, size_t len, char **space,
	      map_out *out, char *err, size_t errlen);

/* The sources of field f as a list for messages ("event, name, type"), or
 * NULL when the mapping does not fill f. */
const char *eg_map_tried(const eg_map *m, int f);

#endif
