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
 * naming the first unknown one and returns -EINVAL. */
int eddy__params_check(eddy_params *p, const eddy_handler *h);

/* Parsers shared with the config file: 0 or -EINVAL. */
int eddy__parse_size(const char *s, size_t *out);
int eddy__parse_msec(const char *s, long *out);
int eddy__parse_bool(const char *s, int *out);

#endif
