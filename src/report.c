/*
 * report: the dispute report as one HTML document. Written for a person who
 * was not there -- a compliance officer, a support lead, a lawyer -- and for
 * paper: the layout is a single column that fits A4 and Letter (no fixed page
 * size: the printer's paper decides, the margins are in millimetres), tables
 * repeat their header on each page, rows never split across pages, and long
 * hashes wrap. Text comes from one table per language; values from the log
 * go through html_escape only (esc below), numbers are printed as numbers.
 *
 * Checkpoints (signed chain heads) do not exist yet: the chain section says
 * so plainly and is where the signature and the key's fingerprint will go.
 */
#include "report.h"
#include "config.h"
#include "page.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum rs {
	R_TITLE, R_ABOUT, R_SELECTION, R_BY_PAGE, R_BY_PHONE, R_BY_CLIENT, R_PERIOD, R_START, R_NOW,
	R_DATABASE, R_MADE, R_SUMMARY, R_ROWS_MATCH, R_ROWS_SHOWN, R_NONE, R_CHAIN, R_CHAIN_OK,
	R_CHAIN_BROKEN, R_CHECKPOINT, R_NO_CHECKPOINT, R_CP_INTACT, R_CP_UNSIGNED, R_CP_ROW,
	R_CP_AT, R_TIMELINE, R_EVENT,
	R_CLIENT, R_PHONE, R_FLOW, R_IP, R_STATUS, R_TIME, R_OK, R_STATE, R_EVIDENCE, R_PAGE_ID,
	R_NODE, R_UA, R_SCREEN, R_LANG,
	R_TZ, R_PLATFORM, R_QUESTION, R_MODE, R_CHOICES, R_NO_DEVICE, R_ROW_ID, R_POSITION,
	R_OF, R_PREV, R_HASH, R_ST_OK, R_ST_BAD, R_ST_AFTER, R_FAILING, R_VERIFY, R_VERIFY_P1,
	R_VERIFY_P2, R_VERIFY_P3, R_VERIFY_P4, R_FOOTER, R_COUNT
};

