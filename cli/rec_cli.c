/* SPDX-License-Identifier: Apache-2.0 */
/* cli/rec_cli.c - flows from the store, cluster files, YAML out (recommend, replay). */
#include "cli/rec_cli.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "audit/record.h"
#include "cli/commands.h"
#include "core/log.h"
#include "k8s/decode.h"
#include "k8s/diag.h"
#include "k8s/files.h"
#include "k8s/jsonpos.h"
#include "k8s/yamlpos.h"
#include "policy/model.h"
#include "store/query.h"

/* ---- flows ------------------------------------------------------------ */

struct read_ctx {
	const char *cmd;
	struct audit_obs_set *set;
	size_t rows;
	int ret;
	char err[512];
};

static const char *col_text(const struct store_val *v)
{
	return v->type == STORE_VAL_TEXT && v->s ? v->s : "";
}

static bool labels_valid(const char *text, const char *what, char *err, size_t errlen)
{
	struct pol_labels l = { 0 };
	bool ok = true;

	if (!*text)
		return true;
	if (!audit_obs_parse_labels(text, &l)) {
		snprintf(err, errlen, "%s: malformed label list '%.80s'", what, text);
		pol_labels_clear(&l);
		return false;
	}
	for (size_t i = 0; ok && i < l.n; i++) {
		const char *why = k8s_check_label_key(l.items[i].key);

		if (why) {
			snprintf(err, errlen, "%s: label key '%.80s': %s", what, l.items[i].key, why);
			ok = false;
		} else if ((why = k8s_check_label_value(l.items[i].value))) {
			snprintf(err, errlen, "%s: label %s value '%.80s': %s", what, l.items[i].key,
				 l.items[i].value, why);
			ok = false;
		}
	}
	pol_labels_clear(&l);
	return ok;
}

static bool is_pod_kind(const char *kind)
{
	return strcmp(kind, "Node") != 0 && strcmp(kind, "External") != 0;
}

static bool kind_valid(const char *k)
{
	if (!*k || strlen(k) > 63)
		return false;
	for (; *k; k++)
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9')))
			return false;
	return true;
}

static bool ep_valid(const char *side, const char *ns, const char *kind, const char *name,
		     char *err, size_t errlen)
{
	const char *why;
	struct pol_ip ip;

	if (!is_pod_kind(kind)) {
		if (!pol_ip_parse(name, &ip)) {
			snprintf(err, errlen, "%s_name '%.80s': a %s endpoint is named by its address", side,
				 name, kind);
			return false;
		}
		return true;
	}
	if (!kind_valid(kind)) {
		snprintf(err, errlen, "%s_kind '%.80s' is no kind name", side, kind);
		return false;
	}
	if ((why = k8s_check_dns1123_label(ns))) {
		snprintf(err, errlen, "%s_ns '%.80s': %s", side, ns, why);
		return false;
	}
	if ((why = k8s_check_dns1123_subdomain(name))) {
		snprintf(err, errlen, "%s_name '%.80s': %s", side, name, why);
		return false;
	}
	return true;
}

/* Sampled pod names name rebuilt pods. */
static bool pods_valid(const char *text, const char *what, char *err, size_t errlen)
{
	while (*text) {
		size_t len = strcspn(text, ",");
		char name[300];
		const char *why;

		if (len >= sizeof(name)) {
			snprintf(err, errlen, "%s: a pod name longer than 253 bytes", what);
			return false;
		}
		memcpy(name, text, len);
		name[len] = '\0';
		if ((why = k8s_check_dns1123_subdomain(name))) {
			snprintf(err, errlen, "%s: '%.80s': %s", what, name, why);
			return false;
		}
		text += len;
		if (*text == ',')
			text++;
	}
	return true;
}

