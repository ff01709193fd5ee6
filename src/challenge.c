/*
 * challenge: builds the question a person answers and checks the answer.
 * Pure: the only inputs are the arguments and an injected rng_fn, so the
 * fairness promise of SPEC §6 is tested statistically in tests/unit.
 *
 * Both kinds build a pool of choices+1 distinct values, the truth and
 * `choices` distractors, in which the truth is exchangeable with the others;
 * then one member of the pool, picked uniformly, is dropped. If it was the
 * truth (probability 1/(choices+1)) "none" is right. The rest is shuffled
 * (Fisher-Yates). Since the options left are the same kind of sample whichever
 * member was dropped, neither their values nor their order tells a guesser
 * anything, and no blind strategy beats 1/(choices+1).
 *
 * Dates: a 121-day window placed uniformly at random around the truth (the
 * truth's offset in it is uniform), distractors drawn from the window without
 * replacement. Every option set is then a uniform subset of a uniformly placed
 * window, so this is fair for every single birth date. (Same law as "leave the
 * truth out with probability 1/(choices+1), else truth + choices-1 others".)
 *
 * Sums: month+day of a birth date is far from uniform (2 and 43 have one day a
 * year, 13..32 twelve), so fairness can only hold averaged over people. We
 * model birth dates as uniform over a 4-year cycle (1461 days, 29 Feb weighs
 * 1/1461); a value s then has weight c[s]/1461. Drawing distractors i.i.d. with
 * those weights and resampling the whole set until distinct is close but not
 * exact: rejection depends on how common the truth is, which leaves an optimal
 * guesser 20.33% instead of 20% with 4 choices (exact enumeration). Instead the
 * pool is a Sampford sample with inclusion probabilities (choices+1)*c[s]/1461,
 * conditioned on containing the truth: distractors are drawn i.i.d. with
 * weights c/(1461-(choices+1)c), the whole set is redrawn until all pool values
 * are distinct, and the set is then kept with probability (1461-sum c)/1461.
 * Every pool value is then exactly as likely to be the truth, for any strategy.
 */
#include "challenge.h"
#include "caldate.h"

#include <stdio.h>
#include <string.h>

#define CHALLENGE_POOL_MAX (CHALLENGE_MAX_CHOICES + 1)
#define CHALLENGE_NONE "none"
#define CHALLENGE_SUM_MIN 2              /* January 1 */
#define CHALLENGE_SUM_MAX 43             /* December 31 */
#define CHALLENGE_CYCLE_DAYS 1461        /* 4 Gregorian years, one leap day */
#define CHALLENGE_SUM_DIGITS_MAX 2
/* Rejection steps one question may take before the rng is deemed broken (a
 * fuzzer's constant rng would otherwise loop forever). A working rng needs a
 * few dozen; 100,000 is out of reach by chance. */
#define CHALLENGE_RETRY_MAX 100000
#define RNG_REJECT_MAX 64

/* Day counts of month+day over a 4-year cycle, indexed by the sum. */
struct sum_weights {
	int count[CHALLENGE_SUM_MAX + 1];
	int max;
};

uint64_t rng_below(rng_fn rng, void *ctx, uint64_t n)
{
	uint64_t x, min;
	int tries = 0;

	if (n <= 1)
		return 0;
	/* 2^64 mod n: values below it would make the low residues more likely.
	 * A real rng lands there with probability < n/2^64, so RNG_REJECT_MAX
	 * draws in a row only bound a broken one. */
	min = -n % n;
	do
		x = rng(ctx);
	while (x < min && ++tries < RNG_REJECT_MAX);
	return x % n;
}

static void challenge_shuffle(int32_t *v, int n, rng_fn rng, void *ctx)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)rng_below(rng, ctx, (uint64_t)i + 1);
		int32_t t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