static const char *const text_es[R_COUNT] = {
	[R_TITLE] = "Informe de evidencia",
	[R_ABOUT] = "mnmfa es el servicio que confirma por un segundo canal que quien responde a un "
	            "chatbot de WhatsApp es la persona dueña del número: envía un enlace de un solo "
	            "uso y de vida corta y registra la respuesta. Cada evento queda en un registro de "
	            "auditoría encadenado con SHA-256, en el que cualquier cambio, borrado o "
	            "reordenamiento de una fila se detecta.",
	[R_SELECTION] = "Selección", [R_BY_PAGE] = "Enlace (page id)", [R_BY_PHONE] = "Teléfono",
	[R_BY_CLIENT] = "Cliente (client_id)", [R_PERIOD] = "Periodo", [R_START] = "el inicio",
	[R_NOW] = "ahora", [R_DATABASE] = "Base de datos", [R_MADE] = "Informe generado",
	[R_SUMMARY] = "Resumen", [R_ROWS_MATCH] = "eventos coinciden con la selección",
	[R_ROWS_SHOWN] = "se muestran los primeros",
	[R_NONE] = "Ninguna fila del registro de auditoría coincide con esta selección.",
	[R_CHAIN] = "Cadena de hashes", [R_CHAIN_OK] = "íntegra: filas verificadas",
	[R_CHAIN_BROKEN] = "ROTA en la fila", [R_CHECKPOINT] = "Punto de control firmado",
	[R_NO_CHECKPOINT] = "Aún no hay punto de control firmado. La cabeza de la cadena (mnmfa "
	                    "audit head) puede anclarse fuera del servidor.",
	[R_CP_INTACT] = "puntos de control firmados (Ed25519, audit_key) íntegros; cubren las filas "
	                "hasta la id",
	[R_CP_UNSIGNED] = "filas más nuevas aún sin firmar",
	[R_CP_ROW] = "aún sin firmar", [R_CP_AT] = "firmado el",
	[R_TIMELINE] = "Cronología",
	[R_TIME] = "Hora (UTC / local)", [R_OK] = "íntegra", [R_STATE] = "Estado",
	[R_EVENT] = "Evento", [R_CLIENT] = "Cliente", [R_PHONE] = "Teléfono", [R_FLOW] = "Flujo",
	[R_IP] = "IP vista por el servidor", [R_STATUS] = "Cadena", [R_EVIDENCE] = "Evidencia por evento",
	[R_PAGE_ID] = "Enlace (page id)", [R_NODE] = "Nodo que lo registró",
	[R_UA] = "Navegador (user agent)", [R_SCREEN] = "Pantalla",
	[R_LANG] = "Idioma", [R_TZ] = "Zona horaria", [R_PLATFORM] = "Plataforma",
	[R_QUESTION] = "Pregunta (tipo)", [R_MODE] = "Modo",
	[R_CHOICES] = "Opciones mostradas", [R_NO_DEVICE] = "sin datos del dispositivo",
	[R_ROW_ID] = "Fila", [R_POSITION] = "Posición en la cadena", [R_OF] = "de",
	[R_PREV] = "prev_hash", [R_HASH] = "hash", [R_ST_OK] = "íntegra hasta esta fila",
	[R_ST_BAD] = "FALLA", [R_ST_AFTER] = "no cubierta: la cadena está rota antes",
	[R_FAILING] = "filas mostradas fallan la verificación",
	[R_VERIFY] = "Cómo verificarlo de forma independiente",
	[R_VERIFY_P1] = "Con una copia de la base de datos, cualquiera puede comprobar la cadena con:",
	[R_VERIFY_P2] = "Cada fila guarda hash = SHA-256 de su codificación canónica seguida del "
	                "hash de la fila anterior (64 ceros para la primera). La codificación escribe "
	                "cada campo como longitud-en-bytes \":\" bytes (\"-\" si está vacío), en el "
	                "orden id, ts, event, page_id, client_id, phone, flow, ip, user_agent, refdata, "
	                "y termina con prev_hash; una fila que nombra su nodo empieza con \"v2\" y "
	                "lleva el nodo tras refdata. Un programa propio puede recalcularla a partir de:",
	[R_VERIFY_P3] = "Si un hash de este informe no coincide con el que calcula quien verifica, "
	                "la fila fue modificada después de escribirse.",
	[R_VERIFY_P4] = "La fecha de nacimiento y las opciones de la pregunta nunca se guardan; "
	                "por eso no aparecen aquí.",
	[R_FOOTER] = "Generado por mnmfa audit report",
};

