/*
 * stack.h — stack traces given as text (Python tracebacks, Java, Go
 * panics, Node) turned into frames {function, file, line, in_app}, and
 * an error envelope whose data.stack is such text turned into one with
 * frames (engram append --map stacks).  Pure: no store, no allocation
 * but the caller's buffers.  docs/ERRORS.md has the formats and the
 * in_app rule of each language.
 *
 * Frames are kept outermost first (the caller first, the frame that
 * raised last), as Sentry keeps them and as Python prints them; Java, Go
 * and Node print innermost first, so their frames are reversed.
 */
#ifndef EG_STACK_H
#define EG_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum eg_stack_lang {
	EG_STACK_NONE = 0, EG_STACK_PYTHON, EG_STACK_JAVA, EG_STACK_GO, EG_STACK_NODE,
};

/* One frame; its texts point into the parsed text (borrowed). */
typedef struct eg_frame {
	const char *func, *file;
	size_t func_len, file_len;
	uint32_t line;                /* 0: none given */
	int in_app;
} eg_frame;

typedef struct eg_stack {
	int lang;                     /* enum eg_stack_lang */
	eg_frame *f;                  /* malloc'd; free with eg_stack_free */
	size_t n, cap;
	/* The exception's type and message when the text names them
	 * (borrowed; length 0 when not). */
	const char *type, *msg;
	size_t type_len, msg_len;
} eg_stack;

/* Parse text [s, s + n): 0 with st holding the frames (none when no
 * format is recognised: st->lang EG_STACK_NONE), or -1 when out of
 * memory.  Chained exceptions: the one that reached the top — Python's
 * last traceback, Java's first block (its "Caused by:" causes are left
 * out), Go's first goroutine (the one that panicked). */
int eg_stack_parse(const char *s, size_t n, eg_stack *st);
void eg_stack_free(eg_stack *st);

/* The in_app rule of lang for a frame's function and file. */
int eg_stack_in_app(int lang, const char *func, size_t fn, const char *file, size_t filen);

/* The name of a language ("python", "java", "go", "node"), "" for none. */
const char *eg_stack_lang_name(int lang);

/* Append the frames as a JSON array [{"function","file","line","in_app"}...]
 * (a missing function or file is "", a missing line null).  -1 when out
 * of memory. */
int eg_stack_json(const eg_stack *st, buf *out);

/* --map stacks: the error envelope line [s, s + n) (one JSON object) with
 * a text data.stack rewritten: data.stack becomes the frames, the text
 * moves to data.stack_text, and a data.message that is missing is taken
 * from the text (as type when type is missing).  A line without a text
 * stack, or whose text has no frames engram knows, is copied as it is.
 * Appends to out; 0, -1 when out of memory, or 1 when the line is not a
 * JSON object (err names what was wrong, errlen bytes). */
int eg_stack_map_line(const char *s, size_t n, buf *out, char *err, size_t errlen);

/* engram append --map stacks: eg_stack_map_line over every non-blank line
 * of [in, in + n), as a text converter of cli/append.c's table (the
 * signature of metrictext.h's eg_textconv_fn): *lines gets each output
 * line's 1-based input line.  0, or -1 with err holding "line N: ..." or
 * "out of memory" (*lines freed and NULL). */
int eg_stack_conv(const char *in, size_t n, buf *out, uint32_t **lines, char *err,
		  size_t errcap);

#endif