bool rec_cli_row_valid(const struct audit_obs_row *r, char *err, size_t errlen)
{
	return pods_valid(r->src_pods, "src_pods", err, errlen) &&
	       pods_valid(r->dst_pods, "dst_pods", err, errlen) &&
	       ep_valid("src", r->src_ns, r->src_kind, r->src_name, err, errlen) &&
	       ep_valid("dst", r->dst_ns, r->dst_kind, r->dst_name, err, errlen) &&
	       labels_valid(r->src_labels, "src_labels", err, errlen) &&
	       labels_valid(r->dst_labels, "dst_labels", err, errlen);
}

static int read_row(void *vctx, size_t ncols, const char *const *names,
		    const struct store_val *vals)
{
	struct read_ctx *c = vctx;
	struct audit_obs_row r = { 0 };
	enum audit_rec_verdict verdict;
	const char *proto = col_text(&vals[6]);
	uint64_t num;

	(void)names;
	c->rows++;
	if (ncols < 19)
		goto bad;
	r.src_ns = col_text(&vals[0]);
	r.src_kind = col_text(&vals[1]);
	r.src_name = col_text(&vals[2]);
	r.dst_ns = col_text(&vals[3]);
	r.dst_kind = col_text(&vals[4]);
	r.dst_name = col_text(&vals[5]);
	r.proto = pol_proto_parse(proto);
	if (!r.proto) {
		char *end;

		num = strtoull(proto, &end, 10);
		if (!*proto || *end || num == 0 || num > 255)
			goto bad;
		r.proto = (uint8_t)num;
	}
	if (vals[7].type != STORE_VAL_INT || vals[7].i < 0 || vals[7].i > 65535)
		goto bad;
	r.port = (uint16_t)vals[7].i;
	if (!audit_rec_verdict_parse(col_text(&vals[8]), &verdict))
		goto bad;
	r.verdict = verdict;
	r.mode = strcmp(col_text(&vals[9]), "audit") == 0 ? AUDIT_REC_AUDIT : AUDIT_REC_ENFORCE;
	if (vals[10].type != STORE_VAL_INT || vals[10].i < 0 ||
	    vals[11].type != STORE_VAL_INT || vals[12].type != STORE_VAL_INT)
		goto bad;
	r.count = (uint64_t)vals[10].i;
	r.first_ms = vals[11].i;
	r.last_ms = vals[12].i;
	r.src_ips = col_text(&vals[13]);
	r.src_pods = col_text(&vals[14]);
	r.src_labels = col_text(&vals[15]);
	r.dst_ips = col_text(&vals[16]);
	r.dst_pods = col_text(&vals[17]);
	r.dst_labels = col_text(&vals[18]);
	if (!rec_cli_row_valid(&r, c->err, sizeof(c->err))) {
		c->ret = CMD_USAGE;
		return 1;
	}
	if (!audit_obs_add_row(c->set, &r, c->err, sizeof(c->err))) {
		c->ret = errno == ENOMEM ? CMD_FAILURE : CMD_USAGE;
		return 1;
	}
	return 0;
bad:
	snprintf(c->err, sizeof(c->err), "a column has an unexpected type or value");
	c->ret = CMD_USAGE;
	return 1;
}

int rec_cli_read_flows(const char *cmd, struct store_reader *r, int64_t since_s,
		       struct audit_obs_set *out, size_t *rows)
{
	struct read_ctx c = { .cmd = cmd, .set = out, .ret = CMD_OK };
	char sql[768], err[512] = "";
	int ret;

	/* Through the documented view: it is the stable interface. */
	snprintf(sql, sizeof(sql),
		 "SELECT src_namespace, src_kind, src_name, dst_namespace, dst_kind, dst_name, "
		 "protocol, port, verdict, mode, count, first_seen_ms, last_seen_ms, "
		 "src_ips, src_pods, src_labels, dst_ips, dst_pods, dst_labels "
		 "FROM flows WHERE last_seen_ms >= %" PRId64 " ORDER BY minute_unix, id",
		 since_s * 1000);
	ret = store_query_sql(r, sql, read_row, &c, err, sizeof(err));
	*rows = c.rows;
	if (ret < 0) {
		log_errx("%s: reading recorded flows: %s", cmd, err);
		return CMD_USAGE;
	}
	if (c.ret != CMD_OK) {
		log_errx("%s: recorded flow row %zu: %s", cmd, c.rows, c.err);
		return c.ret;
	}
	audit_obs_set_sort(out);
	return CMD_OK;
}