static const char *const text_en[R_COUNT] = {
	[R_TITLE] = "Evidence report",
	[R_ABOUT] = "mnmfa is the service that confirms through a second channel that whoever "
	            "answers a WhatsApp chatbot owns the phone number: it sends a short-lived, "
	            "single-use link and records the answer. Every event is kept in an audit log "
	            "chained with SHA-256, in which any change, deletion or reordering of a row is "
	            "detected.",
	[R_SELECTION] = "Selection", [R_BY_PAGE] = "Link (page id)", [R_BY_PHONE] = "Phone",
	[R_BY_CLIENT] = "Client (client_id)", [R_PERIOD] = "Period", [R_START] = "the start",
	[R_NOW] = "now", [R_DATABASE] = "Database", [R_MADE] = "Report made",
	[R_SUMMARY] = "Summary", [R_ROWS_MATCH] = "events match the selection",
	[R_ROWS_SHOWN] = "showing the first",
	[R_NONE] = "No row of the audit log matches this selection.",
	[R_CHAIN] = "Hash chain", [R_CHAIN_OK] = "intact: rows checked",
	[R_CHAIN_BROKEN] = "BROKEN at row", [R_CHECKPOINT] = "Signed checkpoint",
	[R_NO_CHECKPOINT] = "No signed checkpoint yet. The chain's head (mnmfa audit head) can be "
	                    "anchored outside the server.",
	[R_CP_INTACT] = "signed checkpoints (Ed25519, audit_key) intact, covering rows up to id",
	[R_CP_UNSIGNED] = "newer rows not signed yet",
	[R_CP_ROW] = "not signed yet", [R_CP_AT] = "signed at",
	[R_TIMELINE] = "Timeline",
	[R_TIME] = "Time (UTC / local)", [R_OK] = "intact", [R_STATE] = "State",
	[R_EVENT] = "Event", [R_CLIENT] = "Client", [R_PHONE] = "Phone", [R_FLOW] = "Flow",
	[R_IP] = "IP as the server saw it", [R_STATUS] = "Chain", [R_EVIDENCE] = "Evidence per event",
	[R_PAGE_ID] = "Link (page id)", [R_NODE] = "Node that recorded it",
	[R_UA] = "Browser (user agent)", [R_SCREEN] = "Screen",
	[R_LANG] = "Language", [R_TZ] = "Time zone", [R_PLATFORM] = "Platform",
	[R_QUESTION] = "Question (kind)", [R_MODE] = "Mode",
	[R_CHOICES] = "Choices shown", [R_NO_DEVICE] = "no device details",
	[R_ROW_ID] = "Row", [R_POSITION] = "Position in the chain", [R_OF] = "of",
	[R_PREV] = "prev_hash", [R_HASH] = "hash", [R_ST_OK] = "intact up to this row",
	[R_ST_BAD] = "FAILS", [R_ST_AFTER] = "not covered: the chain is broken earlier",
	[R_FAILING] = "rows shown fail verification",
	[R_VERIFY] = "How to verify it independently",
	[R_VERIFY_P1] = "With a copy of the database, anyone can check the chain with:",
	[R_VERIFY_P2] = "Each row stores hash = SHA-256 of its canonical encoding followed by the "
	                "previous row's hash (64 zeros for the first). The encoding writes every "
	                "field as length-in-bytes \":\" bytes (\"-\" when empty), in the order id, ts, "
	                "event, page_id, client_id, phone, flow, ip, user_agent, refdata, and ends "
	                "with prev_hash; a row that names its node starts with \"v2\" and carries "
	                "the node after refdata. A program of one's own can recompute it from:",
	[R_VERIFY_P3] = "If a hash in this report differs from the one the verifier computes, the "
	                "row was changed after it was written.",
	[R_VERIFY_P4] = "The date of birth and the question's options are never stored, so they "
	                "are not here.",
	[R_FOOTER] = "Made by mnmfa audit report",
};

/* Print-first CSS: one column, mm margins, no fixed paper size. */
static const char report_css[] =
	"@page{margin:14mm 12mm}"
	"*{box-sizing:border-box}"
	"body{font:10.5pt/1.4 -apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif;"
	"color:#111;margin:0 auto;max-width:190mm;padding:8mm 4mm}"
	"h1{font-size:19pt;margin:0 0 2mm}h2{font-size:13pt;margin:7mm 0 2mm;"
	"border-bottom:.4mm solid #333;padding-bottom:1mm;break-after:avoid}"
	"h3{font-size:11pt;margin:0 0 1.5mm}"
	"p{margin:0 0 2mm}.about{color:#333}"
	"table{border-collapse:collapse;width:100%;margin:0 0 3mm}"
	"thead{display:table-header-group}"
	"th,td{border:.25mm solid #999;padding:1mm 1.5mm;text-align:left;vertical-align:top;"
	"overflow-wrap:break-word}"
	"table.timeline{font-size:9pt}td.t{white-space:nowrap}"
	"th{background:#eee;font-weight:600}"
	"tr,.event{break-inside:avoid}"
	"dl{display:grid;grid-template-columns:46mm 1fr;gap:.6mm 3mm;margin:0}"
	"dt{color:#444}dd{margin:0;overflow-wrap:anywhere}"
	".event{border:.25mm solid #999;padding:2mm 3mm;margin:0 0 3mm}"
	"code,.mono{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:8.5pt;"
	"overflow-wrap:anywhere;word-break:break-all}"
	"pre{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:8.5pt;"
	"background:#f4f4f4;padding:2mm;white-space:pre-wrap;overflow-wrap:anywhere;"
	"break-inside:avoid}"
	".ok{color:#0a5d1a}.bad{color:#a00;font-weight:700}"
	"footer{margin-top:8mm;color:#555;font-size:9pt}"
	"@media screen{body{padding:10mm 6mm}}";

