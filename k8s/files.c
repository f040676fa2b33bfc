/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/files.c - cluster state from manifest files and kubectl output. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "k8s/decode.h"
#include "k8s/diag.h"
#include "k8s/files.h"
#include "k8s/jsonpos.h"
#include "k8s/tree.h"
#include "k8s/yamlpos.h"

/* Lists inside lists: kubectl flattens them; more than this is abuse. */
#define LIST_MAX_NESTING 4
/* Distinct skipped kinds named in the per-file note. */
#define SKIPPED_KINDS_SHOWN 6

struct dup_entry {
	char *key;    /* "Kind\x1fns\x1fname" */
	char *origin; /* where it was first seen */
};

struct k8s_loader {
	struct k8s_diag *diag;
	size_t errors_at_start;
	struct pol_cluster *cluster;
	struct k8s_load_stats stats;
	struct dup_entry *dups; /* open addressing */
	size_t dup_cap, dup_n;
	bool oom;
};

/* Per input (file or buffer). */
struct src {
	struct k8s_loader *l;
	const char *name;
	struct k8s_pos_map *pos;
	size_t skipped;
	size_t non_empty_docs;
	char skipped_kinds[SKIPPED_KINDS_SHOWN][48];
	size_t n_skipped_kinds;
};

static void __attribute__((format(printf, 3, 4)))
serr(struct src *s, const cJSON *at, const char *fmt, ...)
{
	struct k8s_pos p = { 0 };
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	k8s_pos_map_get(s->pos, at, &p);
	k8s_diag_error(s->l->diag, s->name, p.line, p.col, "%s", msg);
}

/* ---- duplicates ---- */

