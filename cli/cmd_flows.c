/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_flows.c - `npshim flows`: query recorded flows from one or more node databases. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "audit/record.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/flows_explain.h"
#include "cli/offline.h"
#include "core/flags.h"
#include "policy/objects.h"
#include "store/query.h"

#define FLOWS_DEFAULT_LIMIT 100

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: npshim flows --db PATH [--db PATH...] [-n NS | -A] [--pod NAME]\n"
		"                    [--from X] [--to Y] [--port N[/PROTO]]\n"
		"                    [--verdict deny|would-deny|allow] [--policy NAME]\n"
		"                    [--since WHEN] [--until WHEN]\n"
		"                    [--group-by src|dst|pair|port|policy]\n"
		"                    [--output table|json|csv] [--limit N] [--follow]\n"
		"                    [--explain --cluster PATH...]\n"
		"       npshim flows --db PATH [--db PATH...] --sql 'SELECT ...' [--output ...]\n"
		"\n"
		"Show the flows recorded by 'npshim run --db'. Each row is one minute of one\n"
		"flow: source and destination workload, protocol, port, verdict and the\n"
		"deciding policies, with a count and sampled pods and IPs. Several --db (one\n"
		"per node, at most %d) are merged into one answer.\n"
		"\n"
		"  --db PATH              a flow database (read-only; repeatable)\n"
		"  -n, --namespace NS     flows with a source or destination in NS\n"
		"  -A, --all-namespaces   every namespace (the default)\n"
		"  --pod [NS/]NAME        flows where NAME is among the sampled pods\n"
		"  --from X, --to Y       source / destination: NS/NAME, NAME or NS/ (the whole\n"
		"                         namespace); NAME is a workload name (Deployment,\n"
		"                         StatefulSet, CronJob, ... or a bare pod), a sampled\n"
		"                         pod name, or an IP\n"
		"  --port N[/PROTO]       destination port, optionally TCP, UDP or SCTP\n"
		"  --verdict V            deny, would-deny or allow\n"
		"  --policy [NS/]NAME     flows this policy decided\n"
		"  --since WHEN           rows last seen at or after WHEN: a duration back from\n"
		"                         now (90s, 15m, 1h, 7d) or RFC 3339 time\n"
		"  --until WHEN           rows first seen before WHEN (same forms)\n"
		"  --group-by KEY         sum per src, dst, pair (src and dst), port (dst and\n"
		"                         port) or policy, biggest first; FLOWS counts the\n"
		"                         distinct flows (peer, port, verdict, policies) in it\n"
		"  --output FORMAT        table (default), json (an array; with --follow one\n"
		"                         object per line) or csv\n"
		"  --limit N              the newest N rows or N biggest groups (default %d;\n"
		"                         0 = all)\n"
		"  --follow               after the newest rows, print rows as they land\n"
		"  --explain              for each deny and would-deny row, the closest rule of\n"
		"                         the isolating policies and the part that failed, as\n"
		"                         'npshim explain' finds them against --cluster (a\n"
		"                         WHY column; \"explain\" in JSON and CSV)\n"
		"  --cluster PATH         the cluster files to explain against (repeatable)\n"
		"  --sql STATEMENT        run one read-only SELECT over the views flows and\n"
		"                         runs (see docs/schema.md)\n"
		"\n"
		"Exit status: 0 success (also when nothing matches), 2 bad usage or an\n"
		"unreadable database, 3 runtime failure.\n",
		STORE_READER_MAX, FLOWS_DEFAULT_LIMIT);
}

enum output { OUT_TABLE, OUT_JSON, OUT_CSV };

/* --explain: the cluster denied rows are explained against (cli/flows_explain.c). */
static struct flows_explain *explainer;

/* ---- shared formatting ---- */