struct out {
	FILE *f;
	const char *const *t;
};

/* Every value from the log goes out through here. */
static void esc(struct out *o, const char *s)
{
	size_t n, cap;
	char *buf;

	if (s == NULL) {
		fputs("&mdash;", o->f);
		return;
	}
	n = strlen(s);
	cap = n * 6 + 1;          /* the longest replacement, &quot;, is six bytes */
	buf = xmalloc(cap);
	if (html_escape(s, n, buf, cap) >= 0)
		fputs(buf, o->f);
	free(buf);
}

static void put(struct out *o, enum rs k)
{
	esc(o, o->t[k]);
}

static void dl_item(struct out *o, enum rs label, const char *value, bool mono)
{
	fputs("<dt>", o->f);
	put(o, label);
	fputs(mono ? "</dt><dd class=\"mono\">" : "</dt><dd>", o->f);
	esc(o, value);
	fputs("</dd>", o->f);
}

static void chain_cell(struct out *o, const struct timeline *tl, const struct timeline_row *r)
{
	if (r->chain == TIMELINE_CHAIN_OK) {
		fputs("<span class=\"ok\">", o->f);
		put(o, R_ST_OK);
	} else {
		fputs("<span class=\"bad\">", o->f);
		put(o, R_ST_BAD);
		fputs(": ", o->f);
		if (r->chain == TIMELINE_CHAIN_BAD)
			esc(o, tl->verify.reason);
		else
			put(o, R_ST_AFTER);
	}
	fputs("</span>", o->f);
}

static void section_selection(struct out *o, const struct timeline *tl, const struct report_meta *m)
{
	static const enum rs by[] = {
		[TIMELINE_PAGE] = R_BY_PAGE, [TIMELINE_PHONE] = R_BY_PHONE, [TIMELINE_CLIENT] = R_BY_CLIENT,
	};
	char since[32], until[32], made[32], period[96];

	snprintf(since, sizeof since, "%s", o->t[R_START]);
	snprintf(until, sizeof until, "%s", o->t[R_NOW]);
	if (m->q->since_ms > 0)
		fmt_rfc3339_ms(m->q->since_ms, since, sizeof since);
	if (m->q->until_ms > 0)
		fmt_rfc3339_ms(m->q->until_ms, until, sizeof until);
	snprintf(period, sizeof period, "%s \xe2\x80\x94 %s", since, until);
	fmt_rfc3339_ms(m->made_ms, made, sizeof made);

	fputs("<h2>", o->f);
	put(o, R_SELECTION);
	fputs("</h2><dl>", o->f);
	dl_item(o, by[m->q->by], m->q->value, m->q->by == TIMELINE_PAGE);
	dl_item(o, R_PERIOD, period, false);
	dl_item(o, R_DATABASE, m->db_path, true);
	dl_item(o, R_MADE, made, false);
	fputs("</dl><h2>", o->f);
	put(o, R_SUMMARY);
	fprintf(o->f, "</h2><p><b>%lld</b> ", (long long)tl->matched);
	put(o, R_ROWS_MATCH);
	if ((int64_t)tl->n < tl->matched) {
		fputs("; ", o->f);
		put(o, R_ROWS_SHOWN);
		fprintf(o->f, " %zu", tl->n);
	}
	fputs(".</p>", o->f);
	if (tl->failing > 0) {
		fprintf(o->f, "<p class=\"bad\">%zu ", tl->failing);
		put(o, R_FAILING);
		fputs(".</p>", o->f);
	}
}