static size_t key_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct dup_entry *dup_slot(struct dup_entry *t, size_t cap, const char *key)
{
	size_t i = key_hash(key) & (cap - 1);

	while (t[i].key && strcmp(t[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return &t[i];
}

static char *dup_key(const char *kind, const char *ns, const char *name)
{
	char *k = NULL;

	if (asprintf(&k, "%s\x1f%s\x1f%s", kind, ns ? ns : "", name ? name : "") < 0)
		return NULL;
	return k;
}

/* Origin of an earlier object with this key, or NULL after recording it. */
static const char *dup_check(struct k8s_loader *l, const char *kind, const char *ns,
			     const char *name, const char *origin, bool record)
{
	struct dup_entry *e;
	char *key = dup_key(kind, ns, name);

	if (!key)
		goto oom;
	if ((l->dup_n + 1) * 2 > l->dup_cap) {
		size_t ncap = l->dup_cap ? l->dup_cap * 2 : 256, i;
		struct dup_entry *nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			goto oom;
		for (i = 0; i < l->dup_cap; i++)
			if (l->dups[i].key)
				*dup_slot(nt, ncap, l->dups[i].key) = l->dups[i];
		free(l->dups);
		l->dups = nt;
		l->dup_cap = ncap;
	}
	e = dup_slot(l->dups, l->dup_cap, key);
	if (e->key) {
		free(key);
		return e->origin;
	}
	if (!record) {
		free(key);
		return NULL;
	}
	e->origin = strdup(origin ? origin : "?");
	if (!e->origin)
		goto oom;
	e->key = key;
	l->dup_n++;
	return NULL;
oom:
	free(key);
	if (!l->oom) {
		l->oom = true;
		k8s_diag_error(l->diag, NULL, 0, 0, "out of memory");
	}
	return NULL;
}

/* ---- objects ---- */

static void note_skipped(struct src *s, const char *kind)
{
	size_t i;

	s->skipped++;
	s->l->stats.skipped++;
	for (i = 0; i < s->n_skipped_kinds; i++)
		if (!strcmp(s->skipped_kinds[i], kind))
			return;
	if (s->n_skipped_kinds < SKIPPED_KINDS_SHOWN)
		snprintf(s->skipped_kinds[s->n_skipped_kinds++], sizeof(s->skipped_kinds[0]),
			 "%s", kind);
}

static const char *str_member(const cJSON *obj, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(m) ? m->valuestring : NULL;
}

static bool is_list_kind(const char *kind)
{
	size_t n = strlen(kind);

	return n >= 4 && !strcmp(kind + n - 4, "List");
}

/* Lists we read even without an items member (an empty list). */
static bool known_list(const char *kind)
{
	return !strcmp(kind, "List") || !strcmp(kind, "PodList") ||
	       !strcmp(kind, "NamespaceList") || !strcmp(kind, "NetworkPolicyList");
}

static void after_decode(struct src *s, enum k8s_kind kind, const cJSON *obj)
{
	struct pol_cluster *c = s->l->cluster;
	const char *ns = NULL, *name = NULL, *origin = NULL, *prev;

	switch (kind) {
	case K8S_KIND_NAMESPACE:
		name = c->namespaces[c->n_namespaces - 1]->name;
		origin = c->namespaces[c->n_namespaces - 1]->origin;
		s->l->stats.namespaces++;
		break;
	case K8S_KIND_POD:
		ns = c->pods[c->n_pods - 1]->ns;
		name = c->pods[c->n_pods - 1]->name;
		origin = c->pods[c->n_pods - 1]->origin;
		s->l->stats.pods++;
		break;
	case K8S_KIND_NETWORKPOLICY:
		ns = c->policies[c->n_policies - 1]->ns;
		name = c->policies[c->n_policies - 1]->name;
		origin = c->policies[c->n_policies - 1]->origin;
		s->l->stats.policies++;
		break;
	default:
		return;
	}
	prev = dup_check(s->l, k8s_kind_name(kind), ns, name, origin, true);
	if (prev)
		serr(s, obj, "duplicate %s %s%s%s: already defined at %s", k8s_kind_name(kind),
		     ns ? ns : "", ns ? "/" : "", name, prev);
}

static void load_object(struct src *s, const cJSON *obj, enum k8s_kind list_default,
			const char *list_kind, const char *where)
{
	const cJSON *kind_node = cJSON_GetObjectItemCaseSensitive(obj, "kind");
	const char *kind = str_member(obj, "kind"), *api = str_member(obj, "apiVersion");
	enum k8s_kind k;

	if (!cJSON_IsObject(obj)) {
		serr(s, obj, "%s: must be a Kubernetes object (a mapping)", where);
		return;
	}
	if (kind_node && !cJSON_IsNull(kind_node) && !kind) {
		serr(s, kind_node, "%s: kind must be a string", where);
		return;
	}
	if (!kind && list_default == K8S_KIND_OTHER) {
		serr(s, obj, "%s: object has no kind%s", where,
		     list_kind ? " (items of a List must carry kind and apiVersion)" : "");
		return;
	}
	if (kind && !api && list_default == K8S_KIND_OTHER) {
		serr(s, obj, "%s: %s has no apiVersion", where, kind);
		return;
	}
	k = k8s_kind_of(obj, list_default);
	if (list_default != K8S_KIND_OTHER && k != list_default) {
		serr(s, obj, "%s: item of a %s has kind %s", where, list_kind, kind);
		return;
	}
	if (k == K8S_KIND_OTHER) {
		if (!strcmp(kind, "Namespace") || !strcmp(kind, "Pod")) {
			serr(s, obj, "%s: apiVersion \"%.60s\" is not served for kind %s (use v1)",
			     where, api, kind);
			return;
		}
		if (!strcmp(kind, "NetworkPolicy") &&
		    (!strncmp(api, "networking.k8s.io/", 18) || !strncmp(api, "extensions/", 11))) {
			serr(s, obj, "%s: apiVersion \"%.60s\" of NetworkPolicy is no longer served "
			     "(use networking.k8s.io/v1)", where, api);
			return;
		}
		note_skipped(s, kind);
		return;
	}
	if (k8s_decode_object(obj, k, s->l->cluster, s->pos, s->l->diag, s->name) == 0)
		after_decode(s, k, obj);
}

static void load_list(struct src *s, const cJSON *list, const char *kind, unsigned nesting)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items"), *it;
	const char *api = str_member(list, "apiVersion");
	enum k8s_kind def = K8S_KIND_OTHER;
	char where[64];
	size_t i = 0;

	if (!strcmp(kind, "PodList") || !strcmp(kind, "NamespaceList"))
		def = !strcmp(kind, "PodList") ? K8S_KIND_POD : K8S_KIND_NAMESPACE;
	else if (!strcmp(kind, "NetworkPolicyList") &&
		 (!api || !strcmp(api, "networking.k8s.io/v1")))
		def = K8S_KIND_NETWORKPOLICY;
	else if (!strcmp(kind, "NetworkPolicyList") &&
		 (!strncmp(api, "networking.k8s.io/", 18) || !strncmp(api, "extensions/", 11))) {
		serr(s, list, "NetworkPolicyList: apiVersion \"%.60s\" is no longer served "
		     "(use networking.k8s.io/v1)", api);
		return;
	} else if (strcmp(kind, "List") != 0) {
		/* A list of kinds we do not use (ServiceList, ...). */
		if (cJSON_IsArray(items))
			for (it = items->child; it; it = it->next)
				note_skipped(s, kind);
		else
			note_skipped(s, kind);
		return;
	}
	if (!items || cJSON_IsNull(items))
		return;
	if (!cJSON_IsArray(items)) {
		serr(s, items, "%s: items must be a list", kind);
		return;
	}
	for (it = items->child; it; it = it->next, i++) {
		const char *ik = cJSON_IsObject(it) ? str_member(it, "kind") : NULL;

		snprintf(where, sizeof(where), "items[%zu]", i);
		if (ik && is_list_kind(ik) &&
		    (cJSON_GetObjectItemCaseSensitive(it, "items") || known_list(ik))) {
			if (nesting >= LIST_MAX_NESTING)
				serr(s, it, "%s: lists nested more than %d deep", where,
				     LIST_MAX_NESTING);
			else
				load_list(s, it, ik, nesting + 1);
			continue;
		}
		load_object(s, it, def, kind, where);
	}
}

static void load_document(struct src *s, const cJSON *root, unsigned doc_no)
{
	const char *kind;
	char where[32];

	s->l->stats.documents++;
	if (cJSON_IsNull(root))
		return; /* an empty YAML document, e.g. a trailing "---" */
	s->non_empty_docs++;
	snprintf(where, sizeof(where), "document %u", doc_no);
	if (!cJSON_IsObject(root)) {
		serr(s, root, "%s: must be a Kubernetes object (a mapping), got %s", where,
		     cJSON_IsArray(root) ? "a list (wrap items in a kind: List)" : "a scalar");
		return;
	}
	kind = str_member(root, "kind");
	if (kind && is_list_kind(kind) &&
	    (cJSON_GetObjectItemCaseSensitive(root, "items") || known_list(kind))) {
		load_list(s, root, kind, 1);
		return;
	}
	load_object(s, root, K8S_KIND_OTHER, NULL, where);
}

struct yaml_ctx {
	struct src *s;
	unsigned doc_no;
};

static int on_yaml_document(cJSON *root, unsigned line, void *arg)
{
	struct yaml_ctx *y = arg;

	(void)line;
	y->doc_no++;
	load_document(y->s, root, y->doc_no);
	return 0;
}

static bool yaml_name(const char *name)
{
	size_t n = strlen(name);

	return (n >= 5 && !strcmp(name + n - 5, ".yaml")) || (n >= 4 && !strcmp(name + n - 4, ".yml"));
}

static bool looks_like_json(const char *data, size_t len)
{
	size_t i = 0;

	if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
		i++;
	return i < len && (data[i] == '{' || data[i] == '[');
}

void k8s_loader_add_buffer(struct k8s_loader *l, const char *name, const void *data,
			   size_t len, enum k8s_format format)
{
	struct src s = { .l = l, .name = name };
	size_t errors_before = l->diag->n_errors;

	l->stats.files++;
	s.pos = k8s_pos_map_new();
	if (!s.pos) {
		k8s_diag_error(l->diag, name, 0, 0, "out of memory");
		return;
	}
	if (format == K8S_FORMAT_AUTO) {
		format = looks_like_json(data, len) ? K8S_FORMAT_JSON : K8S_FORMAT_YAML;
		/* A .yaml file in YAML flow style also starts with '{': when
		 * strict JSON refuses it, YAML (a superset) has the last word. */
		if (format == K8S_FORMAT_JSON && yaml_name(name)) {
			struct k8s_diag quiet = { .silent = true };
			cJSON *root = k8s_json_parse(data, len, name, s.pos, &quiet);

			if (!root)
				format = K8S_FORMAT_YAML;
			cJSON_Delete(root);
			k8s_pos_map_clear(s.pos);
		}
	}
	if (format == K8S_FORMAT_JSON) {
		cJSON *root = k8s_json_parse(data, len, name, s.pos, l->diag);

		if (root)
			load_document(&s, root, 1);
		cJSON_Delete(root);
	} else {
		struct yaml_ctx y = { .s = &s };

		k8s_yaml_parse(data, len, name, s.pos, l->diag, on_yaml_document, &y);
	}
	/* kubectl refuses such a file too: it is almost always a mistake
	 * (wrong file, truncated download). An empty List is fine. */
	if (l->diag->n_errors == errors_before && !s.non_empty_docs)
		k8s_diag_error(l->diag, name, 0, 0,
			       "no Kubernetes objects in this file (empty, or only comments)");
	if (s.skipped) {
		char kinds[256] = "";
		size_t i, o = 0;

		for (i = 0; i < s.n_skipped_kinds && o < sizeof(kinds); i++)
			o += (size_t)snprintf(kinds + o, sizeof(kinds) - o, "%s%.40s",
					      i ? ", " : "", s.skipped_kinds[i]);
		k8s_diag_note(l->diag, name, 0, 0,
			      "skipped %zu object%s of kinds npshim does not use (%s%s)", s.skipped,
			      s.skipped == 1 ? "" : "s", kinds,
			      s.n_skipped_kinds == SKIPPED_KINDS_SHOWN ? ", ..." : "");
	}
	k8s_pos_map_free(s.pos);
}

/* ---- files ---- */

static int read_file(const char *path, char **out, size_t *len_out)
{
	struct stat st;
	size_t cap, len = 0;
	char *buf;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if ((unsigned long long)st.st_size > K8S_FILE_MAX) {
		rc = -EFBIG;
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *nb;

			if (cap > K8S_FILE_MAX) {
				free(buf);
				rc = -EFBIG;
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			free(buf);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*len_out = len;
out:
	close(fd);
	return rc;
}

static void load_file(struct k8s_loader *l, const char *path)
{
	size_t len = 0;
	char *data = NULL;
	int rc = read_file(path, &data, &len);

	if (rc == -EINVAL) {
		k8s_diag_error(l->diag, path, 0, 0, "not a regular file or directory");
		return;
	}
	if (rc == -EFBIG) {
		k8s_diag_error(l->diag, path, 0, 0, "file larger than %lu MiB",
			       K8S_FILE_MAX / (1024 * 1024));
		return;
	}
	if (rc < 0) {
		k8s_diag_error(l->diag, path, 0, 0, "cannot read: %s", strerror(-rc));
		return;
	}
	k8s_loader_add_buffer(l, path, data, len, K8S_FORMAT_AUTO);
	free(data);
}

static bool manifest_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && !strcmp(name + n - 5, ".json")) ||
	       (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_dir(struct k8s_loader *l, const char *path)
{
	char **names = NULL, *full;
	size_t n = 0, cap = 0, i, subdirs = 0;
	struct dirent *de;
	DIR *dir;

	dir = opendir(path);
	if (!dir) {
		k8s_diag_error(l->diag, path, 0, 0, "cannot read directory: %s", strerror(errno));
		return;
	}
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR && de->d_name[0] != '.') {
			subdirs++;
			continue;
		}
		if (!manifest_name(de->d_name))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (!nn)
				goto oom;
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			goto oom;
		n++;
	}
	closedir(dir);
	dir = NULL;
	if (n == 0) {
		k8s_diag_error(l->diag, path, 0, 0, "no *.json, *.yaml or *.yml files in this directory");
		goto out;
	}
	if (subdirs)
		k8s_diag_note(l->diag, path, 0, 0,
			      "%zu subdirector%s not read (directories are not read recursively)",
			      subdirs, subdirs == 1 ? "y" : "ies");
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		struct stat st;
		size_t plen = strlen(path);

		if (asprintf(&full, "%s%s%s", path, plen && path[plen - 1] == '/' ? "" : "/",
			     names[i]) < 0)
			goto oom;
		/* Symlinks count by what they point to (ConfigMap mounts). */
		if (stat(full, &st) == 0 && S_ISDIR(st.st_mode))
			k8s_diag_note(l->diag, full, 0, 0, "directory not read (not recursive)");
		else
			load_file(l, full);
		free(full);
	}
	goto out;
oom:
	k8s_diag_error(l->diag, path, 0, 0, "out of memory");
out:
	if (dir)
		closedir(dir);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

void k8s_loader_add_path(struct k8s_loader *l, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		k8s_diag_error(l->diag, path, 0, 0, "cannot read: %s", strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode))
		load_dir(l, path);
	else
		load_file(l, path);
}

/* ---- loader ---- */

struct k8s_loader *k8s_loader_new(struct k8s_diag *diag)
{
	struct k8s_loader *l = calloc(1, sizeof(*l));

	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	l->cluster = pol_cluster_new();
	if (!l->cluster) {
		free(l);
		errno = ENOMEM;
		return NULL;
	}
	l->diag = diag;
	l->errors_at_start = diag->n_errors;
	return l;
}

void k8s_loader_free(struct k8s_loader *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->dup_cap; i++) {
		free(l->dups[i].key);
		free(l->dups[i].origin);
	}
	free(l->dups);
	pol_cluster_free(l->cluster);
	free(l);
}

