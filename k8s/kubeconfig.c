/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/kubeconfig.c - in-cluster and kubeconfig connection settings. */
#include "k8s/kubeconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "k8s/diag.h"
#include "k8s/yamlpos.h"

#define KUBECONFIG_MAX_BYTES (16u << 20)
#define KUBECONFIG_MAX_FILES 16

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int k8s_conn_opts_arg(struct k8s_conn_opts *o, int argc, char **argv, int *idx,
		      char *err, size_t errlen)
{
	static const struct {
		const char *name;
		int opt;
		bool has_arg;
	} flags[] = {
		{ "--kubeconfig", K8S_OPT_KUBECONFIG, true },
		{ "--context", K8S_OPT_CONTEXT, true },
		{ "--sa-dir", K8S_OPT_SA_DIR, true },
		{ "--in-cluster", K8S_OPT_IN_CLUSTER, false },
	};
	const char *arg = argv[*idx];

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		size_t n = strlen(flags[i].name);
		const char *val = NULL;

		if (strncmp(arg, flags[i].name, n) != 0)
			continue;
		if (arg[n] == '=' && flags[i].has_arg) {
			val = arg + n + 1;
		} else if (arg[n] != '\0') {
			continue;
		} else if (flags[i].has_arg) {
			if (*idx + 1 >= argc) {
				seterr(err, errlen, "%s needs a value", flags[i].name);
				return -1;
			}
			val = argv[++*idx];
		}
		if (flags[i].has_arg && !*val) {
			seterr(err, errlen, "%s needs a non-empty value", flags[i].name);
			return -1;
		}
		k8s_conn_opts_getopt(o, flags[i].opt, val);
		++*idx;
		return 1;
	}
	return 0;
}

bool k8s_conn_opts_getopt(struct k8s_conn_opts *o, int opt, const char *optarg)
{
	switch (opt) {
	case K8S_OPT_KUBECONFIG:
		o->kubeconfig = optarg;
		break;
	case K8S_OPT_CONTEXT:
		o->context = optarg;
		break;
	case K8S_OPT_SA_DIR:
		o->sa_dir = optarg;
		break;
	case K8S_OPT_IN_CLUSTER:
		o->in_cluster = true;
		break;
	default:
		return false;
	}
	o->given = true;
	return true;
}

/* --- base64 --- */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

char *k8s_base64_decode(const char *text, size_t *len_out)
{
	size_t cap = strlen(text) / 4 * 3 + 4, n = 0;
	unsigned acc = 0, bits = 0, pad = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		int v;

		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		if (*p == '=') {
			pad++;
			continue;
		}
		v = b64_value(*p);
		if (v < 0 || pad)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	/* 6 leftover bits can never come from whole bytes. */
	if (bits >= 6 || pad > 2)
		goto bad;
	out[n] = '\0';
	*len_out = n;
	return out;
bad:
	free(out);
	errno = EINVAL;
	return NULL;
}

/* --- YAML (or JSON, which is YAML) into cJSON --- */

struct first_doc {
	cJSON *root;
	bool many;
};

static int keep_first(cJSON *root, unsigned line, void *arg)
{
	struct first_doc *fd = arg;

	(void)line;
	if (fd->root) {
		fd->many = true;
		return 1;
	}
	/* root is the parser's; keep a copy. */
	fd->root = cJSON_Duplicate(root, 1);
	return fd->root ? 0 : 1;
}