static void section_chain(struct out *o, const struct timeline *tl)
{
	fputs("<h2>", o->f);
	put(o, R_CHAIN);
	fputs("</h2><dl><dt>", o->f);
	put(o, R_STATE);
	fputs("</dt><dd>", o->f);
	if (tl->intact) {
		fputs("<span class=\"ok\">", o->f);
		put(o, R_CHAIN_OK);
		fprintf(o->f, " %lld</span>", (long long)tl->verify.rows);
	} else {
		fputs("<span class=\"bad\">", o->f);
		put(o, R_CHAIN_BROKEN);
		fprintf(o->f, " %lld: ", (long long)tl->verify.bad_id);
		esc(o, tl->verify.reason);
		fputs("</span>", o->f);
	}
	fputs("</dd>", o->f);
	fprintf(o->f, "<dt>head id</dt><dd>%lld</dd>", (long long)tl->verify.head_id);
	fputs("<dt>head hash</dt><dd class=\"mono\">", o->f);
	esc(o, tl->verify.head_hash);
	fputs("</dd><dt>", o->f);
	put(o, R_CHECKPOINT);
	fputs("</dt><dd>", o->f);
	if (tl->verify.checkpoints == 0) {
		put(o, R_NO_CHECKPOINT);
	} else {
		fprintf(o->f, "%lld ", (long long)tl->verify.checkpoints);
		put(o, R_CP_INTACT);
		fprintf(o->f, " %lld; %lld ", (long long)tl->verify.signed_id,
		        (long long)(tl->verify.head_id > tl->verify.signed_id ?
		                    tl->verify.head_id - tl->verify.signed_id : 0));
		put(o, R_CP_UNSIGNED);
	}
	fputs("</dd></dl>", o->f);
}

static void section_timeline(struct out *o, const struct timeline *tl)
{
	static const enum rs cols[] = { R_ROW_ID, R_TIME, R_EVENT, R_CLIENT, R_PHONE, R_FLOW, R_IP,
	                                R_STATUS };
	char local[64];

	fputs("<h2>", o->f);
	put(o, R_TIMELINE);
	fputs("</h2><table class=\"timeline\"><thead><tr>", o->f);
	for (size_t i = 0; i < ARRAY_LEN(cols); i++) {
		fputs("<th>", o->f);
		put(o, cols[i]);
		fputs("</th>", o->f);
	}
	fputs("</tr></thead><tbody>", o->f);
	for (size_t i = 0; i < tl->n; i++) {
		const struct timeline_row *r = &tl->rows[i];

		timeline_local_time(r->ts_ms, local, sizeof local);
		fprintf(o->f, "<tr><td>%lld</td><td class=\"t\">", (long long)r->id);
		esc(o, r->ts);
		fputs("<br>", o->f);
		esc(o, local);
		fputs("</td><td><b>", o->f);
		esc(o, r->event);
		fputs("</b></td><td>", o->f);
		esc(o, r->client_id);
		fputs("</td><td>", o->f);
		esc(o, r->phone);
		fputs("</td><td>", o->f);
		esc(o, r->flow);
		fputs("</td><td>", o->f);
		esc(o, r->ip);
		fputs(r->chain == TIMELINE_CHAIN_OK ? "</td><td class=\"ok\">" : "</td><td class=\"bad\">",
		      o->f);
		put(o, r->chain == TIMELINE_CHAIN_OK ? R_OK : R_ST_BAD);
		fputs("</td></tr>", o->f);
	}
	fputs("</tbody></table>", o->f);
}