static void fmt_time_ms(int64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char base[32];

	gmtime_r(&s, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", base, (int)(ms % 1000));
}

static void fmt_time_s(int64_t s, char *buf, size_t len)
{
	time_t t = (time_t)s;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Short local-free form for the table: "11-28 17:26". */
static void fmt_time_short(int64_t s, char *buf, size_t len)
{
	time_t t = (time_t)s;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%m-%d %H:%M", &tm);
}

static bool parse_when(const char *flag, const char *text, int64_t now, int64_t *out)
{
	uint64_t d;

	if (flag_parse_duration(text, &d)) {
		if (d > (uint64_t)now) {
			fprintf(stderr, "npshim flows: %s: '%s' reaches back before 1970\n", flag, text);
			return false;
		}
		*out = now - (int64_t)d;
		return true;
	}
	if (flag_parse_rfc3339(text, out))
		return true;
	fprintf(stderr,
		"npshim flows: %s: '%s' is neither a duration back from now (90s, 15m, 1h, 7d, "
		"1h30m) nor an RFC 3339 time (2026-11-28T17:00:00Z)\n",
		flag, text);
	return false;
}

/* ---- collected rows ---- */

struct cell {
	char *name;
	enum store_val_type type;
	int64_t i;
	double d;
	char *s;
};

struct rows {
	size_t ncols;
	char **names;
	struct cell **rows; /* each ncols cells */
	size_t n, cap;
	bool oom;
};

static int collect(void *ctx, size_t ncols, const char *const *names, const struct store_val *vals)
{
	struct rows *rs = ctx;
	struct cell *row;

	if (!rs->names) {
		rs->ncols = ncols;
		rs->names = calloc(ncols ? ncols : 1, sizeof(char *));
		if (!rs->names)
			goto oom;
		for (size_t c = 0; c < ncols; c++)
			if (!(rs->names[c] = strdup(names[c])))
				goto oom;
	}
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct cell **r = realloc(rs->rows, cap * sizeof(*r));

		if (!r)
			goto oom;
		rs->rows = r;
		rs->cap = cap;
	}
	row = calloc(ncols ? ncols : 1, sizeof(*row));
	if (!row)
		goto oom;
	rs->rows[rs->n++] = row;
	for (size_t c = 0; c < ncols; c++) {
		row[c].type = vals[c].type;
		row[c].i = vals[c].i;
		row[c].d = vals[c].d;
		if (vals[c].type == STORE_VAL_TEXT && !(row[c].s = strdup(vals[c].s)))
			goto oom;
	}
	return 0;
oom:
	rs->oom = true;
	return -1;
}

static void rows_free(struct rows *rs)
{
	for (size_t r = 0; r < rs->n; r++) {
		for (size_t c = 0; c < rs->ncols; c++)
			free(rs->rows[r][c].s);
		free(rs->rows[r]);
	}
	for (size_t c = 0; rs->names && c < rs->ncols; c++)
		free(rs->names[c]);
	free(rs->names);
	free(rs->rows);
	memset(rs, 0, sizeof(*rs));
}

static const struct cell *col(const struct rows *rs, const struct cell *row, const char *name)
{
	for (size_t c = 0; c < rs->ncols; c++)
		if (strcmp(rs->names[c], name) == 0)
			return &row[c];
	return NULL;
}

static const char *col_s(const struct rows *rs, const struct cell *row, const char *name)
{
	const struct cell *c = col(rs, row, name);

	return c && c->type == STORE_VAL_TEXT ? c->s : "";
}

static int64_t col_i(const struct rows *rs, const struct cell *row, const char *name)
{
	const struct cell *c = col(rs, row, name);

	return c && c->type == STORE_VAL_INT ? c->i : 0;
}

static void explain_input(const struct rows *rs, const struct cell *row, struct flows_explain_row *in)
{
	in->verdict = col_s(rs, row, "verdict");
	in->protocol = col_s(rs, row, "protocol");
	in->port = col_i(rs, row, "port");
	in->src_ns = col_s(rs, row, "src_namespace");
	in->src_kind = col_s(rs, row, "src_kind");
	in->src_name = col_s(rs, row, "src_name");
	in->src_ips = col_s(rs, row, "src_ips");
	in->dst_ns = col_s(rs, row, "dst_namespace");
	in->dst_kind = col_s(rs, row, "dst_kind");
	in->dst_name = col_s(rs, row, "dst_name");
	in->dst_ips = col_s(rs, row, "dst_ips");
}

static char *explain_text(const struct rows *rs, const struct cell *row)
{
	struct flows_explain_row in;

	explain_input(rs, row, &in);
	return flows_explain_text(explainer, &in);
}

/* ---- JSON and CSV ---- */

static bool is_list_col(const char *name)
{
	return strcmp(name, "policies") == 0 || strcmp(name, "src_ips") == 0 ||
	       strcmp(name, "src_pods") == 0 || strcmp(name, "dst_ips") == 0 ||
	       strcmp(name, "dst_pods") == 0;
}

static bool is_ms_col(const char *name)
{
	return strcmp(name, "first_seen") == 0 || strcmp(name, "last_seen") == 0;
}

static bool is_hidden_col(const char *name, bool raw)
{
	return !raw && (strcmp(name, "id") == 0 || strcmp(name, "db") == 0 || strcmp(name, "fkey") == 0);
}

static cJSON *split_list(const char *s)
{
	cJSON *arr = cJSON_CreateArray();

	while (arr && s && *s) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char *item = strndup(s, n);

		if (!item)
			break;
		cJSON_AddItemToArray(arr, cJSON_CreateString(item));
		free(item);
		s = e ? e + 1 : NULL;
	}
	return arr;
}

