/* core/params.h - a listener's parameters (name, value, source line) and
 * the first error recorded against them. */
#ifndef EDDY_CORE_PARAMS_H
#define EDDY_CORE_PARAMS_H

#include <stddef.h>

#include "eddy/handler.h"

typedef struct eddy__param {
    char *name;
    char *value;
    int line;
} eddy__param;

struct eddy_params {
    eddy__param *items;
    size_t n, cap;
    char error[256]; /* first error recorded, "" when none */
    int error_line;  /* line of the parameter it concerns, 0 when none */
};

/* Check every parameter name against the handler's list; records an error
 * naming the first unknown one, with the closest name among the handler's
 * and `also` (NULL-ended, may be NULL), and returns -EINVAL. */
int eddy__params_check(eddy_params *p, const eddy_handler *h, const char *const *also);

/* Replace the value of NAME, or add it. */
int eddy__params_set(eddy_params *p, const char *name, const char *value, int line);

/* Parsers shared with the config file: 0 or -EINVAL. */
int eddy__parse_size(const char *s, size_t *out);
int eddy__parse_bool(const char *s, int *out);

/* A duration with its unit: ms, s, m or h (case-insensitive), or a bare 0.
 * 0, -EINVAL, or -EDOM for a number without its unit: `30` is refused, not
 * read as 30 ms (nginx would read seconds), so that no one guesses. */
int eddy__parse_msec(const char *s, long *out);

/* The candidate closest to word by edit distance, if it is close enough to
 * be a likely typo (at most 2 edits, less than half the word), else NULL. */
const char *eddy__closest(const char *word, const char *const *candidates);

#endif