static void check_existing(struct k8s_loader *l, const char *kind, const char *ns,
			   const char *name, const char *origin)
{
	const char *prev = dup_check(l, kind, ns, name, origin, false);

	if (prev)
		k8s_diag_error(l->diag, prev, 0, 0, "duplicate %s %s%s%s: already loaded from %s",
			       kind, ns ? ns : "", ns ? "/" : "", name,
			       origin ? origin : "another source");
}

size_t k8s_loader_finish(struct k8s_loader *l, struct pol_cluster *into,
			 struct k8s_load_stats *stats)
{
	size_t i, errors;

	for (i = 0; i < into->n_namespaces; i++)
		check_existing(l, "Namespace", NULL, into->namespaces[i]->name,
			       into->namespaces[i]->origin);
	for (i = 0; i < into->n_pods; i++)
		check_existing(l, "Pod", into->pods[i]->ns, into->pods[i]->name,
			       into->pods[i]->origin);
	for (i = 0; i < into->n_policies; i++)
		check_existing(l, "NetworkPolicy", into->policies[i]->ns, into->policies[i]->name,
			       into->policies[i]->origin);
	errors = l->diag->n_errors - l->errors_at_start;
	if (!errors && pol_cluster_merge(into, l->cluster) < 0) {
		k8s_diag_error(l->diag, NULL, 0, 0, "out of memory");
		errors = 1;
	}
	if (stats)
		*stats = l->stats;
	return errors;
}

size_t k8s_files_load(struct pol_cluster *into, const char *const *paths, size_t n,
		      struct k8s_diag *diag)
{
	struct k8s_loader *l = k8s_loader_new(diag);
	size_t i, errors;

	if (!l) {
		k8s_diag_error(diag, NULL, 0, 0, "out of memory");
		return 1;
	}
	for (i = 0; i < n; i++)
		k8s_loader_add_path(l, paths[i]);
	errors = k8s_loader_finish(l, into, NULL);
	k8s_loader_free(l);
	return errors;
}

size_t k8s_load_buffer(const char *name, const void *data, size_t len,
		       enum k8s_format format, struct pol_cluster *into, struct k8s_diag *diag)
{
	struct k8s_loader *l = k8s_loader_new(diag);
	size_t errors;

	if (!l) {
		k8s_diag_error(diag, name, 0, 0, "out of memory");
		return 1;
	}
	k8s_loader_add_buffer(l, name, data, len, format);
	errors = k8s_loader_finish(l, into, NULL);
	k8s_loader_free(l);
	return errors;
}