/* One row as an object. raw (--sql) keeps every column as it came; flow
 * rows get lists as arrays and times as RFC 3339. */
static cJSON *row_json(const struct rows *rs, const struct cell *row, bool raw)
{
	cJSON *o = cJSON_CreateObject();

	for (size_t c = 0; o && c < rs->ncols; c++) {
		const char *name = rs->names[c];
		const struct cell *v = &row[c];
		char tbuf[40];

		if (is_hidden_col(name, raw))
			continue;
		if (!raw && strcmp(name, "minute") == 0 && v->type == STORE_VAL_INT) {
			fmt_time_s(v->i, tbuf, sizeof(tbuf));
			cJSON_AddStringToObject(o, name, tbuf);
		} else if (!raw && is_ms_col(name) && v->type == STORE_VAL_INT) {
			fmt_time_ms(v->i, tbuf, sizeof(tbuf));
			cJSON_AddStringToObject(o, name, tbuf);
		} else if (!raw && is_list_col(name) && v->type == STORE_VAL_TEXT) {
			cJSON_AddItemToObject(o, name, split_list(v->s));
		} else {
			switch (v->type) {
			case STORE_VAL_INT:
				cJSON_AddNumberToObject(o, name, (double)v->i);
				break;
			case STORE_VAL_REAL:
				cJSON_AddNumberToObject(o, name, v->d);
				break;
			case STORE_VAL_TEXT:
				cJSON_AddStringToObject(o, name, v->s);
				break;
			default:
				cJSON_AddNullToObject(o, name);
				break;
			}
		}
	}
	return o;
}

static void csv_field(const char *s)
{
	if (strpbrk(s, ",\"\n\r")) {
		putchar('"');
		for (; *s; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	} else {
		fputs(s, stdout);
	}
}

static void csv_header(const struct rows *rs, bool raw)
{
	bool first = true;

	for (size_t c = 0; c < rs->ncols; c++) {
		if (is_hidden_col(rs->names[c], raw))
			continue;
		if (!first)
			putchar(',');
		csv_field(rs->names[c]);
		first = false;
	}
	if (explainer && !raw)
		fputs(",explain", stdout);
	putchar('\n');
}

static void csv_row(const struct rows *rs, const struct cell *row, bool raw)
{
	bool first = true;

	for (size_t c = 0; c < rs->ncols; c++) {
		const struct cell *v = &row[c];
		char buf[64];

		if (is_hidden_col(rs->names[c], raw))
			continue;
		if (!first)
			putchar(',');
		first = false;
		if (!raw && strcmp(rs->names[c], "minute") == 0 && v->type == STORE_VAL_INT) {
			fmt_time_s(v->i, buf, sizeof(buf));
			csv_field(buf);
		} else if (!raw && is_ms_col(rs->names[c]) && v->type == STORE_VAL_INT) {
			fmt_time_ms(v->i, buf, sizeof(buf));
			csv_field(buf);
		} else if (v->type == STORE_VAL_INT) {
			printf("%lld", (long long)v->i);
		} else if (v->type == STORE_VAL_REAL) {
			printf("%.17g", v->d);
		} else if (v->type == STORE_VAL_TEXT) {
			csv_field(v->s);
		}
	}
	if (explainer && !raw) {
		char *why = explain_text(rs, row);

		putchar(',');
		csv_field(why ? why : "");
		free(why);
	}
	putchar('\n');
}

/* ---- table ---- */

static size_t term_width(void)
{
	struct winsize ws;
	const char *env = getenv("COLUMNS");
	uint64_t v;

	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	if (env && flag_parse_u64(env, 40, 1000, &v))
		return (size_t)v;
	return 80;
}

struct table {
	size_t ncols;
	const char *hdr[12];
	bool flex[12];   /* may shrink */
	bool right[12];  /* numbers */
	char **cells;    /* nrows * ncols */
	size_t nrows, cap;
	bool no_header;  /* --follow: the header was printed with the first rows */
};

static void table_add(struct table *t, char **vals)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * t->ncols * sizeof(char *));

		if (!c) {
			for (size_t i = 0; i < t->ncols; i++)
				free(vals[i]);
			return;
		}
		t->cells = c;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = vals[i] ? vals[i] : strdup("");
	t->nrows++;
}