struct scope_ctx {
	size_t denied, all;
};

static int scope_row(void *vctx, size_t ncols, const char *const *names,
		     const struct store_val *vals)
{
	struct scope_ctx *c = vctx;

	(void)names;
	if (ncols >= 2 && vals[0].type == STORE_VAL_TEXT && vals[1].type == STORE_VAL_INT) {
		if (strcmp(vals[0].s, "denied") == 0)
			c->denied += (size_t)vals[1].i;
		else if (strcmp(vals[0].s, "all") == 0)
			c->all += (size_t)vals[1].i;
	}
	return 0;
}

int rec_cli_record_scope(const char *cmd, struct store_reader *r, int64_t since_s,
			 size_t *denied, size_t *all)
{
	struct scope_ctx c = { 0 };
	char sql[256], err[512] = "";

	snprintf(sql, sizeof(sql),
		 "SELECT record, count(*) AS n FROM runs WHERE last_seen >= %" PRId64 " GROUP BY record",
		 since_s * 1000);
	if (store_query_sql(r, sql, scope_row, &c, err, sizeof(err)) < 0) {
		log_errx("%s: reading recording periods: %s", cmd, err);
		return -1;
	}
	*denied = c.denied;
	*all = c.all;
	return 0;
}

/* ---- cluster ----------------------------------------------------------- */

int rec_cli_model(const char *cmd, const struct pol_cluster *a, const struct pol_cluster *b,
		  struct pol_model **out)
{
	struct pol_cluster *c = pol_cluster_clone(a);
	char err[1024] = "";

	*out = NULL;
	if (c && b) {
		struct pol_cluster *cb = pol_cluster_clone(b);

		if (!cb || pol_cluster_merge(c, cb) < 0) {
			pol_cluster_free(cb);
			pol_cluster_free(c);
			c = NULL;
		} else {
			pol_cluster_free(cb);
		}
	}
	if (!c) {
		log_err("%s: copying the cluster", cmd);
		return CMD_FAILURE;
	}
	errno = 0;
	*out = pol_model_build(c, NULL, err, sizeof(err));
	if (!*out) {
		if (!err[0]) {
			log_err("%s: compiling the policy model", cmd);
			return CMD_FAILURE;
		}
		log_errx("%s: %s", cmd, err);
		return CMD_USAGE;
	}
	return CMD_OK;
}

/* ---- YAML -------------------------------------------------------------- */

/* An IPv4 CIDR: digits and dots, one slash, digits. Never a number. */
static bool v4_cidr(const char *s)
{
	const char *slash = strchr(s, '/');

	return slash && slash > s && slash[1] && strspn(s, "0123456789.") == (size_t)(slash - s) &&
	       strspn(slash + 1, "0123456789") == strlen(slash + 1);
}

static bool plain_ok(const char *s)
{
	if (v4_cidr(s))
		return true;
	static const char *const words[] = {
		"true", "false", "yes", "no", "on", "off", "y", "n", "null",
	};

	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_' || *p == '/'))
			return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return false;
	return true;
}

