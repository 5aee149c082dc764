/* core/params.h - a listener's parameters, as given (each statement: a
 * name, its values, its source line), and the first error recorded
 * against them. */
#ifndef EDDY_CORE_PARAMS_H
#define EDDY_CORE_PARAMS_H

#include <stddef.h>

#include "eddy/handler.h"

/* One statement: `upstream a b` on line 5 is {"upstream", {"a", "b"}, 2,
 * 5}.  A name may come in several statements and a statement may hold any
 * number of values (none too: `upstream` alone); whether that is right
 * depends on the handler's table, so eddy__params_check judges it. */
typedef struct eddy__param {
    char *name;
    char **values;
    size_t nvalues;
    int line;
} eddy__param;

struct eddy_params {
    eddy__param *items;
    size_t n, cap;
    char error[256]; /* first error recorded, "" when none */
    int error_line;  /* line of the parameter it concerns, 0 when none */
};

/* Check every statement, in order, against the handler's table: its name
 * is known (else an error naming it, with the closest name among the
 * handler's and `also`, NULL-ended, may be NULL); a parameter without
 * EDDY_PARAM_LIST has exactly one value and comes once; one with it has
 * at least one value in each statement.  The first statement that breaks
 * a rule gets the error, at its line; returns 0 or -EINVAL. */
int eddy__params_check(eddy_params *p, const eddy_handler *h, const char *const *also);

/* Add a statement of n values (n may be 0), as the config file gives it:
 * 0, -EINVAL (a NULL p, name or value), -ENOMEM. */
int eddy__params_add_line(eddy_params *p, const char *name, const char *const *values, size_t n,
                          int line);

/* NAME has the one value `value` from now on (the command line's -p over
 * the file): its first statement holds only it, the others go; or it is
 * added.  0, -ENOMEM. */
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