static bool challenge_contains(const int32_t *v, int n, int32_t x)
{
	for (int i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* pool[0] = dob, pool[1..choices] distinct other days of a random window.
 * 0, or -1 when *budget runs out. */
static int challenge_pool_dates(int32_t *pool, int choices, int32_t dob, rng_fn rng, void *ctx,
                                int *budget)
{
	int32_t start = dob - (int32_t)rng_below(rng, ctx, CHALLENGE_DATE_WINDOW);

	pool[0] = dob;
	for (int n = 1; n <= choices;) {
		int32_t x = start + (int32_t)rng_below(rng, ctx, CHALLENGE_DATE_WINDOW);
		/* Rejecting repeats one at a time is sampling without replacement,
		 * which is what a uniform window needs. */
		if (!challenge_contains(pool, n, x))
			pool[n++] = x;
		else if (--*budget <= 0)
			return -1;
	}
	return 0;
}

static void challenge_sum_weights(struct sum_weights *w)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	memset(w, 0, sizeof *w);
	for (int m = 1; m <= 12; m++)
		for (int d = 1; d <= mdays[m - 1]; d++)
			w->count[m + d] += (m == 2 && d == 29) ? 1 : 4;
	for (int s = CHALLENGE_SUM_MIN; s <= CHALLENGE_SUM_MAX; s++)
		if (w->count[s] > w->max)
			w->max = w->count[s];
}

/* A sum drawn with weight c/(1461 - n*c): a uniform proposal accepted with
 * probability weight/max weight, in integers so the law is exact. */
static int32_t challenge_draw_sum(const struct sum_weights *w, int n, rng_fn rng, void *ctx,
                                  int *budget)
{
	uint64_t span = CHALLENGE_SUM_MAX - CHALLENGE_SUM_MIN + 1;

	while (--*budget > 0) {
		int s = CHALLENGE_SUM_MIN + (int)rng_below(rng, ctx, span);
		uint64_t c = (uint64_t)w->count[s], cmax = (uint64_t)w->max;
		uint64_t num = c * (uint64_t)(CHALLENGE_CYCLE_DAYS - n * w->max);
		uint64_t den = cmax * (uint64_t)(CHALLENGE_CYCLE_DAYS - n * w->count[s]);

		if (rng_below(rng, ctx, den) < num)
			return s;
	}
	return CHALLENGE_SUM_MIN;       /* budget spent: the caller gives up */
}

/* pool[0] = truth, pool[1..choices] distinct other sums (Sampford, see top).
 * 0, or -1 when *budget runs out. */
static int challenge_pool_sums(int32_t *pool, int choices, int32_t truth, rng_fn rng, void *ctx,
                               int *budget)
{
	struct sum_weights w;
	int n = choices + 1;

	challenge_sum_weights(&w);
	pool[0] = truth;
	while (*budget > 0) {
		bool distinct = true;
		int total = w.count[truth];

		/* The whole set is drawn before any test: redrawing only the
		 * clashing member would favour rare values. */
		for (int i = 1; i < n; i++)
			pool[i] = challenge_draw_sum(&w, n, rng, ctx, budget);
		for (int i = 1; i < n && distinct; i++) {
			distinct = !challenge_contains(pool, i, pool[i]);
			total += w.count[pool[i]];
		}
		if (*budget <= 0)
			break;
		if (distinct &&
		    rng_below(rng, ctx, CHALLENGE_CYCLE_DAYS) < (uint64_t)(CHALLENGE_CYCLE_DAYS - total))
			return 0;
		--*budget;
	}
	return -1;
}

int challenge_generate(struct question *q, enum question_kind kind, enum challenge_mode mode,
                       int choices, int32_t dob, rng_fn rng, void *ctx)
{
	int32_t pool[CHALLENGE_POOL_MAX];
	int y, m, d, drop, n = 0, budget = CHALLENGE_RETRY_MAX, rc;

	if (q == NULL || rng == NULL || (kind != QUESTION_DATE && kind != QUESTION_SUM) ||
	    (mode != MODE_CHOICE && mode != MODE_ENTRY))
		return -1;
	/* Keeps every window date inside years 0001..9999, so it formats as YYYY. */
	if (dob < caldate_from_ymd(1, 1, 1) + CHALLENGE_DATE_WINDOW ||
	    dob > caldate_from_ymd(9999, 12, 31))
		return -1;
	if (mode == MODE_CHOICE && (choices < CHALLENGE_MIN_CHOICES || choices > CHALLENGE_MAX_CHOICES))
		return -1;

	memset(q, 0, sizeof *q);
	q->kind = (uint8_t)kind;
	q->mode = (uint8_t)mode;
	caldate_to_ymd(dob, &y, &m, &d);
	q->truth = kind == QUESTION_DATE ? dob : m + d;
	if (mode == MODE_ENTRY)
		return 0;       /* n_options = 0: the person types the value */

	if (kind == QUESTION_DATE)
		rc = challenge_pool_dates(pool, choices, dob, rng, ctx, &budget);
	else
		rc = challenge_pool_sums(pool, choices, q->truth, rng, ctx, &budget);
	if (rc != 0)
		goto fail;

	drop = (int)rng_below(rng, ctx, (uint64_t)choices + 1);
	for (int i = 0; i <= choices; i++)
		if (i != drop)
			q->options[n++] = pool[i];
	challenge_shuffle(q->options, choices, rng, ctx);

	q->n_options = (uint8_t)choices;
	q->correct = (uint8_t)choices;
	for (int i = 0; i < choices; i++)
		if (q->options[i] == q->truth)
			q->correct = (uint8_t)i;
	return 0;
fail:
	memset(q, 0, sizeof *q);
	return -1;
}

static void challenge_format_value(enum question_kind kind, int32_t v, char *buf, size_t len)
{
	if (kind == QUESTION_DATE)
		caldate_format(v, buf, len);
	else
		snprintf(buf, len, "%d", (int)v);
}

void challenge_option_value(const struct question *q, int i, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (i >= 0 && i < q->n_options && i < CHALLENGE_MAX_CHOICES)
		challenge_format_value((enum question_kind)q->kind, q->options[i], buf, len);
	else if (i == q->n_options)
		snprintf(buf, len, "%s", CHALLENGE_NONE);
	else
		buf[0] = '\0';
}

/* Compares fixed-size, zero-padded buffers: time does not depend on where
 * they differ. */
static bool challenge_equal_padded(const char *answer, size_t len, const char *expect)
{
	char a[CHALLENGE_ANSWER_MAX] = { 0 }, e[CHALLENGE_ANSWER_MAX] = { 0 };
	size_t elen = strnlen(expect, CHALLENGE_ANSWER_MAX - 1);
	unsigned diff = (unsigned)(len ^ elen);

	memcpy(a, answer, len);
	memcpy(e, expect, elen);
	for (size_t i = 0; i < sizeof a; i++)
		diff |= (unsigned)(unsigned char)(a[i] ^ e[i]);
	return diff == 0;
}

/* A sum typed in entry mode: 1-2 ASCII digits, nothing else. */
static int challenge_parse_sum(const char *s, size_t len, int32_t *out)
{
	int32_t v = 0;

	if (len == 0 || len > CHALLENGE_SUM_DIGITS_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

bool challenge_check(const struct question *q, const char *answer, size_t len)
{
	char expect[CHALLENGE_ANSWER_MAX];
	int32_t v;

	if (q == NULL || answer == NULL || len == 0 || len >= CHALLENGE_ANSWER_MAX)
		return false;
	if (q->kind != QUESTION_DATE && q->kind != QUESTION_SUM)
		return false;

	if (q->mode == MODE_ENTRY) {
		if (q->kind == QUESTION_DATE)
			return caldate_parse(answer, len, &v) == 0 && v == q->truth;
		return challenge_parse_sum(answer, len, &v) == 0 && v == q->truth;
	}
	if (q->mode != MODE_CHOICE || q->n_options < CHALLENGE_MIN_CHOICES ||
	    q->n_options > CHALLENGE_MAX_CHOICES || q->correct > q->n_options)
		return false;
	challenge_option_value(q, q->correct, expect, sizeof expect);
	return challenge_equal_padded(answer, len, expect);
}

enum challenge_key challenge_expected_key(const struct question *q, char x[CHALLENGE_ANSWER_MAX])
{
	x[0] = '\0';
	if (q->kind != QUESTION_DATE && q->kind != QUESTION_SUM)
		return CHALLENGE_KEY_TEXT;
	if (q->mode == MODE_ENTRY) {
		snprintf(x, CHALLENGE_ANSWER_MAX, "%d", (int)q->truth);
		return q->kind == QUESTION_DATE ? CHALLENGE_KEY_DATE : CHALLENGE_KEY_SUM;
	}
	if (q->mode != MODE_CHOICE || q->n_options < CHALLENGE_MIN_CHOICES ||
	    q->n_options > CHALLENGE_MAX_CHOICES || q->correct > q->n_options)
		return CHALLENGE_KEY_TEXT;
	challenge_option_value(q, q->correct, x, CHALLENGE_ANSWER_MAX);
	return CHALLENGE_KEY_TEXT;
}

void challenge_answer_key(enum challenge_key form, const char *answer, size_t len,
                          char out[CHALLENGE_ANSWER_MAX])
{
	int32_t v;

	out[0] = '\0';
	if (answer == NULL || len == 0 || len >= CHALLENGE_ANSWER_MAX)
		return;
	switch (form) {
	case CHALLENGE_KEY_TEXT:
		if (memchr(answer, '\0', len) == NULL) {
			memcpy(out, answer, len);
			out[len] = '\0';
		}
		break;
	case CHALLENGE_KEY_DATE:
		if (caldate_parse(answer, len, &v) == 0)
			snprintf(out, CHALLENGE_ANSWER_MAX, "%d", (int)v);
		break;
	case CHALLENGE_KEY_SUM:
		if (challenge_parse_sum(answer, len, &v) == 0)
			snprintf(out, CHALLENGE_ANSWER_MAX, "%d", (int)v);
		break;
	default:
		break;
	}
}