static void scalar(FILE *f, const char *s)
{
	if (plain_ok(s)) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void value_scalar(FILE *f, const cJSON *v)
{
	if (cJSON_IsString(v))
		scalar(f, v->valuestring);
	else if (cJSON_IsBool(v))
		fputs(cJSON_IsTrue(v) ? "true" : "false", f);
	else if (cJSON_IsNumber(v))
		fprintf(f, "%.15g", v->valuedouble);
	else
		fputs("null", f);
}

struct yctx {
	FILE *f;
	const char *comment_key;
	char *const *comments;
	size_t n_comments;
};

static void write_map(struct yctx *y, const cJSON *obj, int indent, bool first_inline);

static bool is_empty_container(const cJSON *v)
{
	return (cJSON_IsObject(v) || cJSON_IsArray(v)) && !v->child;
}

static void comment_line(FILE *f, int indent, const char *text)
{
	fprintf(f, "%*s# ", indent, "");
	for (const char *p = text; *p; p++)
		fputc(*p == '\n' ? ' ' : *p, f);
	fputc('\n', f);
}

static void write_seq(struct yctx *y, const cJSON *arr, int indent, bool commented)
{
	size_t i = 0;

	for (const cJSON *it = arr->child; it; it = it->next, i++) {
		if (commented && i < y->n_comments && y->comments[i])
			comment_line(y->f, indent, y->comments[i]);
		fprintf(y->f, "%*s- ", indent, "");
		if (cJSON_IsObject(it) && it->child) {
			write_map(y, it, indent + 2, true);
		} else if (is_empty_container(it)) {
			fputs(cJSON_IsArray(it) ? "[]\n" : "{}\n", y->f);
		} else if (cJSON_IsArray(it)) {
			/* Not produced by npshim; flow style keeps it valid. */
			char *s = cJSON_PrintUnformatted(it);

			fprintf(y->f, "%s\n", s ? s : "[]");
			free(s);
		} else {
			value_scalar(y->f, it);
			fputc('\n', y->f);
		}
	}
}

static void write_map(struct yctx *y, const cJSON *obj, int indent, bool first_inline)
{
	bool first = true;

	for (const cJSON *m = obj->child; m; m = m->next) {
		if (!(first && first_inline))
			fprintf(y->f, "%*s", indent, "");
		first = false;
		scalar(y->f, m->string);
		fputc(':', y->f);
		if (is_empty_container(m)) {
			fputs(cJSON_IsArray(m) ? " []\n" : " {}\n", y->f);
		} else if (cJSON_IsObject(m)) {
			fputc('\n', y->f);
			write_map(y, m, indent + 2, false);
		} else if (cJSON_IsArray(m)) {
			fputc('\n', y->f);
			write_seq(y, m, indent,
				  y->comment_key && strcmp(m->string, y->comment_key) == 0);
		} else {
			fputc(' ', y->f);
			value_scalar(y->f, m);
			fputc('\n', y->f);
		}
	}
}

void rec_yaml_write(FILE *f, const cJSON *obj, const char *comment_key,
		    char *const *item_comments, size_t n_comments)
{
	struct yctx y = { .f = f, .comment_key = comment_key, .comments = item_comments,
			  .n_comments = n_comments };

	write_map(&y, obj, 0, false);
}

void rec_yaml_comment(FILE *f, const char *text)
{
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len)
			fprintf(f, "# %.*s\n", (int)len, p);
		else
			fputs("#\n", f);
		p += len;
		if (*p == '\n')
			p++;
	}
}

char *rec_cli_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (s >= 86400)
		snprintf(buf, len, "%" PRId64 "d %" PRId64 "h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%" PRId64 "h %" PRId64 "m", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, len, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
	else
		snprintf(buf, len, "%" PRId64 "s", s);
	return buf;
}

/* ---- proposals: the delete annotation ------------------------------------ */

struct scan {
	const char *cmd;
	const char *path;
	struct rec_cli_names *out;
	int ret;
};

static int names_add(struct rec_cli_names *n, const char *ns, const char *name)
{
	char *s;
	char **v;

	if (asprintf(&s, "%s/%s", ns, name) < 0)
		return -1;
	for (size_t i = 0; i < n->n; i++)
		if (strcmp(n->v[i], s) == 0) {
			free(s);
			return 0;
		}
	v = realloc(n->v, (n->n + 1) * sizeof(*v));
	if (!v) {
		free(s);
		return -1;
	}
	n->v = v;
	v[n->n++] = s;
	return 0;
}

