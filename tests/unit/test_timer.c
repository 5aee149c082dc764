/* tests/unit/test_timer.c - the timer heap (timer.h): order, re-arming,
 * disarming, timers armed while firing, and the 32-bit clock's wrap. */
#include <stdlib.h>

#include "suites.h"
#include "timer.h"

enum { N = 500 };

static uint32_t fired_at[N + 1];
static unsigned nfired;
static eddy__timers *firing_heap;
static eddy__timer items[N];

static void record(eddy__timer *t)
{
    fired_at[nfired++] = t->due;
}

/* Fires once more, due at once: armed while the heap is running. */
static void rearm_once(eddy__timer *t)
{
    record(t);
    if (nfired == 1)
        ck_assert_int_eq(eddy__timers_arm(firing_heap, t, t->due), 0);
}

START_TEST(fires_in_order_of_due_time)
{
    eddy__timers h = {0};
    nfired = 0;
    srand(7);
    for (int i = 0; i < N; i++) {
        eddy__timer_init(&items[i], record);
        ck_assert_int_eq(eddy__timers_arm(&h, &items[i], 1000 + (uint32_t)(rand() % 5000)), 0);
    }
    for (int i = 0; i < N; i += 3) /* re-armed: the first time no longer counts */
        ck_assert_int_eq(eddy__timers_arm(&h, &items[i], 7000 + (uint32_t)i), 0);
    for (int i = 1; i < N; i += 7)
        eddy__timers_disarm(&h, &items[i]);
    eddy__timers_disarm(&h, &items[1]); /* twice: nothing */
    uint32_t first = UINT32_MAX;
    for (int i = 0; i < N; i++)
        if (items[i].slot >= 0 && items[i].due < first)
            first = items[i].due;
    ck_assert_int_eq(eddy__timers_run(&h, 999), (long)(first - 999));
    ck_assert_uint_eq(nfired, 0);
    ck_assert_int_eq(eddy__timers_run(&h, 100000), -1);
    unsigned expect = N - (N + 6) / 7;
    ck_assert_uint_eq(nfired, expect);
    for (unsigned i = 1; i < nfired; i++)
        ck_assert_uint_le(fired_at[i - 1], fired_at[i]);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(items[i].slot, -1);
    eddy__timers_destroy(&h);
}
END_TEST

START_TEST(returns_the_wait_until_the_next)
{
    eddy__timers h = {0};
    nfired = 0;
    eddy__timer_init(&items[0], record);
    eddy__timer_init(&items[1], record);
    ck_assert_int_eq(eddy__timers_run(&h, 0), -1);
    ck_assert_int_eq(eddy__timers_arm(&h, &items[0], 30), 0);
    ck_assert_int_eq(eddy__timers_arm(&h, &items[1], 10), 0);
    ck_assert_int_eq(eddy__timers_run(&h, 5), 5);
    ck_assert_int_eq(eddy__timers_run(&h, 10), 20);
    ck_assert_uint_eq(nfired, 1);
    ck_assert_uint_eq(fired_at[0], 10);
    eddy__timers_destroy(&h);
}
END_TEST

START_TEST(armed_while_firing_and_due_fires_in_the_same_run)
{
    eddy__timers h = {0};
    nfired = 0;
    firing_heap = &h;
    eddy__timer_init(&items[0], rearm_once);
    ck_assert_int_eq(eddy__timers_arm(&h, &items[0], 50), 0);
    ck_assert_int_eq(eddy__timers_run(&h, 60), -1);
    ck_assert_uint_eq(nfired, 2);
    eddy__timers_destroy(&h);
}
END_TEST

START_TEST(ordered_across_the_clock_wrap)
{
    eddy__timers h = {0};
    nfired = 0;
    eddy__timer_init(&items[0], record);
    eddy__timer_init(&items[1], record);
    uint32_t now = UINT32_MAX - 5;
    ck_assert_int_eq(eddy__timers_arm(&h, &items[0], now + 10), 0); /* wraps to 4 */
    ck_assert_int_eq(eddy__timers_arm(&h, &items[1], now + 2), 0);
    ck_assert_int_eq(eddy__timers_run(&h, now), 2);
    ck_assert_int_eq(eddy__timers_run(&h, now + 3), 7);
    ck_assert_uint_eq(fired_at[0], now + 2);
    ck_assert_int_eq(eddy__timers_run(&h, now + 10), -1);
    ck_assert_uint_eq(nfired, 2);
    eddy__timers_destroy(&h);
}
END_TEST

Suite *timer_suite(void)
{
    Suite *s = suite_create("timer");
    TCase *tc = tcase_create("heap");
    tcase_add_test(tc, fires_in_order_of_due_time);
    tcase_add_test(tc, returns_the_wait_until_the_next);
    tcase_add_test(tc, armed_while_firing_and_due_fires_in_the_same_run);
    tcase_add_test(tc, ordered_across_the_clock_wrap);
    suite_add_tcase(s, tc);
    return s;
}