static void table_print(struct table *t)
{
	size_t w[12] = { 0 }, total = 0, width = term_width();

	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->hdr[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t l = strlen(t->cells[r * t->ncols + c]);

			if (l > w[c])
				w[c] = l;
		}
		total += w[c] + (c ? 2 : 0);
	}
	/* Shrink the widest flexible column until the table fits (or every
	 * flexible column is down to 12). */
	while (total > width) {
		size_t best = t->ncols;

		for (size_t c = 0; c < t->ncols; c++)
			if (t->flex[c] && w[c] > 12 && (best == t->ncols || w[c] > w[best]))
				best = c;
		if (best == t->ncols)
			break;
		w[best]--;
		total--;
	}
	for (size_t r = t->no_header ? 1 : 0; r <= t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = r ? t->cells[(r - 1) * t->ncols + c] : t->hdr[c];
			size_t l = strlen(s);
			bool last = c + 1 == t->ncols;

			if (c)
				fputs("  ", stdout);
			if (l > w[c]) {
				/* Cut, and say so with a trailing '~'. */
				printf("%.*s~", (int)(w[c] - 1), s);
			} else if (t->right[c]) {
				printf("%*s", (int)w[c], s);
			} else if (last) {
				fputs(s, stdout); /* no trailing blanks */
			} else {
				printf("%-*s", (int)w[c], s);
			}
		}
		putchar('\n');
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static char *endpoint_text(const char *ns, const char *kind, const char *name)
{
	if (strcmp(kind, "External") == 0)
		return xasprintf("ext:%s", name);
	if (strcmp(kind, "Node") == 0)
		return xasprintf("node:%s", name);
	return xasprintf("%s/%s", ns, name);
}

static char *port_text(const char *proto, int64_t port)
{
	if (strcmp(proto, "ICMP") == 0 || strcmp(proto, "ICMPv6") == 0)
		return strdup(proto);
	return xasprintf("%lld/%s", (long long)port, proto);
}

static void table_flows(const struct rows *rs, bool header)
{
	struct table t = { .ncols = explainer ? 9 : 8,
			   .hdr = { "MINUTE", "SOURCE", "DESTINATION", "PORT", "VERDICT", "DIR", "COUNT",
				    "POLICIES", "WHY" },
			   .flex = { false, true, true, false, false, false, false, true, true },
			   .right = { false, false, false, false, false, false, true, false, false },
			   .no_header = !header };

	for (size_t r = 0; r < rs->n; r++) {
		const struct cell *row = rs->rows[r];
		char tbuf[32], *v[9];

		fmt_time_short(col_i(rs, row, "minute"), tbuf, sizeof(tbuf));
		v[0] = strdup(tbuf);
		v[1] = endpoint_text(col_s(rs, row, "src_namespace"), col_s(rs, row, "src_kind"),
				     col_s(rs, row, "src_name"));
		v[2] = endpoint_text(col_s(rs, row, "dst_namespace"), col_s(rs, row, "dst_kind"),
				     col_s(rs, row, "dst_name"));
		v[3] = port_text(col_s(rs, row, "protocol"), col_i(rs, row, "port"));
		v[4] = strdup(col_s(rs, row, "verdict"));
		v[5] = strdup(col_s(rs, row, "direction"));
		v[6] = xasprintf("%lld", (long long)col_i(rs, row, "count"));
		v[7] = strdup(*col_s(rs, row, "policies") ? col_s(rs, row, "policies") : "-");
		if (explainer)
			v[8] = explain_text(rs, row);
		table_add(&t, v);
	}
	table_print(&t);
}