static void event_block(struct out *o, const struct timeline *tl, const struct timeline_row *r)
{
	char pos[64];

	fprintf(o->f, "<div class=\"event\"><h3>%lld &middot; ", (long long)r->id);
	esc(o, r->event);
	fputs(" &middot; ", o->f);
	esc(o, r->ts);
	fputs("</h3><dl>", o->f);
	dl_item(o, R_PAGE_ID, r->page_id, true);
	if (r->node != NULL)
		dl_item(o, R_NODE, r->node, false);
	dl_item(o, R_IP, r->ip, false);
	dl_item(o, R_UA, r->user_agent, false);
	if (r->dev_screen || r->dev_lang || r->dev_tz || r->dev_platform) {
		dl_item(o, R_SCREEN, r->dev_screen, false);
		dl_item(o, R_LANG, r->dev_lang, false);
		dl_item(o, R_TZ, r->dev_tz, false);
		dl_item(o, R_PLATFORM, r->dev_platform, false);
	}
	if (r->q_kind != NULL) {
		char choices[16];

		snprintf(choices, sizeof choices, "%d", r->q_choices);
		dl_item(o, R_QUESTION, r->q_kind, false);
		dl_item(o, R_MODE, r->q_mode, false);
		if (r->q_choices > 0)
			dl_item(o, R_CHOICES, choices, false);
	}
	snprintf(pos, sizeof pos, "%lld %s %lld", (long long)r->id, o->t[R_OF],
	         (long long)tl->log_head_id);
	dl_item(o, R_POSITION, pos, false);
	dl_item(o, R_PREV, r->prev_hash, true);
	dl_item(o, R_HASH, r->hash, true);
	fputs("<dt>", o->f);
	put(o, R_STATUS);
	fputs("</dt><dd>", o->f);
	chain_cell(o, tl, r);
	fputs("</dd><dt>", o->f);
	put(o, R_CHECKPOINT);
	fputs("</dt><dd>", o->f);
	if (r->cp_id != 0) {
		fprintf(o->f, "%lld (", (long long)r->cp_id);
		put(o, R_CP_AT);
		fputc(' ', o->f);
		esc(o, r->cp_ts);
		fputc(')', o->f);
	} else {
		put(o, R_CP_ROW);
	}
	fputs("</dd></dl></div>", o->f);
}

static void section_verify(struct out *o, const struct report_meta *m)
{
	fputs("<h2>", o->f);
	put(o, R_VERIFY);
	fputs("</h2><p>", o->f);
	put(o, R_VERIFY_P1);
	fputs("</p><pre>mnmfa audit verify --db ", o->f);
	esc(o, m->db_path);
	fputs("\nmnmfa audit head --db ", o->f);
	esc(o, m->db_path);
	fputs("</pre><p>", o->f);
	put(o, R_VERIFY_P2);
	fputs("</p><pre>mnmfa audit export --format jsonl --db ", o->f);
	esc(o, m->db_path);
	fputs("</pre><p>", o->f);
	put(o, R_VERIFY_P3);
	fputs("</p><p>", o->f);
	put(o, R_VERIFY_P4);
	fputs("</p>", o->f);
}

char *report_render(const struct timeline *tl, const struct report_meta *m, size_t *len)
{
	struct out o = { .t = m->lang == LANG_EN ? text_en : text_es };
	char *doc = NULL;
	size_t n = 0;

	o.f = open_memstream(&doc, &n);
	if (o.f == NULL)
		abort();        /* only fails on out of memory, like the x* wrappers */
	fprintf(o.f, "<!doctype html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
	        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	        "<meta name=\"referrer\" content=\"no-referrer\">"
	        /* Should a value ever slip past esc(), it still runs and loads nothing. */
	        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	        "style-src 'unsafe-inline'\"><title>",
	        config_lang_names[m->lang]);
	put(&o, R_TITLE);
	fputs(" \xe2\x80\x94 mnmfa</title><style>", o.f);
	fputs(report_css, o.f);
	fputs("</style></head><body><header><h1>", o.f);
	put(&o, R_TITLE);
	fputs("</h1><p class=\"about\">", o.f);
	put(&o, R_ABOUT);
	fputs("</p></header><main>", o.f);
	section_selection(&o, tl, m);
	section_chain(&o, tl);
	if (tl->n == 0) {
		fputs("<h2>", o.f);
		put(&o, R_TIMELINE);
		fputs("</h2><p><b>", o.f);
		put(&o, R_NONE);
		fputs("</b></p>", o.f);
	} else {
		section_timeline(&o, tl);
		fputs("<h2>", o.f);
		put(&o, R_EVIDENCE);
		fputs("</h2>", o.f);
		for (size_t i = 0; i < tl->n; i++)
			event_block(&o, tl, &tl->rows[i]);
	}
	section_verify(&o, m);
	fputs("</main><footer>", o.f);
	put(&o, R_FOOTER);
	fputs("</footer></body></html>\n", o.f);
	if (fclose(o.f) != 0)
		abort();
	*len = n;
	return doc;
}
