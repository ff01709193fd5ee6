// max_len: 8192
/*
 * fuzz_page: the Accept-Language header (page_pick_lang) and the one HTML
 * escaper. Checks: the language is always es or en, the challenge's own
 * language always wins, and html_escape's output holds no raw < > " ' and
 * unescapes back to the input, or is -1 when it does not fit (never a cut
 * string, never a write past cap).
 */
#include "page.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_escape(const char *in, size_t len)
{
	size_t cap = len * 6 + 1;
	char *out = malloc(cap), *back = malloc(len + 1), *tight;
	long n = html_escape(in, len, out, cap);
	size_t b = 0;

	if (n < 0 || (size_t)n >= cap || out[n] != '\0')
		abort();
	for (long i = 0; i < n; i++) {
		if (out[i] == '<' || out[i] == '>' || out[i] == '"' || out[i] == '\'')
			abort();
		if (out[i] == '&') {
			static const struct { const char *ent; char c; } ents[] = {
				{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&#39;", '\'' },
			};
			size_t k;
			for (k = 0; k < 5; k++)
				if (strncmp(out + i, ents[k].ent, strlen(ents[k].ent)) == 0)
					break;
			if (k == 5)
				abort();
			back[b++] = ents[k].c;
			i += (long)strlen(ents[k].ent) - 1;
		} else {
			back[b++] = out[i];
		}
	}
	if (b != len || memcmp(back, in, len) != 0)
		abort();
	/* exactly n + 1 fits; n does not */
	tight = malloc((size_t)n + 1);
	if (html_escape(in, len, tight, (size_t)n + 1) != n || html_escape(in, len, tight, (size_t)n) != -1)
		abort();
	free(tight);
	free(out);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	enum lang l;

	memcpy(s, data, size);
	s[size] = '\0';                      /* a header value, as libmicrohttpd hands it */
	/* either the header picks a language (whatever the default) or the default holds */
	l = page_pick_lang(0xff, s, LANG_ES);
	if (l != LANG_ES && l != LANG_EN)
		abort();
	if (page_pick_lang(0xff, s, LANG_EN) != l && l != LANG_ES)
		abort();
	if (page_pick_lang(LANG_EN, s, LANG_ES) != LANG_EN || page_pick_lang(LANG_ES, s, LANG_EN) != LANG_ES)
		abort();
	check_escape((const char *)data, size);
	free(s);
	return 0;
}