static void table_groups(const struct rows *rs, int group)
{
	struct table t = { 0 };
	size_t k = 0;

	if (group == 1 || group == 3)
		t.hdr[k] = "SOURCE", t.flex[k++] = true;
	if (group == 2 || group == 3 || group == 4)
		t.hdr[k] = "DESTINATION", t.flex[k++] = true;
	if (group == 4)
		t.hdr[k++] = "PORT";
	if (group == 5)
		t.hdr[k] = "POLICIES", t.flex[k++] = true;
	t.hdr[k++] = "VERDICT";
	t.hdr[k] = "COUNT", t.right[k++] = true;
	t.hdr[k] = "FLOWS", t.right[k++] = true;
	t.hdr[k++] = "FIRST";
	t.hdr[k++] = "LAST";
	t.ncols = k;
	for (size_t r = 0; r < rs->n; r++) {
		const struct cell *row = rs->rows[r];
		char tbuf[32], *v[12];
		size_t i = 0;

		if (group == 1 || group == 3)
			v[i++] = endpoint_text(col_s(rs, row, "src_namespace"), col_s(rs, row, "src_kind"),
					       col_s(rs, row, "src_name"));
		if (group == 2 || group == 3 || group == 4)
			v[i++] = endpoint_text(col_s(rs, row, "dst_namespace"), col_s(rs, row, "dst_kind"),
					       col_s(rs, row, "dst_name"));
		if (group == 4)
			v[i++] = port_text(col_s(rs, row, "protocol"), col_i(rs, row, "port"));
		if (group == 5)
			v[i++] = strdup(*col_s(rs, row, "policies") ? col_s(rs, row, "policies") : "-");
		v[i++] = strdup(col_s(rs, row, "verdict"));
		v[i++] = xasprintf("%lld", (long long)col_i(rs, row, "count"));
		v[i++] = xasprintf("%lld", (long long)col_i(rs, row, "flows"));
		fmt_time_short(col_i(rs, row, "first_seen") / 1000, tbuf, sizeof(tbuf));
		v[i++] = strdup(tbuf);
		fmt_time_short(col_i(rs, row, "last_seen") / 1000, tbuf, sizeof(tbuf));
		v[i++] = strdup(tbuf);
		table_add(&t, v);
	}
	table_print(&t);
}

static void table_raw(const struct rows *rs)
{
	size_t ncols = rs->ncols > 12 ? 12 : rs->ncols;
	struct table t = { .ncols = ncols };

	if (rs->ncols > 12)
		fprintf(stderr, "npshim flows: the table shows the first 12 columns; use --output json or csv for all\n");
	for (size_t c = 0; c < ncols; c++) {
		t.hdr[c] = rs->names[c];
		t.flex[c] = true;
	}
	for (size_t r = 0; r < rs->n; r++) {
		char *v[12];

		for (size_t c = 0; c < ncols; c++) {
			const struct cell *x = &rs->rows[r][c];

			switch (x->type) {
			case STORE_VAL_INT: v[c] = xasprintf("%lld", (long long)x->i); break;
			case STORE_VAL_REAL: v[c] = xasprintf("%g", x->d); break;
			case STORE_VAL_TEXT: v[c] = strdup(x->s); break;
			default: v[c] = strdup("NULL"); break;
			}
		}
		table_add(&t, v);
	}
	table_print(&t);
}

static void print_rows(const struct rows *rs, enum output out, int group, bool raw,
		       bool header, bool json_lines)
{
	if (out == OUT_JSON) {
		if (!json_lines)
			fputs("[", stdout);
		for (size_t r = 0; r < rs->n; r++) {
			cJSON *o = row_json(rs, rs->rows[r], raw);
			char *s;

			if (o && explainer && !raw && !group) {
				struct flows_explain_row in;
				cJSON *e;

				explain_input(rs, rs->rows[r], &in);
				e = flows_explain_json(explainer, &in);
				if (e)
					cJSON_AddItemToObject(o, "explain", e);
			}
			s = o ? cJSON_PrintUnformatted(o) : NULL;

			if (json_lines)
				printf("%s\n", s ? s : "{}");
			else
				printf("%s\n%s", r ? "," : "", s ? s : "{}");
			free(s);
			cJSON_Delete(o);
		}
		if (!json_lines)
			fputs("]\n", stdout);
	} else if (out == OUT_CSV) {
		if (header && rs->names)
			csv_header(rs, raw);
		for (size_t r = 0; r < rs->n; r++)
			csv_row(rs, rs->rows[r], raw);
	} else if (raw) {
		table_raw(rs);
	} else if (group) {
		table_groups(rs, group);
	} else {
		table_flows(rs, header);
	}
	fflush(stdout);
}

/* ---- the command ---- */

