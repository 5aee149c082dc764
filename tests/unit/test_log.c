/* tests/unit/test_log.c - the logger (core/log.c): the line's form in a
 * file and under journald, the thread's name, a line held back by the
 * level evaluating none of its arguments (the hot path's promise), and the
 * rate limiter's count of suppressed lines. */
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "suites.h"

static char path[64];

/* Send the log to a fresh temporary file. */
static void log_to_temp(void)
{
    snprintf(path, sizeof(path), "/tmp/eddy-test-log-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(eddy_set_log_file(path), 0);
}

/* What the log file holds, and the file removed. */
static char *log_text(void)
{
    static char text[4096];
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    return text;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    ck_assert_msg(rc == 0, "'%s' does not match %s", text, pattern);
}

static int evaluated;
static int count(void)
{
    return ++evaluated;
}

START_TEST(file_line_form)
{
    log_to_temp();
    eddy__log(EDDY__LOG_INFO, "hello %d", 5);
    eddy__log_thread("w", 3);
    eddy__log(EDDY__LOG_ERROR, "boom");
    eddy__log_line(NULL, EDDY__LOG_WARN, "#7 127.0.0.1:5555", "closing: %s", "why");
    eddy__log_thread("pool", -1);
    eddy_log(EDDY_LOG_INFO, "from %s", "an embedder");
    ck_assert_int_eq(eddy_log_to_file(), 1);
    const char *t = log_text();
    assert_matches(t, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                      "info \\[main\\] hello 5\n"
                      "[0-9-]{10}T[0-9:.]{12}Z error \\[w3\\] boom\n"
                      "[0-9-]{10}T[0-9:.]{12}Z warn \\[w3\\] #7 127\\.0\\.0\\.1:5555: closing: why\n"
                      "[0-9-]{10}T[0-9:.]{12}Z info \\[pool\\] from an embedder\n$");
}
END_TEST

/* Under journald, stderr lines carry the priority, not a timestamp; a
 * log file keeps its timestamps. */
START_TEST(journald_priority_on_stderr_only)
{
    setenv("JOURNAL_STREAM", "8:12345", 1);
    log_to_temp();
    int saved = dup(STDERR_FILENO), fd = open(path, O_WRONLY | O_APPEND);
    ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    ck_assert_int_eq(eddy_set_log_file(NULL), 0); /* stderr: the same file */
    ck_assert_int_eq(eddy_log_to_file(), 0);
    eddy_set_log_level(EDDY_LOG_DEBUG);
    eddy__log(EDDY__LOG_ERROR, "e");
    eddy__log(EDDY__LOG_WARN, "w");
    eddy__log(EDDY__LOG_INFO, "i");
    eddy__log(EDDY__LOG_DEBUG, "d");
    ck_assert_int_eq(eddy_set_log_file(path), 0);
    eddy__log(EDDY__LOG_INFO, "to the file");
    dup2(saved, STDERR_FILENO);
    const char *t = log_text();
    assert_matches(t, "^<3>error \\[main\\] e\n<4>warn \\[main\\] w\n<6>info \\[main\\] i\n"
                      "<7>debug \\[main\\] d\n[0-9-]{10}T[0-9:.]{12}Z info \\[main\\] to the file\n$");
}
END_TEST

/* Below the level a line is not formatted: its arguments are not even
 * evaluated.  At the level they are, once. */
START_TEST(level_checked_before_formatting)
{
    log_to_temp();
    eddy_set_log_level(EDDY_LOG_INFO);
    evaluated = 0;
    eddy__log(EDDY__LOG_DEBUG, "%d", count());
    eddy__ratelimit rl = {0};
    eddy__log_limited(&rl, EDDY__LOG_DEBUG, "%d", count());
    ck_assert_int_eq(evaluated, 0);
    ck_assert_int_eq(eddy__log_pass(NULL, EDDY__LOG_DEBUG), 0);
    ck_assert_int_eq(eddy__log_pass(NULL, EDDY__LOG_INFO), 1);
    eddy_set_log_level(EDDY_LOG_DEBUG);
    eddy__log(EDDY__LOG_DEBUG, "n=%d", count());
    ck_assert_int_eq(evaluated, 1);
    eddy_set_log_level(EDDY_LOG_WARN);
    eddy__log(EDDY__LOG_INFO, "%d", count());
    ck_assert_int_eq(evaluated, 1);
    assert_matches(log_text(), "^[^\n]* debug \\[main\\] n=1\n$");
}
END_TEST

START_TEST(rate_limit_counts_suppressed)
{
    log_to_temp();
    eddy__ratelimit rl = {0};
    eddy__log_limited(&rl, EDDY__LOG_WARN, "first");
    rl.last = time(NULL); /* the same second, however slow this machine */
    eddy__log_limited(&rl, EDDY__LOG_WARN, "held back");
    eddy__log_limited(&rl, EDDY__LOG_WARN, "held back");
    ck_assert_uint_eq(rl.suppressed, 2);
    rl.last = 0; /* a second later */
    eddy__log_limited(&rl, EDDY__LOG_WARN, "next");
    ck_assert_uint_eq(rl.suppressed, 0);
    assert_matches(log_text(), "^[^\n]* warn \\[main\\] first\n"
                               "[^\n]* warn \\[main\\] next \\(2 similar suppressed\\)\n$");
}
END_TEST

Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, file_line_form);
    tcase_add_test(tc, journald_priority_on_stderr_only);
    tcase_add_test(tc, level_checked_before_formatting);
    tcase_add_test(tc, rate_limit_counts_suppressed);
    suite_add_tcase(s, tc);
    return s;
}
