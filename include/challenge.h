/*
 * challenge: question generation and answer checking. Pure: no I/O, no locks,
 * randomness comes from an injected rng_fn, so it is unit-tested statistically
 * and fuzzed on its own.
 *
 * Fairness (SPEC §6): `choices` candidates plus "none of the options". With
 * probability 1/(choices+1) the true answer is left out and "none" is right.
 * Candidates are exchangeable with the true answer (dates: uniform in a 121-day
 * window placed uniformly at random around the truth; sums: month+day of a
 * random calendar day, the whole set resampled until distinct and weighted so
 * the truth stays exactly exchangeable: see challenge.c), and shuffled uniformly.
 * Entry mode fills kind, mode and truth only (n_options = 0).
 */
#ifndef MNMFA_CHALLENGE_H
#define MNMFA_CHALLENGE_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#define CHALLENGE_MIN_CHOICES 2
#define CHALLENGE_MAX_CHOICES 8
#define CHALLENGE_DATE_WINDOW 121
#define CHALLENGE_ANSWER_MAX 16          /* longest answer text incl. NUL */

typedef uint64_t (*rng_fn)(void *ctx);    /* uniform 64-bit values */

enum question_kind { QUESTION_DATE = 0, QUESTION_SUM = 1 };
enum challenge_mode { MODE_CHOICE = 0, MODE_ENTRY = 1 };

/* The facts of one question: small, fixed size, no pointers. */
struct question {
	uint8_t kind;            /* enum question_kind */
	uint8_t mode;            /* enum challenge_mode */
	uint8_t n_options;       /* == choices */
	uint8_t correct;         /* index of the right option, or n_options for "none" */
	int32_t truth;           /* day number (date) or month+day (sum) */
	int32_t options[CHALLENGE_MAX_CHOICES];
};

/* Uniform integer in [0, n) without modulo bias. n > 0. */
uint64_t rng_below(rng_fn rng, void *ctx, uint64_t n);

/* Fills q for a person born on day number dob. choices in 2..8. 0, or -1 on bad
 * args or an rng so broken that rejection sampling never ends. */
int challenge_generate(struct question *q, enum question_kind kind, enum challenge_mode mode,
                       int choices, int32_t dob, rng_fn rng, void *ctx);

/* The submitted value for option i ("YYYY-MM-DD" or the number), into buf. */
void challenge_option_value(const struct question *q, int i, char *buf, size_t len);

/* true if `answer` (len bytes, not NUL-terminated) is right. In choice mode the
 * answer is an option value or "none"; in entry mode the date or the sum. Does
 * not branch on where the right answer sits beyond comparing fixed-size values. */
bool challenge_check(const struct question *q, const char *answer, size_t len);

/* The answer check as a string comparison, for a store that cannot run C (a
 * Redis script): challenge_check(q, a, len) is true exactly when
 * challenge_answer_key(challenge_expected_key(q, x), a, len) is a non-empty
 * string equal to x. The forms an answer is read in: */
enum challenge_key {
	CHALLENGE_KEY_TEXT = 0,          /* as typed (choice mode: an option value or "none") */
	CHALLENGE_KEY_DATE = 1,          /* a date, as its day number */
	CHALLENGE_KEY_SUM = 2,           /* a sum, as its value */
	CHALLENGE_KEY_FORMS = 3
};
/* Writes q's expected key into x and returns the form answers are read in;
 * for a malformed q, x is "" (which no answer matches). */
enum challenge_key challenge_expected_key(const struct question *q, char x[CHALLENGE_ANSWER_MAX]);
/* The answer read in `form` into out, or "" when it is not of that form. */
void challenge_answer_key(enum challenge_key form, const char *answer, size_t len,
                          char out[CHALLENGE_ANSWER_MAX]);

#endif