static bool parse_endpoint(const char *flag, const char *text, struct store_endpoint_filter *out)
{
	const char *slash = strchr(text, '/');

	if (!*text) {
		fprintf(stderr, "npshim flows: %s: empty value\n", flag);
		return false;
	}
	if (slash && strchr(slash + 1, '/')) {
		fprintf(stderr, "npshim flows: %s: '%s' has more than one '/'; use NS/NAME, NAME or NS/\n",
			flag, text);
		return false;
	}
	if (slash == text) {
		fprintf(stderr, "npshim flows: %s: '%s' has an empty namespace\n", flag, text);
		return false;
	}
	if (slash) {
		out->ns = strndup(text, (size_t)(slash - text));
		out->name = slash[1] ? slash + 1 : NULL;
	} else {
		out->name = text;
	}
	return true;
}

static bool parse_port(const char *text, int *port, int *proto)
{
	const char *slash = strchr(text, '/');
	char num[16];
	uint64_t v;
	size_t n = slash ? (size_t)(slash - text) : strlen(text);

	if (n == 0 || n >= sizeof(num))
		goto bad;
	memcpy(num, text, n);
	num[n] = '\0';
	if (!flag_parse_u64(num, 0, 65535, &v))
		goto bad;
	*port = (int)v;
	if (slash) {
		if (strcasecmp(slash + 1, "tcp") == 0)
			*proto = POL_PROTO_TCP;
		else if (strcasecmp(slash + 1, "udp") == 0)
			*proto = POL_PROTO_UDP;
		else if (strcasecmp(slash + 1, "sctp") == 0)
			*proto = POL_PROTO_SCTP;
		else
			goto bad;
	}
	return true;
bad:
	fprintf(stderr, "npshim flows: --port: '%s' is not PORT or PORT/PROTO "
			"(0-65535; TCP, UDP or SCTP), e.g. 443 or 53/UDP\n", text);
	return false;
}

static volatile sig_atomic_t follow_stop;

static void on_stop(int sig)
{
	follow_stop = 1;
}

static int follow(const char *const *dbs, size_t n_dbs, struct store_filter *f,
		  enum output out, const struct rows *first)
{
	int64_t ids[STORE_READER_MAX] = { 0 };
	char err[512];
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (size_t r = 0; r < first->n; r++) {
		int64_t db = col_i(first, first->rows[r], "db"), id = col_i(first, first->rows[r], "id");

		if (db >= 0 && (size_t)db < n_dbs && id > ids[db])
			ids[db] = id;
	}
	f->after_id = ids;
	while (!follow_stop) {
		struct timespec ts = { 1, 0 };
		struct store_reader *rd;
		int64_t max[STORE_READER_MAX];
		struct rows rs = { 0 };
		int rc;

		nanosleep(&ts, NULL);
		if (follow_stop)
			break;
		/* Reopen each time: the writer may have moved a corrupted
		 * file aside and started a new one at the same path. */
		rd = store_reader_open(dbs, n_dbs, err, sizeof(err));
		if (!rd) {
			/* Transient (the file is being replaced): say it, keep going. */
			fprintf(stderr, "npshim flows: --follow: %s; retrying\n", err);
			continue;
		}
		rc = store_query_max_ids(rd, max, err, sizeof(err));
		for (size_t i = 0; rc == 0 && i < n_dbs; i++)
			if (max[i] < ids[i])
				ids[i] = 0; /* a new file: start from its beginning */
		if (rc == 0)
			rc = store_query_flows(rd, f, STORE_GROUP_NONE, 0, collect, &rs, err, sizeof(err));
		store_reader_close(rd);
		if (rc != 0) {
			fprintf(stderr, "npshim flows: --follow: %s; retrying\n", rs.oom ? "out of memory" : err);
			rows_free(&rs);
			continue;
		}
		for (size_t r = 0; r < rs.n; r++) {
			int64_t db = col_i(&rs, rs.rows[r], "db"), id = col_i(&rs, rs.rows[r], "id");

			if (db >= 0 && (size_t)db < n_dbs && id > ids[db])
				ids[db] = id;
		}
		if (rs.n)
			print_rows(&rs, out, 0, false, false, true);
		rows_free(&rs);
		if (ferror(stdout))
			break; /* the reader went away (EPIPE) */
	}
	f->after_id = NULL;
	return CMD_OK;
}

