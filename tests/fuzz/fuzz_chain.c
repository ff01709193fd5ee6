// max_len: 8192
/*
 * fuzz_chain: the audit chain's encoding and verify walk on rows made from the
 * input. Byte 0 picks a row, a field and an edit; the rest, split at NUL
 * bytes, are the text fields in order (a piece that is exactly 0x01 is a NULL
 * field), CHAIN_FIELDS a row. Checks: the encoding has the length the format
 * implies and parses back to exactly the fields it was made from (no two rows
 * encode alike); a chain built from the rows walks intact; the one edit breaks
 * it at that row and nowhere before; a walk over rows whose hashes come from
 * the input never crashes.
 */
#include "chain.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ROWS_MAX 16

struct row_data {
	struct chain_row r;
	char prev[CHAIN_HASH_HEX + 1], hash[CHAIN_HASH_HEX + 1];
};

/* Reads "-" or "N:" and N bytes at *p; 1 NULL, 0 text, -1 malformed. */
static int parse_field(const char **p, const char *end, const char **s, size_t *n)
{
	size_t len = 0;

	if (*p < end && **p == '-') {
		(*p)++;
		return 1;
	}
	if (*p >= end || **p < '0' || **p > '9')
		return -1;
	while (*p < end && **p >= '0' && **p <= '9')
		len = len * 10 + (size_t)(*(*p)++ - '0');
	if (*p >= end || *(*p)++ != ':' || (size_t)(end - *p) < len)
		return -1;
	*s = *p;
	*n = len;
	*p += len;
	return 0;
}

/* The encoding parses back into the row's id, fields and prev_hash. */
static void check_round_trip(const struct chain_row *r)
{
	size_t n = chain_encode(r, NULL, 0), m;
	char *msg = malloc(n + 1), num[24];
	const char *p = msg, *end, *s = NULL;

	if (chain_encode(r, msg, n + 1) != n)
		abort();
	end = msg + n;
	if (parse_field(&p, end, &s, &m) != 0 || m != (size_t)snprintf(num, sizeof num, "%lld",
	                                                               (long long)r->id) ||
	    memcmp(s, num, m) != 0)
		abort();
	for (int i = 0; i < CHAIN_FIELDS; i++) {
		int k = parse_field(&p, end, &s, &m);
		if (k != (r->f[i] == NULL ? 1 : 0))
			abort();
		if (k == 0 && (m != r->len[i] || memcmp(s, r->f[i], m) != 0))
			abort();
	}
	if ((size_t)(end - p) != r->prev_len || memcmp(p, r->prev_hash, r->prev_len) != 0)
		abort();
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct row_data rows[FUZZ_ROWS_MAX];
	struct chain_walk w;
	char *text;
	const char *p, *end;
	int nrows = 0, t, k;
	unsigned edit;

	if (size < 1)
		return 0;
	edit = data[0];
	text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	p = text;
	end = text + size - 1;
	memset(rows, 0, sizeof rows);
	while (nrows < FUZZ_ROWS_MAX && p < end) {
		struct chain_row *r = &rows[nrows].r;
		r->id = nrows + 1;
		for (int i = 0; i < CHAIN_FIELDS; i++) {
			size_t n = strlen(p);   /* text[size - 1] is a NUL: p stays inside */
			r->f[i] = n == 1 && p[0] == 1 ? NULL : p;
			r->len[i] = r->f[i] ? n : 0;
			p += n;             /* onto its NUL (at most end) */
			if (p < end)
				p++;
		}
		nrows++;
	}
	if (nrows == 0)
		goto out;

	/* Built the way the writer builds it: intact. */
	for (int i = 0; i < nrows; i++) {
		struct row_data *d = &rows[i];
		memcpy(d->prev, i == 0 ? chain_genesis : rows[i - 1].hash, sizeof d->prev);
		d->r.prev_hash = d->prev;
		d->r.prev_len = CHAIN_HASH_HEX;
		chain_row_hash(&d->r, d->hash);
		d->r.hash = d->hash;
		check_round_trip(&d->r);
	}
	chain_walk_init(&w);
	for (int i = 0; i < nrows; i++)
		if (chain_walk_step(&w, &rows[i].r) != 0)
			abort();
	if (w.rows != nrows || w.head_id != nrows || strcmp(w.head_hash, rows[nrows - 1].hash) != 0)
		abort();

	/* One edit of one field: broken exactly there. */
	t = (int)(edit & 0x0f) % nrows;
	k = (int)(edit >> 4) % CHAIN_FIELDS;
	{
		struct chain_row *r = &rows[t].r;
		const char *was = r->f[k];
		size_t was_len = r->len[k];

		if (r->f[k] == NULL)
			r->f[k] = "";
		else if (r->len[k] == 0)
			r->f[k] = NULL;
		else
			r->len[k]--;
		chain_walk_init(&w);
		for (int i = 0; i < nrows; i++) {
			if (chain_walk_step(&w, &rows[i].r) != 0)
				break;
		}
		if (w.bad_id != t + 1 || w.rows != t || w.reason == NULL)
			abort();
		r->f[k] = was;
		r->len[k] = was_len;
	}

	/* Hashes from the input: whatever they say, the walk stays in bounds. */
	chain_walk_init(&w);
	for (int i = 0; i < nrows; i++) {
		struct chain_row r = rows[i].r;
		r.prev_hash = r.f[0];
		r.prev_len = r.len[0];
		r.hash = r.f[1];
		if (r.f[0] != NULL && strlen(r.f[0]) != r.len[0])
			abort();
		if (chain_walk_step(&w, &r) != 0)
			break;
	}
out:
	free(text);
	return 0;
}
