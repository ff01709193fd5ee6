/*
 * test_challenge: the fairness promise of SPEC §6, measured. Each run draws
 * 100,000 challenges from a seeded PRNG and checks that "none" is right
 * 1/(choices+1) of the time, that the right option's position and its rank
 * among the option values are uniform (chi-square at p = 1e-6), and that blind
 * strategies (first, last, smallest, largest, middle, always "none") win no
 * more than 1/(choices+1) + 5 standard errors. The date question is fair for
 * each birth date, so a run keeps one; the sum question only over people, so a
 * run draws a fresh uniform birth date per challenge. Deliberately unfair
 * generators prove the checks can fail. Then structure and answer checking.
 */
#include "unit.h"
#include "challenge.h"
#include "caldate.h"

#include <stdio.h>
#include <string.h>

#define FAIR_RUNS 100000
#define FAIR_Z_MAX 5.0
#define DOB_RANDOM INT32_MIN         /* a fresh birth date per challenge */
#define SUM_MIN 2
#define SUM_MAX 43

/* Chi-square quantiles at p = 1e-6, by degrees of freedom (1..7). */
static const double chi2_crit[CHALLENGE_MAX_CHOICES] = {
	0, 23.93, 27.63, 30.66, 33.38, 35.89, 38.26, 40.52
};

enum strategy {
	STRAT_FIRST, STRAT_LAST, STRAT_SMALLEST, STRAT_LARGEST, STRAT_LOW_MIDDLE,
	STRAT_HIGH_MIDDLE, STRAT_NONE, STRAT_COUNT
};

static const char *const strategy_names[STRAT_COUNT] = {
	"first", "last", "smallest", "largest", "low middle", "high middle", "none"
};

typedef int (*gen_fn)(struct question *q, enum question_kind kind, int choices, int32_t dob,
                      struct test_rng *r);

struct fair_run {
	const char *label;
	gen_fn gen;
	enum question_kind kind;
	int choices;
	int32_t dob;                 /* or DOB_RANDOM */
	uint64_t seed;
};

static double test_sqrt(double x)
{
	double r = x > 1 ? x : 1;

	if (x <= 0)
		return 0;
	for (int i = 0; i < 60; i++)
		r = 0.5 * (r + x / r);
	return r;
}

static int32_t random_dob(struct test_rng *r)
{
	/* 1901..2000 is 25 whole 4-year cycles: every calendar day exactly as
	 * likely as challenge.c's model of birth dates assumes. */
	int32_t from = caldate_from_ymd(1901, 1, 1), to = caldate_from_ymd(2001, 1, 1);

	return from + (int32_t)rng_below(test_rng_next, r, (uint64_t)(to - from));
}

static int gen_real(struct question *q, enum question_kind kind, int choices, int32_t dob,
                    struct test_rng *r)
{
	return challenge_generate(q, kind, MODE_CHOICE, choices, dob, test_rng_next, r);
}

static void local_shuffle(int32_t *v, int n, struct test_rng *r)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)rng_below(test_rng_next, r, (uint64_t)i + 1);
		int32_t t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