int cmd_flows(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "all-namespaces", no_argument, NULL, 'A' },
		{ "pod", required_argument, NULL, 'p' },
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "port", required_argument, NULL, 'P' },
		{ "verdict", required_argument, NULL, 'v' },
		{ "policy", required_argument, NULL, 'y' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "group-by", required_argument, NULL, 'g' },
		{ "output", required_argument, NULL, 'o' },
		{ "limit", required_argument, NULL, 'l' },
		{ "follow", no_argument, NULL, 'f' },
		{ "sql", required_argument, NULL, 'q' },
		{ "explain", no_argument, NULL, 'x' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const groups[] = { NULL, "src", "dst", "pair", "port", "policy" };
	const char *dbs[STORE_READER_MAX + 1];
	struct store_filter f = { .port = -1, .verdict = -1 };
	char *from_ns = NULL, *to_ns = NULL, *pod_ns = NULL;
	const char *sql = NULL;
	size_t n_dbs = 0;
	int64_t now = (int64_t)time(NULL);
	uint64_t limit = FLOWS_DEFAULT_LIMIT;
	enum output out = OUT_TABLE;
	struct store_reader *rd = NULL;
	struct rows rs = { 0 };
	bool all_ns = false, do_follow = false, do_explain = false;
	struct offline_paths clusters = { 0 };
	int group = 0, c, ret = CMD_USAGE;
	char err[512];

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:Ao:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (n_dbs == STORE_READER_MAX) {
				fprintf(stderr, "npshim flows: --db: at most %d databases at once\n",
					STORE_READER_MAX);
				goto out;
			}
			dbs[n_dbs++] = optarg;
			break;
		case 'n':
			if (!*optarg) {
				fprintf(stderr, "npshim flows: -n: empty namespace\n");
				goto out;
			}
			f.ns = optarg;
			break;
		case 'A':
			all_ns = true;
			break;
		case 'p': {
			const char *slash = strchr(optarg, '/');

			if (!*optarg || (slash && (slash == optarg || !slash[1] || strchr(slash + 1, '/')))) {
				fprintf(stderr, "npshim flows: --pod: '%s' is not NAME or NS/NAME\n", optarg);
				goto out;
			}
			if (slash) {
				free(pod_ns);
				pod_ns = strndup(optarg, (size_t)(slash - optarg));
				f.pod = slash + 1;
			} else {
				f.pod = optarg;
			}
			break;
		}
		case 'F':
			free(from_ns);
			f.from.ns = NULL;
			if (!parse_endpoint("--from", optarg, &f.from))
				goto out;
			from_ns = (char *)f.from.ns;
			break;
		case 'T':
			free(to_ns);
			f.to.ns = NULL;
			if (!parse_endpoint("--to", optarg, &f.to))
				goto out;
			to_ns = (char *)f.to.ns;
			break;
		case 'P':
			if (!parse_port(optarg, &f.port, &f.proto))
				goto out;
			break;
		case 'v': {
			enum audit_rec_verdict v;

			if (!audit_rec_verdict_parse(optarg, &v)) {
				fprintf(stderr, "npshim flows: --verdict: '%s' is not deny, would-deny or allow\n",
					optarg);
				goto out;
			}
			f.verdict = (int)v;
			break;
		}
		case 'y':
			if (!*optarg) {
				fprintf(stderr, "npshim flows: --policy: empty name\n");
				goto out;
			}
			f.policy = optarg;
			break;
		case 's':
			if (!parse_when("--since", optarg, now, &f.since))
				goto out;
			break;
		case 'u':
			if (!parse_when("--until", optarg, now, &f.until))
				goto out;
			break;
		case 'g':
			group = 0;
			for (int i = 1; i < 6; i++)
				if (strcmp(optarg, groups[i]) == 0)
					group = i;
			if (!group) {
				fprintf(stderr, "npshim flows: --group-by: '%s' is not src, dst, pair, port or policy\n",
					optarg);
				goto out;
			}
			break;
		case 'o':
			if (strcmp(optarg, "table") == 0)
				out = OUT_TABLE;
			else if (strcmp(optarg, "json") == 0)
				out = OUT_JSON;
			else if (strcmp(optarg, "csv") == 0)
				out = OUT_CSV;
			else {
				fprintf(stderr, "npshim flows: --output: '%s' is not table, json or csv\n", optarg);
				goto out;
			}
			break;
		case 'l':
			if (!flag_parse_u64(optarg, 0, INT64_MAX, &limit)) {
				fprintf(stderr, "npshim flows: --limit: '%s' is not a number (0 = all)\n", optarg);
				goto out;
			}
			break;
		case 'f':
			do_follow = true;
			break;
		case 'q':
			sql = optarg;
			break;
		case 'x':
			do_explain = true;
			break;
		case 'c':
			if (!*optarg || offline_paths_add(&clusters, optarg) < 0) {
				fprintf(stderr, "npshim flows: --cluster: %s\n", *optarg ? strerror(errno) : "empty path");
				goto out;
			}
			break;
		case 'h':
			usage(stdout);
			ret = CMD_OK;
			goto out;
		default:
			cli_option_error("flows", c, argv);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "npshim flows: unexpected argument '%s'\n", argv[optind]);
		goto out;
	}
	if (n_dbs == 0) {
		fprintf(stderr, "npshim flows: --db PATH is required (the file given to 'npshim run --db')\n");
		goto out;
	}
	if (all_ns && f.ns) {
		fprintf(stderr, "npshim flows: -n and -A exclude each other\n");
		goto out;
	}
	if (pod_ns) {
		if (f.ns && strcmp(f.ns, pod_ns) != 0) {
			fprintf(stderr, "npshim flows: --pod %s/%s contradicts -n %s\n", pod_ns, f.pod, f.ns);
			goto out;
		}
		f.ns = pod_ns;
	}
	if (f.since && f.until && f.since >= f.until) {
		fprintf(stderr, "npshim flows: --since must be before --until\n");
		goto out;
	}
	if (sql && (f.ns || f.pod || f.from.ns || f.from.name || f.to.ns || f.to.name || f.port >= 0 ||
		    f.verdict >= 0 || f.policy || f.since || f.until || group || do_follow)) {
		fprintf(stderr, "npshim flows: --sql takes no filter, --group-by or --follow: "
				"write them in the statement\n");
		goto out;
	}
	if (do_explain != (clusters.n > 0)) {
		fprintf(stderr, "npshim flows: --explain and --cluster PATH go together: the cluster "
				"files are what denied rows are explained against\n");
		goto out;
	}
	if (do_explain && (sql || group)) {
		fprintf(stderr, "npshim flows: --explain explains flow rows; it takes no --sql or --group-by\n");
		goto out;
	}
	if (do_explain) {
		ret = flows_explain_load(clusters.v, clusters.n, &explainer);
		if (ret != CMD_OK)
			goto out;
		ret = CMD_USAGE;
	}
	if (do_follow && group) {
		fprintf(stderr, "npshim flows: --follow lists rows as they land; it cannot be combined "
				"with --group-by\n");
		goto out;
	}
	rd = store_reader_open(dbs, n_dbs, err, sizeof(err));
	if (!rd) {
		fprintf(stderr, "npshim flows: %s\n", err);
		ret = CMD_USAGE;
		goto out;
	}
	if (sql) {
		c = store_query_sql(rd, sql, collect, &rs, err, sizeof(err));
		if (c != 0) {
			fprintf(stderr, "npshim flows: %s\n", rs.oom ? "out of memory" : err);
			ret = rs.oom ? CMD_FAILURE : CMD_USAGE;
			goto out;
		}
		print_rows(&rs, out, 0, true, true, false);
		ret = CMD_OK;
		goto out;
	}
	c = store_query_flows(rd, &f, (enum store_group)group, limit, collect, &rs, err, sizeof(err));
	if (c != 0) {
		fprintf(stderr, "npshim flows: %s\n", rs.oom ? "out of memory" : err);
		ret = CMD_FAILURE;
		goto out;
	}
	store_reader_close(rd);
	rd = NULL;
	print_rows(&rs, out, group, false, true, do_follow);
	if (out == OUT_TABLE && !do_follow && rs.n == 0)
		fprintf(stderr, "npshim flows: no flow matches\n");
	else if (out == OUT_TABLE && !do_follow && limit && rs.n == limit)
		fprintf(stderr, "npshim flows: showing the newest %llu; --limit N or 0 for more\n",
			(unsigned long long)limit);
	ret = CMD_OK;
	if (do_follow)
		ret = follow(dbs, n_dbs, &f, out, &rs);
out:
	rows_free(&rs);
	store_reader_close(rd);
	free(from_ns);
	free(to_ns);
	free(pod_ns);
	flows_explain_free(explainer);
	explainer = NULL;
	offline_paths_free(&clusters);
	return ret;
}