void rec_cli_names_free(struct rec_cli_names *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i]);
	free(n->v);
	memset(n, 0, sizeof(*n));
}

static void scan_object(struct scan *sc, const cJSON *obj)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
	const cJSON *md, *ann, *del, *name, *ns;

	if (!cJSON_IsObject(obj))
		return;
	if (cJSON_IsString(kind) && strcmp(kind->valuestring, "List") != 0 &&
	    strcmp(kind->valuestring, "NetworkPolicyList") != 0 &&
	    strcmp(kind->valuestring, "NetworkPolicy") != 0)
		return;
	if (cJSON_IsString(kind) && strcmp(kind->valuestring, "NetworkPolicy") != 0) {
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(obj, "items"), *it;

		cJSON_ArrayForEach(it, items)
			scan_object(sc, it);
		return;
	}
	md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
	del = cJSON_GetObjectItemCaseSensitive(ann, REC_DELETE_ANNOTATION);
	if (!del)
		return;
	name = cJSON_GetObjectItemCaseSensitive(md, "name");
	ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
	if (!cJSON_IsString(del) || strcmp(del->valuestring, "true") != 0) {
		log_errx("%s: %s: NetworkPolicy %s: annotation %s must be \"true\" (a string)", sc->cmd,
			 sc->path, cJSON_IsString(name) ? name->valuestring : "?", REC_DELETE_ANNOTATION);
		sc->ret = CMD_USAGE;
		return;
	}
	if (!cJSON_IsString(name))
		return; /* the loader reports the missing name */
	if (names_add(sc->out, cJSON_IsString(ns) ? ns->valuestring : "default", name->valuestring) < 0)
		sc->ret = CMD_FAILURE;
}

static int scan_doc(cJSON *root, unsigned line, void *arg)
{
	(void)line;
	scan_object(arg, root);
	return 0;
}

static void scan_file(struct scan *sc, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t len = 0;
	struct k8s_diag diag;

	if (!f)
		return; /* the loader reports it */
	{
		FILE *m = open_memstream(&data, &len);
		char buf[65536];
		size_t n;

		if (!m) {
			fclose(f);
			sc->ret = CMD_FAILURE;
			return;
		}
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, m);
		fclose(m);
	}
	fclose(f);
	if (!data) {
		sc->ret = CMD_FAILURE;
		return;
	}
	sc->path = path;
	k8s_diag_init(&diag);
	{
		size_t skip = strspn(data, " \t\r\n");

		if (data[skip] == '{' || data[skip] == '[') {
			cJSON *root = k8s_json_parse(data, len, path, NULL, &diag);

			if (root) {
				scan_object(sc, root);
				cJSON_Delete(root);
			} else {
				k8s_yaml_parse(data, len, path, NULL, &diag, scan_doc, sc);
			}
		} else {
			k8s_yaml_parse(data, len, path, NULL, &diag, scan_doc, sc);
		}
	}
	/* Syntax errors are the loader's to report, with every other one. */
	k8s_diag_free(&diag);
	free(data);
}

static bool manifest_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".json") == 0) ||
				  (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
				  (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

int rec_cli_scan_deletes(const char *cmd, const char *const *paths, size_t n,
			 struct rec_cli_names *out)
{
	struct scan sc = { .cmd = cmd, .out = out, .ret = CMD_OK };

	for (size_t i = 0; i < n && sc.ret != CMD_FAILURE; i++) {
		struct stat st;

		if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			struct dirent **ents = NULL;
			int k = scandir(paths[i], &ents, NULL, alphasort);

			for (int j = 0; j < k; j++) {
				char *p;

				if (manifest_name(ents[j]->d_name) &&
				    asprintf(&p, "%s/%s", paths[i], ents[j]->d_name) >= 0) {
					scan_file(&sc, p);
					free(p);
				}
				free(ents[j]);
			}
			free(ents);
		} else {
			scan_file(&sc, paths[i]);
		}
	}
	return sc.ret;
}