static bool local_contains(const int32_t *v, int n, int32_t x)
{
	for (int i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static void local_set_correct(struct question *q)
{
	q->correct = q->n_options;
	for (int i = 0; i < q->n_options; i++)
		if (q->options[i] == q->truth)
			q->correct = (uint8_t)i;
}

/* Looks fair, is not (SPEC §6): sum distractors uniform over 2..43. */
static int gen_unfair_sum_uniform(struct question *q, enum question_kind kind, int choices,
                                  int32_t dob, struct test_rng *r)
{
	int n = 0;

	if (challenge_generate(q, kind, MODE_CHOICE, choices, dob, test_rng_next, r) != 0)
		return -1;
	if (rng_below(test_rng_next, r, (uint64_t)choices + 1) != 0)
		q->options[n++] = q->truth;
	while (n < choices) {
		int32_t x = SUM_MIN + (int32_t)rng_below(test_rng_next, r, SUM_MAX - SUM_MIN + 1);
		if (x != q->truth && !local_contains(q->options, n, x))
			q->options[n++] = x;
	}
	local_shuffle(q->options, choices, r);
	local_set_correct(q);
	return 0;
}

/* The seed's date question: distractors spread around the truth, so the
 * truth tends to sit in the middle of the options. */
static int gen_unfair_date_centered(struct question *q, enum question_kind kind, int choices,
                                    int32_t dob, struct test_rng *r)
{
	int n = 0;

	if (challenge_generate(q, kind, MODE_CHOICE, choices, dob, test_rng_next, r) != 0)
		return -1;
	if (rng_below(test_rng_next, r, (uint64_t)choices + 1) != 0)
		q->options[n++] = q->truth;
	while (n < choices) {
		int32_t x = q->truth - 60 + (int32_t)rng_below(test_rng_next, r, 121);
		if (x != q->truth && !local_contains(q->options, n, x))
			q->options[n++] = x;
	}
	local_shuffle(q->options, choices, r);
	local_set_correct(q);
	return 0;
}

/* Fair values, but the right option is always moved to the middle slot. */
static int gen_unfair_position(struct question *q, enum question_kind kind, int choices,
                               int32_t dob, struct test_rng *r)
{
	int mid = choices / 2;

	if (challenge_generate(q, kind, MODE_CHOICE, choices, dob, test_rng_next, r) != 0)
		return -1;
	if (q->correct < q->n_options) {
		int32_t t = q->options[mid];
		q->options[mid] = q->options[q->correct];
		q->options[q->correct] = t;
		q->correct = (uint8_t)mid;
	}
	return 0;
}

/* Option indexes sorted by value. */
static void sort_by_value(const struct question *q, int *idx)
{
	for (int i = 0; i < q->n_options; i++) {
		int j = i;
		for (; j > 0 && q->options[idx[j - 1]] > q->options[i]; j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
	}
}

static int strategy_choose(const struct question *q, enum strategy s)
{
	int idx[CHALLENGE_MAX_CHOICES];
	int n = q->n_options;

	sort_by_value(q, idx);
	switch (s) {
	case STRAT_FIRST: return 0;
	case STRAT_LAST: return n - 1;
	case STRAT_SMALLEST: return idx[0];
	case STRAT_LARGEST: return idx[n - 1];
	case STRAT_LOW_MIDDLE: return idx[(n - 1) / 2];
	case STRAT_HIGH_MIDDLE: return idx[n / 2];
	case STRAT_NONE: return n;
	case STRAT_COUNT: break;
	}
	return -1;
}

static double chi_square(const long *obs, int k, long total)
{
	double expect = (double)total / k, chi = 0;

	for (int i = 0; i < k; i++)
		chi += ((double)obs[i] - expect) * ((double)obs[i] - expect) / expect;
	return chi;
}

/* Runs FAIR_RUNS challenges; true if every check passes. Prints one line. */
static bool fair_check(const struct fair_run *run)
{
	long none = 0, included = 0, pos[CHALLENGE_MAX_CHOICES] = { 0 };
	long rank[CHALLENGE_MAX_CHOICES] = { 0 }, wins[STRAT_COUNT] = { 0 };
	int k = run->choices;
	double p = 1.0 / (k + 1), se = test_sqrt(p * (1 - p) / FAIR_RUNS);
	double z_none, chi_pos, chi_rank, z_best = -100;
	enum strategy best = STRAT_FIRST;
	struct test_rng r;
	struct question q;
	bool ok;

	test_rng_seed(&r, run->seed);
	for (long n = 0; n < FAIR_RUNS; n++) {
		int32_t dob = run->dob == DOB_RANDOM ? random_dob(&r) : run->dob;
		if (run->gen(&q, run->kind, k, dob, &r) != 0 || q.n_options != k)
			fail_msg("%s: generate failed", run->label);
		if (q.correct == k) {
			none++;
		} else {
			int below = 0;
			for (int i = 0; i < k; i++)
				below += q.options[i] < q.options[q.correct];
			included++;
			pos[q.correct]++;
			rank[below]++;
		}
		for (int s = 0; s < STRAT_COUNT; s++)
			wins[s] += strategy_choose(&q, (enum strategy)s) == q.correct;
	}

	z_none = ((double)none / FAIR_RUNS - p) / se;
	chi_pos = chi_square(pos, k, included);
	chi_rank = chi_square(rank, k, included);
	for (int s = 0; s < STRAT_COUNT; s++) {
		double z = ((double)wins[s] / FAIR_RUNS - p) / se;
		if (z > z_best) {
			z_best = z;
			best = (enum strategy)s;
		}
	}
	ok = z_none <= FAIR_Z_MAX && z_none >= -FAIR_Z_MAX && chi_pos <= chi2_crit[k - 1] &&
	     chi_rank <= chi2_crit[k - 1] && z_best <= FAIR_Z_MAX;
	printf("    %-34s none %.4f (z %+.1f)  position chi2 %6.1f  rank chi2 %7.1f  (limit %.1f)"
	       "  best blind: %s %.4f (z %+.1f) vs %.4f  %s\n",
	       run->label, (double)none / FAIR_RUNS, z_none, chi_pos, chi_rank, chi2_crit[k - 1],
	       strategy_names[best], (double)wins[best] / FAIR_RUNS, z_best, p,
	       ok ? "fair" : "UNFAIR");
	return ok;
}

static void expect_fair(const struct fair_run *run)
{
	if (!fair_check(run))
		fail_msg("%s: a blind strategy or the layout beats chance (see the line above)",
		         run->label);
}

static void expect_unfair(const struct fair_run *run)
{
	if (fair_check(run))
		fail_msg("%s: a known unfair scheme passed the fairness checks", run->label);
}

static void test_date_fair_for_each_birth_date(void **state)
{
	static const int dobs[][3] = {
		{ 1985, 3, 12 }, { 2000, 2, 29 }, { 1900, 1, 1 }, { 2024, 12, 31 }
	};
	(void)state;
	for (size_t i = 0; i < sizeof dobs / sizeof dobs[0]; i++) {
		char label[64];
		snprintf(label, sizeof label, "date, 4 choices, dob %04d-%02d-%02d", dobs[i][0],
		         dobs[i][1], dobs[i][2]);
		struct fair_run run = { label, gen_real, QUESTION_DATE, 4,
		                        caldate_from_ymd(dobs[i][0], dobs[i][1], dobs[i][2]),
		                        0x1000 + i };
		expect_fair(&run);
	}
}

static void test_date_fair_with_2_and_8_choices(void **state)
{
	struct fair_run two = { "date, 2 choices", gen_real, QUESTION_DATE, 2,
	                        caldate_from_ymd(1970, 6, 15), 0x2002 };
	struct fair_run eight = { "date, 8 choices", gen_real, QUESTION_DATE, 8,
	                          caldate_from_ymd(1991, 11, 30), 0x2008 };
	(void)state;
	expect_fair(&two);
	expect_fair(&eight);
}

static void test_sum_fair_over_random_birth_dates(void **state)
{
	struct fair_run four = { "sum, 4 choices", gen_real, QUESTION_SUM, 4, DOB_RANDOM, 0x3004 };
	struct fair_run two = { "sum, 2 choices", gen_real, QUESTION_SUM, 2, DOB_RANDOM, 0x3002 };
	struct fair_run eight = { "sum, 8 choices", gen_real, QUESTION_SUM, 8, DOB_RANDOM, 0x3008 };
	(void)state;
	expect_fair(&four);
	expect_fair(&two);
	expect_fair(&eight);
}

static void test_unfair_schemes_are_caught(void **state)
{
	struct fair_run sum_uniform = { "unfair: sums uniform over 2..43", gen_unfair_sum_uniform,
	                                QUESTION_SUM, 4, DOB_RANDOM, 0x4001 };
	struct fair_run date_centered = { "unfair: dates centred on truth",
	                                  gen_unfair_date_centered, QUESTION_DATE, 4,
	                                  caldate_from_ymd(1985, 3, 12), 0x4002 };
	struct fair_run position = { "unfair: truth in the middle slot", gen_unfair_position,
	                             QUESTION_DATE, 4, caldate_from_ymd(1985, 3, 12), 0x4003 };
	(void)state;
	expect_unfair(&sum_uniform);
	expect_unfair(&date_centered);
	expect_unfair(&position);
}

static void test_options_distinct_and_in_range(void **state)
{
	struct test_rng r;
	struct question q;

	(void)state;
	test_rng_seed(&r, 0x5000);
	for (int n = 0; n < 50000; n++) {
		int k = CHALLENGE_MIN_CHOICES + (int)rng_below(test_rng_next, &r, 7);
		enum question_kind kind = n % 2 ? QUESTION_SUM : QUESTION_DATE;
		int32_t dob = random_dob(&r), lo, hi;
		int y, m, d;

		assert_int_equal(gen_real(&q, kind, k, dob, &r), 0);
		assert_int_equal(q.kind, kind);
		assert_int_equal(q.mode, MODE_CHOICE);
		assert_int_equal(q.n_options, k);
		assert_true(q.correct <= k);
		caldate_to_ymd(dob, &y, &m, &d);
		assert_int_equal(q.truth, kind == QUESTION_DATE ? dob : m + d);
		lo = hi = q.truth;
		for (int i = 0; i < k; i++) {
			assert_false(local_contains(q.options, i, q.options[i]));
			if (kind == QUESTION_SUM) {
				assert_in_range(q.options[i], SUM_MIN, SUM_MAX);
			}
			lo = q.options[i] < lo ? q.options[i] : lo;
			hi = q.options[i] > hi ? q.options[i] : hi;
		}
		if (kind == QUESTION_DATE && hi - lo > CHALLENGE_DATE_WINDOW - 1)
			fail_msg("options and truth span %d days, more than the window", hi - lo);
		if (q.correct < k)
			assert_int_equal(q.options[q.correct], q.truth);
		else
			assert_false(local_contains(q.options, k, q.truth));
		for (int i = k; i < CHALLENGE_MAX_CHOICES; i++)
			assert_int_equal(q.options[i], 0);
	}
}

static bool check_str(const struct question *q, const char *s)
{
	return challenge_check(q, s, strlen(s));
}

static void test_check_accepts_exactly_the_right_answer(void **state)
{
	struct test_rng r;
	struct question q;
	char v[CHALLENGE_ANSWER_MAX];

	(void)state;
	test_rng_seed(&r, 0x6000);
	for (int n = 0; n < 5000; n++) {
		int k = CHALLENGE_MIN_CHOICES + (int)rng_below(test_rng_next, &r, 7);
		enum question_kind kind = n % 2 ? QUESTION_SUM : QUESTION_DATE;
		int32_t from, to;

		assert_int_equal(gen_real(&q, kind, k, random_dob(&r), &r), 0);
		for (int i = 0; i <= k; i++) {
			challenge_option_value(&q, i, v, sizeof v);
			if (check_str(&q, v) != (i == q.correct))
				fail_msg("option %d \"%s\": check says %d, right option is %d", i, v,
				         check_str(&q, v), q.correct);
		}
		/* valid values that are not among the options are wrong, even the truth */
		from = kind == QUESTION_DATE ? q.truth - 200 : 0;
		to = kind == QUESTION_DATE ? q.truth + 200 : 99;
		for (int32_t x = from; x <= to; x++) {
			if (q.correct < k && x == q.truth)
				continue;
			if (kind == QUESTION_DATE)
				caldate_format(x, v, sizeof v);
			else
				snprintf(v, sizeof v, "%d", (int)x);
			if (check_str(&q, v))
				fail_msg("\"%s\" accepted, right option %d", v, q.correct);
		}
	}
}

static void test_option_values(void **state)
{
	struct question q = { .kind = QUESTION_DATE, .mode = MODE_CHOICE, .n_options = 2,
	                      .correct = 1 };
	char v[CHALLENGE_ANSWER_MAX];

	(void)state;
	q.options[0] = caldate_from_ymd(1985, 3, 12);
	q.options[1] = caldate_from_ymd(2000, 2, 29);
	challenge_option_value(&q, 0, v, sizeof v);
	assert_string_equal(v, "1985-03-12");
	challenge_option_value(&q, 1, v, sizeof v);
	assert_string_equal(v, "2000-02-29");
	challenge_option_value(&q, 2, v, sizeof v);
	assert_string_equal(v, "none");
	challenge_option_value(&q, 3, v, sizeof v);
	assert_string_equal(v, "");
	challenge_option_value(&q, -1, v, sizeof v);
	assert_string_equal(v, "");
	q.kind = QUESTION_SUM;
	q.options[0] = 2;
	q.options[1] = 43;
	challenge_option_value(&q, 0, v, sizeof v);
	assert_string_equal(v, "2");
	challenge_option_value(&q, 1, v, sizeof v);
	assert_string_equal(v, "43");
}

static void test_check_refuses_garbage(void **state)
{
	static const char *const junk[] = {
		"", " ", "none ", " none", "NONE", "None", "non", "nonee", "1985-03-12 ",
		" 1985-03-12", "1985-3-12", "1985-03-12\n", "85-03-12", "+15", "15 ", "015",
		"0x0f", "15.0", "-15", "1985-03-120", "1985-03-12000000", "999999999999999",
		"1985-03-12 or 1=1", "%s%s%s%n", "\xff\xfe", "1985\u201003-12",
	};
	struct question date = { 0 }, sum = { 0 };
	char big[4096];
	struct test_rng r;

	(void)state;
	test_rng_seed(&r, 0x7000);
	assert_int_equal(challenge_generate(&date, QUESTION_DATE, MODE_CHOICE, 4,
	                                    caldate_from_ymd(1985, 3, 12), test_rng_next, &r), 0);
	assert_int_equal(challenge_generate(&sum, QUESTION_SUM, MODE_CHOICE, 4,
	                                    caldate_from_ymd(1985, 3, 12), test_rng_next, &r), 0);
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		if (check_str(&date, junk[i]) || check_str(&sum, junk[i]))
			fail_msg("\"%s\" accepted", junk[i]);
	}
	/* the right value with a NUL or more bytes after it, or cut short */
	for (struct question *q = &date; q != NULL; q = q == &date ? &sum : NULL) {
		char v[CHALLENGE_ANSWER_MAX + 8] = { 0 };
		challenge_option_value(q, q->correct, v, CHALLENGE_ANSWER_MAX);
		size_t len = strlen(v);
		assert_true(challenge_check(q, v, len));
		assert_false(challenge_check(q, v, len + 1));
		assert_false(challenge_check(q, v, len - 1));
		assert_false(challenge_check(q, v, 0));
		memset(v + len, '0', sizeof v - len - 1);
		assert_false(challenge_check(q, v, CHALLENGE_ANSWER_MAX));
		assert_false(challenge_check(q, v, sizeof v - 1));
	}
	memset(big, '1', sizeof big);
	assert_false(challenge_check(&sum, big, sizeof big));
	assert_false(challenge_check(&date, NULL, 10));
	assert_false(challenge_check(NULL, "none", 4));

	/* random bytes from a dangerous alphabet: right only if equal to the value */
	for (int n = 0; n < 200000; n++) {
		static const char alphabet[] = "0123456789-none \0";
		struct question *q = n % 2 ? &sum : &date;
		char a[40], expect[CHALLENGE_ANSWER_MAX];
		size_t len = (size_t)rng_below(test_rng_next, &r, sizeof a + 1);
		for (size_t i = 0; i < len; i++)
			a[i] = alphabet[rng_below(test_rng_next, &r, sizeof alphabet - 1)];
		challenge_option_value(q, q->correct, expect, sizeof expect);
		bool same = len == strlen(expect) && memcmp(a, expect, len) == 0;
		assert_int_equal(challenge_check(q, a, len), same);
	}
}

static void test_check_refuses_corrupt_questions(void **state)
{
	struct question q = { .kind = QUESTION_SUM, .mode = MODE_CHOICE, .n_options = 200,
	                      .correct = 0, .truth = 15, .options = { 15 } };
	char v[CHALLENGE_ANSWER_MAX];

	(void)state;
	assert_false(check_str(&q, "15"));
	challenge_option_value(&q, 150, v, sizeof v);     /* past the array: no read */
	assert_string_equal(v, "");
	q.n_options = 4;
	q.correct = 7;
	assert_false(check_str(&q, "none"));
	q.correct = 0;
	q.mode = 9;
	assert_false(check_str(&q, "15"));
	q.mode = MODE_CHOICE;
	q.kind = 9;
	assert_false(check_str(&q, "15"));
	q.kind = QUESTION_SUM;
	assert_true(check_str(&q, "15"));
}

/* The string form of the check (what a Redis script compares) says exactly
 * what challenge_check says: for questions of every kind and mode, each
 * option value, "none", the truth typed in several spellings, and garbage. */
static bool key_check(const struct question *q, const char *a, size_t len)
{
	char x[CHALLENGE_ANSWER_MAX], k[CHALLENGE_ANSWER_MAX];
	enum challenge_key form = challenge_expected_key(q, x);

	challenge_answer_key(form, a, len, k);
	return k[0] != '\0' && strcmp(k, x) == 0;
}

static void test_answer_key_agrees_with_check(void **state)
{
	static const char *const extra[] = { "", "none", "None", "0", "00", "1985-03-12", "1985-3-12",
	                                     "12", "012", "15 ", "abc", "9999-99-99", "1985-03-12x" };
	struct test_rng r;
	int32_t dob = caldate_from_ymd(1985, 3, 12);
	size_t checked = 0, right = 0;

	(void)state;
	test_rng_seed(&r, 0x5eed);
	for (int round = 0; round < 400; round++) {
		struct question q;
		enum question_kind kind = round % 2 ? QUESTION_SUM : QUESTION_DATE;
		enum challenge_mode mode = round % 4 < 2 ? MODE_CHOICE : MODE_ENTRY;
		char cand[CHALLENGE_MAX_CHOICES + 3][CHALLENGE_ANSWER_MAX];
		int n = 0;

		assert_int_equal(challenge_generate(&q, kind, mode, 2 + round % 7, dob, test_rng_next, &r), 0);
		for (int i = 0; i <= q.n_options && n < CHALLENGE_MAX_CHOICES + 1; i++)
			challenge_option_value(&q, i, cand[n++], sizeof cand[0]);
		if (kind == QUESTION_DATE)
			caldate_format(q.truth, cand[n++], sizeof cand[0]);
		else
			snprintf(cand[n++], sizeof cand[0], "%d", (int)q.truth);
		snprintf(cand[n++], sizeof cand[0], "0%d", (int)(q.truth % 100));
		for (int i = 0; i < n; i++) {
			bool want = challenge_check(&q, cand[i], strlen(cand[i]));
			assert_int_equal(key_check(&q, cand[i], strlen(cand[i])), want);
			right += want;
			checked++;
		}
		for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++, checked++)
			assert_int_equal(key_check(&q, extra[i], strlen(extra[i])),
			                 challenge_check(&q, extra[i], strlen(extra[i])));
		assert_false(key_check(&q, "15\0", 3));
		q.kind = 9;
		assert_false(key_check(&q, cand[0], strlen(cand[0])));
	}
	assert_true(right >= 400);        /* every question had its right answer among them */
	assert_true(checked > 4000);
}

static void test_entry_mode(void **state)
{
	struct question q;
	struct test_rng r;
	int32_t dob = caldate_from_ymd(1985, 3, 12);

	(void)state;
	test_rng_seed(&r, 0x8000);
	assert_int_equal(challenge_generate(&q, QUESTION_DATE, MODE_ENTRY, 0, dob, test_rng_next,
	                                    &r), 0);
	assert_int_equal(q.mode, MODE_ENTRY);
	assert_int_equal(q.n_options, 0);
	assert_int_equal(q.truth, dob);
	assert_true(check_str(&q, "1985-03-12"));
	assert_false(check_str(&q, "1985-03-13"));
	assert_false(check_str(&q, "1985-3-12"));
	assert_false(check_str(&q, "1985-03-12 "));
	assert_false(check_str(&q, "none"));
	assert_false(check_str(&q, "15"));
	assert_false(check_str(&q, ""));

	assert_int_equal(challenge_generate(&q, QUESTION_SUM, MODE_ENTRY, 4, dob, test_rng_next,
	                                    &r), 0);
	assert_int_equal(q.truth, 15);
	assert_true(check_str(&q, "15"));
	assert_false(check_str(&q, "16"));
	assert_false(check_str(&q, "015"));
	assert_false(check_str(&q, "+15"));
	assert_false(check_str(&q, "15 "));
	assert_false(check_str(&q, "none"));
	assert_false(check_str(&q, "1985-03-12"));
	assert_false(check_str(&q, ""));
}

static void test_generate_refuses_bad_arguments(void **state)
{
	struct question q;
	struct test_rng r;
	int32_t dob = caldate_from_ymd(1985, 3, 12);

	(void)state;
	test_rng_seed(&r, 0x9000);
	assert_int_equal(challenge_generate(&q, QUESTION_DATE, MODE_CHOICE, 1, dob,
	                                    test_rng_next, &r), -1);
	assert_int_equal(challenge_generate(&q, QUESTION_DATE, MODE_CHOICE, 9, dob,
	                                    test_rng_next, &r), -1);
	assert_int_equal(challenge_generate(&q, (enum question_kind)7, MODE_CHOICE, 4, dob,
	                                    test_rng_next, &r), -1);
	assert_int_equal(challenge_generate(&q, QUESTION_DATE, (enum challenge_mode)7, 4, dob,
	                                    test_rng_next, &r), -1);
	assert_int_equal(challenge_generate(&q, QUESTION_DATE, MODE_CHOICE, 4, dob, NULL, &r), -1);
	assert_int_equal(challenge_generate(NULL, QUESTION_DATE, MODE_CHOICE, 4, dob,
	                                    test_rng_next, &r), -1);
	assert_int_equal(challenge_generate(&q, QUESTION_DATE, MODE_CHOICE, 4, INT32_MAX,
	                                    test_rng_next, &r), -1);
	assert_int_equal(challenge_generate(&q, QUESTION_SUM, MODE_CHOICE, 4, INT32_MIN,
	                                    test_rng_next, &r), -1);
	assert_int_equal(challenge_generate(&q, QUESTION_DATE, MODE_CHOICE, 2, dob,
	                                    test_rng_next, &r), 0);
	assert_int_equal(challenge_generate(&q, QUESTION_DATE, MODE_CHOICE, 8, dob,
	                                    test_rng_next, &r), 0);
}

struct scripted {
	const uint64_t *v;
	size_t n, i;
};

static uint64_t scripted_next(void *ctx)
{
	struct scripted *s = ctx;

	if (s->i >= s->n)
		fail_msg("the rng was asked for value %zu of %zu", s->i + 1, s->n);
	return s->v[s->i++];
}

static void test_rng_below_rejects_the_biased_tail(void **state)
{
	static const uint64_t three[] = { 0, 5 };            /* 2^64 mod 3 = 1: 0 is refused */
	static const uint64_t big[] = { 0, (1ULL << 63) - 2, (1ULL << 63) - 1 };
	struct scripted s = { three, 2, 0 };
	struct test_rng r;
	long count[6] = { 0 };

	(void)state;
	assert_int_equal(rng_below(scripted_next, &s, 3), 2);
	assert_int_equal(s.i, 2);
	s = (struct scripted){ big, 3, 0 };                  /* n = 2^63+1 refuses below 2^63-1 */
	assert_int_equal(rng_below(scripted_next, &s, (1ULL << 63) + 1), (1ULL << 63) - 1);
	assert_int_equal(s.i, 3);
	s = (struct scripted){ three, 0, 0 };
	assert_int_equal(rng_below(scripted_next, &s, 1), 0);   /* asks for nothing */
	assert_int_equal(rng_below(scripted_next, &s, 0), 0);

	test_rng_seed(&r, 0xa000);
	for (int i = 0; i < 600000; i++)
		count[rng_below(test_rng_next, &r, 6)]++;
	assert_true(chi_square(count, 6, 600000) <= 35.89);
}

static uint64_t stuck_rng(void *ctx)
{
	return *(const uint64_t *)ctx;
}

static void test_broken_rng_fails_instead_of_hanging(void **state)
{
	static const uint64_t values[] = { 0, UINT64_MAX, 1ULL << 63 };
	int32_t dob = caldate_from_ymd(1985, 3, 12);
	struct question q;

	(void)state;
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		uint64_t v = values[i];
		assert_int_equal(challenge_generate(&q, QUESTION_DATE, MODE_CHOICE, 4, dob, stuck_rng,
		                                    &v), -1);
		assert_int_equal(q.n_options, 0);
		assert_int_equal(challenge_generate(&q, QUESTION_SUM, MODE_CHOICE, 8, dob, stuck_rng,
		                                    &v), -1);
		assert_int_equal(challenge_generate(&q, QUESTION_SUM, MODE_ENTRY, 4, dob, stuck_rng,
		                                    &v), 0);          /* needs no randomness */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_below_rejects_the_biased_tail),
		cmocka_unit_test(test_date_fair_for_each_birth_date),
		cmocka_unit_test(test_date_fair_with_2_and_8_choices),
		cmocka_unit_test(test_sum_fair_over_random_birth_dates),
		cmocka_unit_test(test_unfair_schemes_are_caught),
		cmocka_unit_test(test_options_distinct_and_in_range),
		cmocka_unit_test(test_check_accepts_exactly_the_right_answer),
		cmocka_unit_test(test_option_values),
		cmocka_unit_test(test_check_refuses_garbage),
		cmocka_unit_test(test_check_refuses_corrupt_questions),
		cmocka_unit_test(test_entry_mode),
		cmocka_unit_test(test_answer_key_agrees_with_check),
		cmocka_unit_test(test_generate_refuses_bad_arguments),
		cmocka_unit_test(test_broken_rng_fails_instead_of_hanging),
	};

	return cmocka_run_group_tests_name("challenge", tests, NULL, NULL);
}