cJSON *k8s_kubeconfig_parse(const char *text, size_t len, const char *name,
			    char *err, size_t errlen)
{
	struct first_doc fd = { 0 };
	struct k8s_diag diag;
	int rc;

	/* The manifest loader's YAML reader, so a kubeconfig is read with the
	 * same rules as kubectl's (go-yaml 1.1 scalars, anchors, merge keys,
	 * duplicate keys refused) and positions in messages. */
	k8s_diag_init(&diag);
	diag.max_kept = 1;
	rc = k8s_yaml_parse(text, len, name, NULL, &diag, keep_first, &fd);
	if (rc < 0 || diag.n_errors) {
		seterr(err, errlen, "%s", diag.n_msgs ? diag.msgs[0].text : "YAML syntax error");
		goto fail;
	}
	if (fd.many) {
		seterr(err, errlen, "%s: more than one YAML document", name);
		goto fail;
	}
	if (!fd.root) {
		seterr(err, errlen, rc == 1 ? "%s: out of memory" : "%s: empty file", name);
		goto fail;
	}
	if (!cJSON_IsObject(fd.root)) {
		seterr(err, errlen, "%s: not a kubeconfig (top level is not a mapping)", name);
		goto fail;
	}
	k8s_diag_free(&diag);
	return fd.root;
fail:
	k8s_diag_free(&diag);
	cJSON_Delete(fd.root);
	return NULL;
}

/* --- resolution --- */

void k8s_conn_free(struct k8s_conn *c)
{
	if (!c)
		return;
	free(c->server);
	free(c->ca_file);
	free(c->ca_pem);
	free(c->cert_file);
	free(c->cert_pem);
	free(c->key_file);
	free(c->key_pem);
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	free(c->token_file);
	free(c->tls_server_name);
	free(c->ns);
	free(c->source);
	free(c);
}

