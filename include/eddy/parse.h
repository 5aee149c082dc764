/* eddy/parse.h - the return convention of eddy's protocol parsers.
 *
 * A parser reads one unit (an HTTP request head, a RESP command, a PROXY
 * protocol header) from the start of a buffer, as picohttpparser does:
 * pure, no allocation, no state kept between calls.  It returns
 *
 *   > 0                    the bytes of that unit, to consume; what follows
 *                          is not looked at.  Never 0: every unit has at
 *                          least one byte, so a caller's loop always moves.
 *   EDDY_PARSE_NEED_MORE   every byte so far may still begin a valid unit:
 *                          call again from the same start with more bytes.
 *   EDDY_PARSE_ERROR       no bytes that follow can make it valid: answer
 *                          and close.  The reason (an HTTP status, a RESP
 *                          error text) is in the parser's output struct,
 *                          never in the return value.
 *
 * The values are picohttpparser's.  A parser may add answers of its own,
 * below -2 (resp's RESP_NEED_SPACE).  The return type is int, or ptrdiff_t
 * for a parser whose unit may pass INT_MAX bytes.
 */
#ifndef EDDY_PARSE_H
#define EDDY_PARSE_H

#define EDDY_PARSE_ERROR (-1)
#define EDDY_PARSE_NEED_MORE (-2)

#endif