static char *read_small_file(const char *path, size_t max, size_t *len_out, int *err_out)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		*err_out = errno;
		return NULL;
	}
	for (;;) {
		size_t got;

		if (n + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (!nb) {
				*err_out = ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (n > max) {
			*err_out = EFBIG;
			goto fail;
		}
		if (got == 0) {
			if (ferror(f)) {
				*err_out = EIO;
				goto fail;
			}
			break;
		}
	}
	fclose(f);
	buf[n] = '\0';
	if (len_out)
		*len_out = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

static bool str_nonempty(const cJSON *j)
{
	return cJSON_IsString(j) && j->valuestring[0];
}

static char *xstrdup(const char *s, bool *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

/* Relative paths in a kubeconfig are relative to the file's directory. */
static char *resolve_path(const char *file, const char *p, bool *fail)
{
	const char *slash;
	char *out;

	if (p[0] == '/' || !(slash = strrchr(file, '/')))
		return xstrdup(p, fail);
	if (asprintf(&out, "%.*s/%s", (int)(slash - file), file, p) < 0) {
		*fail = true;
		return NULL;
	}
	return out;
}

static int in_cluster(const char *sa_dir, struct k8s_conn **out, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct k8s_conn *c;
	struct stat st;
	int e = 0;

	if (!sa_dir)
		sa_dir = K8S_SA_DIR_DEFAULT;
	if (!host || !*host || !port || !*port) {
		seterr(err, errlen,
		       "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
		       "(not running in a pod?); use --kubeconfig otherwise");
		return -1;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	/* An IPv6 service host needs brackets in a URL. */
	if (asprintf(&c->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		     host, port) < 0) {
		c->server = NULL;
		goto nomem;
	}
	if (asprintf(&c->token_file, "%s/token", sa_dir) < 0) {
		c->token_file = NULL;
		goto nomem;
	}
	if (stat(c->token_file, &st) < 0) {
		seterr(err, errlen, "in-cluster: %s: %s", c->token_file, strerror(errno));
		k8s_conn_free(c);
		return -1;
	}
	if (asprintf(&c->ca_file, "%s/ca.crt", sa_dir) < 0) {
		c->ca_file = NULL;
		goto nomem;
	}
	/* Without ca.crt there is nothing to verify against; client-go only
	 * logs, but connecting unverified is not an option we take silently. */
	if (stat(c->ca_file, &st) < 0) {
		seterr(err, errlen, "in-cluster: %s: %s", c->ca_file, strerror(errno));
		k8s_conn_free(c);
		return -1;
	}
	{
		char *nsfile = NULL;

		if (asprintf(&nsfile, "%s/namespace", sa_dir) >= 0) {
			char *ns = read_small_file(nsfile, 256, NULL, &e);

			if (ns) {
				ns[strcspn(ns, " \r\n\t")] = '\0';
				c->ns = ns;
			}
			free(nsfile);
		}
	}
	if (asprintf(&c->source, "in-cluster (%s)", sa_dir) < 0) {
		c->source = NULL;
		goto nomem;
	}
	*out = c;
	return 0;
nomem:
	k8s_conn_free(c);
	seterr(err, errlen, "out of memory");
	return -1;
}

struct kc_file {
	char *path;
	cJSON *root;
};

/* First definition of a named entry wins across the merged files, as in
 * kubectl's loading rules. */
static const cJSON *find_named(struct kc_file *files, size_t n, const char *list,
			       const char *member, const char *name, const char **file_out)
{
	for (size_t i = 0; i < n; i++) {
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(files[i].root, list), *e;

		cJSON_ArrayForEach(e, arr) {
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");

			if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0) {
				*file_out = files[i].path;
				return cJSON_GetObjectItemCaseSensitive(e, member);
			}
		}
	}
	return NULL;
}

static int pem_member(const cJSON *obj, const char *file_key, const char *data_key,
		      const char *kcfile, char **file_out, char **pem_out, size_t *len_out,
		      const char *what, char *err, size_t errlen)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, data_key);
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(obj, file_key);
	bool fail = false;

	/* -data overrides the file, as in client-go. */
	if (str_nonempty(data)) {
		*pem_out = k8s_base64_decode(data->valuestring, len_out);
		if (!*pem_out) {
			seterr(err, errlen, "%s: %s %s: %s is not valid base64", kcfile, what,
			       data_key, data_key);
			return -1;
		}
		return 0;
	}
	if (data && !cJSON_IsString(data) && !cJSON_IsNull(data)) {
		seterr(err, errlen, "%s: %s %s must be a string", kcfile, what, data_key);
		return -1;
	}
	if (str_nonempty(file)) {
		*file_out = resolve_path(kcfile, file->valuestring, &fail);
		if (fail) {
			seterr(err, errlen, "out of memory");
			return -1;
		}
	} else if (file && !cJSON_IsString(file) && !cJSON_IsNull(file)) {
		seterr(err, errlen, "%s: %s %s must be a string", kcfile, what, file_key);
		return -1;
	}
	return 0;
}

static int from_kubeconfig(const char *paths, const char *context, struct k8s_conn **out,
			   char *err, size_t errlen)
{
	struct kc_file files[KUBECONFIG_MAX_FILES];
	size_t n = 0;
	char *list = strdup(paths), *save = NULL, *tok;
	const char *ctx_name = context, *ctx_file = NULL, *cl_file = NULL, *us_file = NULL;
	const cJSON *ctx, *cl, *us, *j, *insecure;
	struct k8s_conn *c = NULL;
	bool fail = false, have_ca;
	int ret = -1;

	if (!list) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	for (tok = strtok_r(list, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
		char why[512];
		size_t len;
		int e = 0;
		char *text;

		if (!*tok)
			continue;
		if (n == KUBECONFIG_MAX_FILES) {
			seterr(err, errlen, "kubeconfig: more than %d files", KUBECONFIG_MAX_FILES);
			goto out;
		}
		text = read_small_file(tok, KUBECONFIG_MAX_BYTES, &len, &e);
		if (!text) {
			/* kubectl skips missing files in $KUBECONFIG, but a
			 * single explicit file must exist. */
			if (e == ENOENT && strchr(paths, ':'))
				continue;
			seterr(err, errlen, "kubeconfig %s: %s", tok, strerror(e));
			goto out;
		}
		files[n].root = k8s_kubeconfig_parse(text, len, tok, why, sizeof(why));
		free(text);
		if (!files[n].root) {
			seterr(err, errlen, "kubeconfig %s", why);
			goto out;
		}
		files[n].path = tok;
		n++;
	}
	if (n == 0) {
		seterr(err, errlen, "kubeconfig: none of '%s' exists", paths);
		goto out;
	}
	for (size_t i = 0; !ctx_name && i < n; i++) {
		j = cJSON_GetObjectItemCaseSensitive(files[i].root, "current-context");
		if (str_nonempty(j))
			ctx_name = j->valuestring;
	}
	if (!ctx_name) {
		seterr(err, errlen, "kubeconfig %s: no context chosen (current-context is empty; use --context)",
		       paths);
		goto out;
	}
	ctx = find_named(files, n, "contexts", "context", ctx_name, &ctx_file);
	if (!cJSON_IsObject(ctx)) {
		seterr(err, errlen, "kubeconfig %s: context \"%s\" not found", paths, ctx_name);
		goto out;
	}
	j = cJSON_GetObjectItemCaseSensitive(ctx, "cluster");
	if (!str_nonempty(j)) {
		seterr(err, errlen, "kubeconfig %s: context \"%s\" has no cluster", ctx_file, ctx_name);
		goto out;
	}
	cl = find_named(files, n, "clusters", "cluster", j->valuestring, &cl_file);
	if (!cJSON_IsObject(cl)) {
		seterr(err, errlen, "kubeconfig %s: cluster \"%s\" (of context \"%s\") not found",
		       paths, j->valuestring, ctx_name);
		goto out;
	}
	j = cJSON_GetObjectItemCaseSensitive(ctx, "user");
	us = NULL;
	if (str_nonempty(j)) {
		us = find_named(files, n, "users", "user", j->valuestring, &us_file);
		if (!cJSON_IsObject(us)) {
			seterr(err, errlen, "kubeconfig %s: user \"%s\" (of context \"%s\") not found",
			       paths, j->valuestring, ctx_name);
			goto out;
		}
	}

	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	j = cJSON_GetObjectItemCaseSensitive(cl, "server");
	if (!str_nonempty(j)) {
		seterr(err, errlen, "kubeconfig %s: cluster of context \"%s\" has no server",
		       cl_file, ctx_name);
		goto out;
	}
	if (strncmp(j->valuestring, "https://", 8) != 0 && strncmp(j->valuestring, "http://", 7) != 0) {
		seterr(err, errlen, "kubeconfig %s: server \"%s\" is not an http(s) URL",
		       cl_file, j->valuestring);
		goto out;
	}
	c->server = xstrdup(j->valuestring, &fail);
	if (fail)
		goto nomem;
	while (strlen(c->server) > 8 && c->server[strlen(c->server) - 1] == '/')
		c->server[strlen(c->server) - 1] = '\0';
	if (pem_member(cl, "certificate-authority", "certificate-authority-data", cl_file,
		       &c->ca_file, &c->ca_pem, &c->ca_pem_len, "cluster", err, errlen) < 0)
		goto out;
	insecure = cJSON_GetObjectItemCaseSensitive(cl, "insecure-skip-tls-verify");
	if (insecure && !cJSON_IsBool(insecure)) {
		seterr(err, errlen, "kubeconfig %s: insecure-skip-tls-verify must be true or false",
		       cl_file);
		goto out;
	}
	c->insecure = cJSON_IsTrue(insecure);
	have_ca = c->ca_file || c->ca_pem;
	if (c->insecure && have_ca) {
		seterr(err, errlen,
		       "kubeconfig %s: cluster of context \"%s\" sets insecure-skip-tls-verify together "
		       "with a certificate authority; specify a root certificates file with the insecure "
		       "flag is not allowed (as kubectl)", cl_file, ctx_name);
		goto out;
	}
	j = cJSON_GetObjectItemCaseSensitive(cl, "tls-server-name");
	if (str_nonempty(j))
		c->tls_server_name = xstrdup(j->valuestring, &fail);
	j = cJSON_GetObjectItemCaseSensitive(cl, "proxy-url");
	if (str_nonempty(j)) {
		seterr(err, errlen, "kubeconfig %s: proxy-url is not supported", cl_file);
		goto out;
	}
	j = cJSON_GetObjectItemCaseSensitive(ctx, "namespace");
	if (str_nonempty(j))
		c->ns = xstrdup(j->valuestring, &fail);

	if (us) {
		static const char *const unsupported[] = { "exec", "auth-provider", "username",
							   "password", NULL };

		for (const char *const *u = unsupported; *u; u++) {
			j = cJSON_GetObjectItemCaseSensitive(us, *u);
			if (j && !cJSON_IsNull(j)) {
				seterr(err, errlen,
				       "kubeconfig %s: user of context \"%s\" uses '%s', which npshim does "
				       "not support; give it a token, tokenFile or client certificate",
				       us_file, ctx_name, *u);
				goto out;
			}
		}
		if (pem_member(us, "client-certificate", "client-certificate-data", us_file,
			       &c->cert_file, &c->cert_pem, &c->cert_pem_len, "user", err, errlen) < 0 ||
		    pem_member(us, "client-key", "client-key-data", us_file, &c->key_file,
			       &c->key_pem, &c->key_pem_len, "user", err, errlen) < 0)
			goto out;
		if (!(c->cert_file || c->cert_pem) != !(c->key_file || c->key_pem)) {
			seterr(err, errlen,
			       "kubeconfig %s: user of context \"%s\" has a client certificate without "
			       "a key or a key without a certificate", us_file, ctx_name);
			goto out;
		}
		j = cJSON_GetObjectItemCaseSensitive(us, "token");
		if (str_nonempty(j))
			c->token = xstrdup(j->valuestring, &fail);
		j = cJSON_GetObjectItemCaseSensitive(us, "tokenFile");
		if (str_nonempty(j))
			c->token_file = resolve_path(us_file, j->valuestring, &fail);
	}
	if (asprintf(&c->source, "kubeconfig %s, context %s", ctx_file, ctx_name) < 0) {
		c->source = NULL;
		goto nomem;
	}
	if (fail)
		goto nomem;
	*out = c;
	c = NULL;
	ret = 0;
	goto out;
nomem:
	seterr(err, errlen, "out of memory");
out:
	k8s_conn_free(c);
	for (size_t i = 0; i < n; i++)
		cJSON_Delete(files[i].root);
	free(list);
	return ret;
}

int k8s_conn_resolve(const struct k8s_conn_opts *opts, struct k8s_conn **out,
		     char *err, size_t errlen)
{
	static const struct k8s_conn_opts none;
	const char *env, *home;
	char *path;
	int ret;

	if (!opts)
		opts = &none;
	if (opts->in_cluster || opts->sa_dir) {
		if (opts->kubeconfig) {
			seterr(err, errlen, "--kubeconfig and --in-cluster/--sa-dir exclude each other");
			return -1;
		}
		return in_cluster(opts->sa_dir, out, err, errlen);
	}
	if (opts->kubeconfig)
		return from_kubeconfig(opts->kubeconfig, opts->context, out, err, errlen);
	env = getenv("KUBECONFIG");
	if (env && *env)
		return from_kubeconfig(env, opts->context, out, err, errlen);
	env = getenv("KUBERNETES_SERVICE_HOST");
	if (env && *env && !opts->context)
		return in_cluster(NULL, out, err, errlen);
	home = getenv("HOME");
	if (!home || !*home) {
		seterr(err, errlen, "no cluster configured: give --kubeconfig or --in-cluster");
		return -1;
	}
	if (asprintf(&path, "%s/.kube/config", home) < 0) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	ret = from_kubeconfig(path, opts->context, out, err, errlen);
	free(path);
	return ret;
}
