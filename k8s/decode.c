/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/decode.c - one Kubernetes object (a cJSON tree) into the policy model. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "k8s/decode.h"
#include "k8s/diag.h"
#include "k8s/tree.h"

#define PATH_MAX_LEN 400

/* Decoding state of one object. */
struct dc {
	const struct k8s_pos_map *pos;
	struct k8s_diag *diag;
	const char *origin;
	const char *kind;
	const cJSON *root;
	char ident[300];     /* "ns/name" or "name", for messages */
	char path[PATH_MAX_LEN + 8];
	size_t plen;
	unsigned errors;
	bool oom;
};

/* ---- names ---- */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static const char *check_label_n(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return "must not be empty";
	if (n > 63)
		return "must be no more than 63 characters";
	if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return "must start and end with a lower case letter or digit";
	for (i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return "must consist of lower case letters, digits or '-' (RFC 1123 label)";
	return NULL;
}

const char *k8s_check_dns1123_label(const char *s)
{
	return check_label_n(s, strlen(s));
}

const char *k8s_check_dns1123_subdomain(const char *s)
{
	size_t n = strlen(s), i, start = 0;

	if (n == 0)
		return "must not be empty";
	if (n > 253)
		return "must be no more than 253 characters";
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (i == start)
				return "must consist of lower case letters, digits, '-' or '.' "
				       "and start and end with a letter or digit (RFC 1123 subdomain)";
			if (!is_lower_alnum(s[start]) || !is_lower_alnum(s[i - 1]))
				return "must consist of lower case letters, digits, '-' or '.' "
				       "and start and end with a letter or digit (RFC 1123 subdomain)";
			start = i + 1;
		} else if (!is_lower_alnum(s[i]) && s[i] != '-') {
			return "must consist of lower case letters, digits, '-' or '.' "
			       "and start and end with a letter or digit (RFC 1123 subdomain)";
		}
	}
	return NULL;
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63. */
static const char *check_name_part(const char *s, size_t n)
{
	size_t i;

	if (n > 63)
		return "name part must be no more than 63 characters";
	if (!is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return "name part must start and end with a letter or digit";
	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return "name part must consist of letters, digits, '-', '_' or '.'";
	return NULL;
}

const char *k8s_check_label_key(const char *s)
{
	const char *slash = strchr(s, '/');
	const char *name = s;

	if (slash) {
		char prefix[260];
		size_t plen = (size_t)(slash - s);

		if (strchr(slash + 1, '/'))
			return "must be a name with an optional DNS subdomain prefix and one '/'";
		if (plen == 0)
			return "prefix before '/' must not be empty";
		if (plen > 253)
			return "prefix must be no more than 253 characters";
		memcpy(prefix, s, plen);
		prefix[plen] = '\0';
		if (k8s_check_dns1123_subdomain(prefix))
			return "prefix must be a lower case DNS subdomain (RFC 1123)";
		name = slash + 1;
	}
	if (!*name)
		return "name part must not be empty";
	return check_name_part(name, strlen(name));
}

const char *k8s_check_label_value(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return NULL;
	if (n > 63)
		return "must be no more than 63 characters";
	if (!is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return "must be empty or start and end with a letter or digit";
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return "must consist of letters, digits, '-', '_' or '.'";
	return NULL;
}

const char *k8s_check_port_name(const char *s)
{
	size_t n = strlen(s), i;
	bool letter = false;

	if (n == 0)
		return "must not be empty";
	if (n > 15)
		return "must be no more than 15 characters";
	for (i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!is_lower_alnum(s[i]) && s[i] != '-')
			return "must consist of lower case letters, digits or '-'";
		if (s[i] == '-' && i + 1 < n && s[i + 1] == '-')
			return "must not contain consecutive '-'";
	}
	if (s[0] == '-' || s[n - 1] == '-')
		return "must not begin or end with '-'";
	if (!letter)
		return "must contain at least one letter";
	return NULL;
}

/* ---- messages ---- */

/* A value quoted for a one-line message: escapes, at most ~64 bytes. */
static const char *quote(char *buf, size_t size, const char *s)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; s[i] && o + 8 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= 64) {
			o += (size_t)snprintf(buf + o, size - o, "...");
			break;
		}
		if (c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (o + 2 > size)
		o = size - 2;
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

#define Q(s) quote((char[96]){ 0 }, 96, (s))

static void __attribute__((format(printf, 3, 4)))
derr(struct dc *d, const cJSON *at, const char *fmt, ...)
{
	struct k8s_pos p = { 0 };
	char msg[512];
	va_list ap;

	d->errors++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!k8s_pos_map_get(d->pos, at, &p))
		k8s_pos_map_get(d->pos, d->root, &p);
	if (d->plen)
		k8s_diag_error(d->diag, d->origin, p.line, p.col, "%s %s: %s: %s",
			       d->kind, d->ident, d->path, msg);
	else
		k8s_diag_error(d->diag, d->origin, p.line, p.col, "%s %s: %s",
			       d->kind, d->ident, msg);
}

static void doom(struct dc *d)
{
	if (d->oom)
		return;
	d->oom = true;
	d->errors++;
	k8s_diag_error(d->diag, d->origin, 0, 0, "%s %s: out of memory", d->kind, d->ident);
}

/* ---- field paths ---- */

static size_t path_field(struct dc *d, const char *name)
{
	size_t mark = d->plen;
	int n;

	if (d->plen >= PATH_MAX_LEN)
		return mark;
	n = snprintf(d->path + d->plen, sizeof(d->path) - d->plen, "%s%s",
		     d->plen ? "." : "", name);
	d->plen += (size_t)n < sizeof(d->path) - d->plen ? (size_t)n : sizeof(d->path) - d->plen - 1;
	return mark;
}

static size_t path_index(struct dc *d, size_t i)
{
	size_t mark = d->plen;
	int n;

	if (d->plen >= PATH_MAX_LEN)
		return mark;
	n = snprintf(d->path + d->plen, sizeof(d->path) - d->plen, "[%zu]", i);
	d->plen += (size_t)n < sizeof(d->path) - d->plen ? (size_t)n : sizeof(d->path) - d->plen - 1;
	return mark;
}

static size_t path_key(struct dc *d, const char *key)
{
	size_t mark = d->plen;
	char q[96];
	int n;

	if (d->plen >= PATH_MAX_LEN)
		return mark;
	n = snprintf(d->path + d->plen, sizeof(d->path) - d->plen, "[%s]",
		     quote(q, sizeof(q), key));
	d->plen += (size_t)n < sizeof(d->path) - d->plen ? (size_t)n : sizeof(d->path) - d->plen - 1;
	return mark;
}

static void path_pop(struct dc *d, size_t mark)
{
	d->plen = mark;
	d->path[mark] = '\0';
}

/* ---- typed access ---- */

static const char *type_name(const cJSON *n)
{
	if (cJSON_IsString(n))
		return "string";
	if (cJSON_IsNumber(n))
		return "number";
	if (cJSON_IsBool(n))
		return "boolean";
	if (cJSON_IsArray(n))
		return "list";
	if (cJSON_IsObject(n))
		return "object";
	if (cJSON_IsNull(n))
		return "null";
	return "invalid value";
}

/* Member name of obj; JSON null counts as absent, as for Go's decoder. */
static const cJSON *member(const cJSON *obj, const char *name)
{
	const cJSON *m = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;

	return cJSON_IsNull(m) ? NULL : m;
}

static bool want(struct dc *d, const cJSON *n, bool ok, const char *what)
{
	if (ok)
		return true;
	if (cJSON_IsBool(n) && !strcmp(what, "a string"))
		derr(d, n, "must be a string, got boolean (quote it)");
	else if (cJSON_IsNumber(n) && !strcmp(what, "a string"))
		derr(d, n, "must be a string, got number (quote it)");
	else
		derr(d, n, "must be %s, got %s", what, type_name(n));
	return false;
}

/* Member name of obj, which must satisfy is() when present: *out is the
 * member, or NULL when absent. False on a type error (reported, naming
 * what it must be). */
static bool get_typed(struct dc *d, const cJSON *obj, const char *name,
		      cJSON_bool (*is)(const cJSON *), const char *what, const cJSON **out)
{
	const cJSON *m = member(obj, name);
	size_t mk;
	bool ok;

	*out = NULL;
	if (!m)
		return true;
	mk = path_field(d, name);
	ok = want(d, m, is(m), what);
	path_pop(d, mk);
	if (ok)
		*out = m;
	return ok;
}

static bool get_object(struct dc *d, const cJSON *obj, const char *name, const cJSON **out)
{
	return get_typed(d, obj, name, cJSON_IsObject, "an object", out);
}

static bool get_list(struct dc *d, const cJSON *obj, const char *name, const cJSON **out)
{
	return get_typed(d, obj, name, cJSON_IsArray, "a list", out);
}

/* *out NULL when absent. */
static bool get_string(struct dc *d, const cJSON *obj, const char *name, const char **out)
{
	const cJSON *m;
	bool ok = get_typed(d, obj, name, cJSON_IsString, "a string", &m);

	*out = m ? m->valuestring : NULL;
	return ok;
}

/* *out untouched when absent. */
static bool get_bool(struct dc *d, const cJSON *obj, const char *name, bool *out)
{
	const cJSON *m;
	bool ok = get_typed(d, obj, name, cJSON_IsBool, "a boolean", &m);

	if (m)
		*out = cJSON_IsTrue(m);
	return ok;
}

/* n must be an integer number in [min, max]; the path is already pushed. */
static bool int_value(struct dc *d, const cJSON *n, long min, long max, long *out)
{
	struct k8s_pos p;
	double v;

	if (!want(d, n, cJSON_IsNumber(n), "an integer"))
		return false;
	v = n->valuedouble;
	if (!isfinite(v) || v != floor(v) ||
	    (k8s_pos_map_get(d->pos, n, &p) && (p.flags & K8S_POS_FLOAT))) {
		derr(d, n, "must be an integer, got %g", v);
		return false;
	}
	if (v < (double)min || v > (double)max) {
		derr(d, n, "%.0f is out of range (%ld-%ld)", v, min, max);
		return false;
	}
	*out = (long)v;
	return true;
}

static char *dup(struct dc *d, const char *s)
{
	char *r = strdup(s);

	if (!r)
		doom(d);
	return r;
}

/* ---- metadata ---- */

/* metadata.labels into out (keys and values validated). */
static void decode_labels(struct dc *d, const cJSON *obj, const char *field,
			  struct pol_labels *out)
{
	const cJSON *labels, *m;
	size_t mk;

	if (!get_object(d, obj, field, &labels) || !labels)
		return;
	mk = path_field(d, field);
	for (m = labels->child; m; m = m->next) {
		const char *why = k8s_check_label_key(m->string);
		size_t mk2 = path_key(d, m->string);

		if (why)
			derr(d, m, "invalid label key: %s", why);
		if (cJSON_IsNull(m)) {
			/* Go reads a null map value as "". */
			if (!why && pol_labels_set(out, m->string, "") < 0)
				doom(d);
		} else if (want(d, m, cJSON_IsString(m), "a string")) {
			const char *vwhy = k8s_check_label_value(m->valuestring);

			if (vwhy)
				derr(d, m, "invalid label value %s: %s", Q(m->valuestring), vwhy);
			else if (!why && pol_labels_set(out, m->string, m->valuestring) < 0)
				doom(d);
		}
		path_pop(d, mk2);
	}
	path_pop(d, mk);
}

struct meta {
	const cJSON *metadata;
	const char *name;
	const char *ns;
	const cJSON *annotations;
};

/* Read metadata.name/namespace first so that every later message names the
 * object. name_check is the rule for this kind's names. */
static bool decode_meta(struct dc *d, const cJSON *obj, bool namespaced,
			const char *(*name_check)(const char *), struct meta *m)
{
	const char *why;
	size_t mk;
	bool ok = true;

	memset(m, 0, sizeof(*m));
	snprintf(d->ident, sizeof(d->ident), "<unnamed>");
	if (!want(d, obj, cJSON_IsObject(obj), "an object"))
		return false;
	if (!get_object(d, obj, "metadata", &m->metadata))
		return false;
	if (!m->metadata) {
		derr(d, obj, "metadata: required field is missing");
		return false;
	}
	mk = path_field(d, "metadata");
	if (!get_string(d, m->metadata, "name", &m->name))
		ok = false;
	if (namespaced && !get_string(d, m->metadata, "namespace", &m->ns))
		ok = false;
	if (namespaced && (!m->ns || !*m->ns))
		m->ns = "default";
	if (m->name && *m->name) {
		/* Plain when the names are valid; quoted (escapes and all)
		 * when they are what the error is about. */
		bool plain = !k8s_check_dns1123_subdomain(m->name) &&
			     (!namespaced || !k8s_check_dns1123_label(m->ns));
		char qn[96], qs[96];

		if (plain && namespaced)
			snprintf(d->ident, sizeof(d->ident), "%s/%s", m->ns, m->name);
		else if (plain)
			snprintf(d->ident, sizeof(d->ident), "%s", m->name);
		else if (namespaced)
			snprintf(d->ident, sizeof(d->ident), "%s/%s", quote(qs, sizeof(qs), m->ns),
				 quote(qn, sizeof(qn), m->name));
		else
			snprintf(d->ident, sizeof(d->ident), "%s", quote(qn, sizeof(qn), m->name));
	} else if (namespaced) {
		char qs[96];

		if (k8s_check_dns1123_label(m->ns))
			snprintf(d->ident, sizeof(d->ident), "%s/<unnamed>", quote(qs, sizeof(qs), m->ns));
		else
			snprintf(d->ident, sizeof(d->ident), "%s/<unnamed>", m->ns);
	}
	if (ok && (!m->name || !*m->name)) {
		const cJSON *gen = member(m->metadata, "generateName");

		derr(d, m->name ? cJSON_GetObjectItemCaseSensitive(m->metadata, "name") : m->metadata,
		     "name: required field is missing%s",
		     gen ? " (generateName is not supported: files need fixed names)" : "");
		ok = false;
	} else if (m->name && (why = name_check(m->name))) {
		size_t mk2 = path_field(d, "name");

		derr(d, cJSON_GetObjectItemCaseSensitive(m->metadata, "name"),
		     "invalid name %s: %s", Q(m->name), why);
		path_pop(d, mk2);
		ok = false;
	}
	if (namespaced && m->ns && (why = k8s_check_dns1123_label(m->ns))) {
		size_t mk2 = path_field(d, "namespace");

		derr(d, cJSON_GetObjectItemCaseSensitive(m->metadata, "namespace"),
		     "invalid namespace %s: %s", Q(m->ns), why);
		path_pop(d, mk2);
		ok = false;
	}
	if (get_object(d, m->metadata, "annotations", &m->annotations) && m->annotations) {
		const cJSON *a;
		size_t mk2 = path_field(d, "annotations");

		for (a = m->annotations->child; a; a = a->next) {
			size_t mk3 = path_key(d, a->string);

			if (!cJSON_IsNull(a))
				want(d, a, cJSON_IsString(a), "a string");
			path_pop(d, mk3);
		}
		path_pop(d, mk2);
	}
	path_pop(d, mk);
	return ok;
}

static char *make_origin(struct dc *d, const cJSON *obj)
{
	struct k8s_pos p;
	char *s = NULL;

	if (k8s_pos_map_get(d->pos, obj, &p)) {
		if (asprintf(&s, "%s:%u", d->origin ? d->origin : "<input>", (unsigned)p.line) < 0)
			s = NULL;
	} else {
		s = strdup(d->origin ? d->origin : "<input>");
	}
	if (!s)
		doom(d);
	return s;
}

static void dc_init(struct dc *d, const cJSON *obj, const char *kind,
		    const struct k8s_pos_map *pos, struct k8s_diag *diag, const char *origin)
{
	memset(d, 0, sizeof(*d));
	d->pos = pos;
	d->diag = diag;
	d->origin = origin;
	d->kind = kind;
	d->root = obj;
}

/* ---- Namespace ---- */

struct pol_namespace *k8s_decode_namespace(const cJSON *obj, const struct k8s_pos_map *pos,
					   struct k8s_diag *diag, const char *origin_name)
{
	struct pol_namespace *ns;
	struct meta m;
	struct dc d;
	size_t mk;

	dc_init(&d, obj, "Namespace", pos, diag, origin_name);
	ns = calloc(1, sizeof(*ns));
	if (!ns) {
		doom(&d);
		errno = ENOMEM;
		return NULL;
	}
	if (decode_meta(&d, obj, false, k8s_check_dns1123_label, &m)) {
		ns->name = dup(&d, m.name);
		mk = path_field(&d, "metadata");
		decode_labels(&d, m.metadata, "labels", &ns->labels);
		path_pop(&d, mk);
		/* The API server stamps this label on every namespace (and
		 * overwrites any other value), and policies select on it. */
		if (!d.errors && pol_labels_set(&ns->labels, "kubernetes.io/metadata.name", m.name) < 0)
			doom(&d);
		ns->origin = make_origin(&d, obj);
	}
	if (d.errors) {
		pol_namespace_free(ns);
		errno = d.oom ? ENOMEM : EINVAL;
		return NULL;
	}
	return ns;
}

/* ---- Pod ---- */

static uint8_t decode_protocol(struct dc *d, const cJSON *obj)
{
	const char *s;
	size_t mk;
	uint8_t proto;

	if (!get_string(d, obj, "protocol", &s))
		return 0;
	if (!s)
		return POL_PROTO_TCP;
	proto = pol_proto_parse(s);
	if (proto == POL_PROTO_TCP || proto == POL_PROTO_UDP || proto == POL_PROTO_SCTP)
		return proto;
	mk = path_field(d, "protocol");
	derr(d, member(obj, "protocol"),
	     "unsupported value %s: must be \"TCP\", \"UDP\" or \"SCTP\"", Q(s));
	path_pop(d, mk);
	return 0;
}

static void decode_container_ports(struct dc *d, const cJSON *container, struct pol_pod *pod)
{
	const cJSON *ports, *p;
	size_t mk, i = 0, first;

	if (!get_list(d, container, "ports", &ports) || !ports)
		return;
	mk = path_field(d, "ports");
	first = pod->n_ports;
	for (p = ports->child; p; p = p->next, i++) {
		size_t mk2 = path_index(d, i);
		struct pol_container_port cp = { 0 };
		const cJSON *num;
		const char *name;
		long v;
		bool ok = true;

		if (!want(d, p, cJSON_IsObject(p), "an object")) {
			path_pop(d, mk2);
			continue;
		}
		num = member(p, "containerPort");
		if (!num) {
			derr(d, p, "containerPort: required field is missing");
			ok = false;
		} else {
			size_t mk3 = path_field(d, "containerPort");

			if (int_value(d, num, 1, 65535, &v))
				cp.port = (uint16_t)v;
			else
				ok = false;
			path_pop(d, mk3);
		}
		cp.proto = decode_protocol(d, p);
		if (!cp.proto)
			ok = false;
		if (!get_string(d, p, "name", &name)) {
			ok = false;
		} else if (name) {
			const char *why = k8s_check_port_name(name);
			size_t mk3 = path_field(d, "name");
			size_t j;

			if (why) {
				derr(d, member(p, "name"), "invalid port name %s: %s", Q(name), why);
				ok = false;
			}
			for (j = first; ok && j < pod->n_ports; j++) {
				if (pod->ports[j].name && !strcmp(pod->ports[j].name, name)) {
					derr(d, member(p, "name"), "duplicate port name %s in this container",
					     Q(name));
					ok = false;
				}
			}
			path_pop(d, mk3);
		}
		if (ok) {
			struct pol_container_port *np =
				realloc(pod->ports, (pod->n_ports + 1) * sizeof(*np));

			if (!np) {
				doom(d);
			} else {
				pod->ports = np;
				cp.name = name ? dup(d, name) : NULL;
				pod->ports[pod->n_ports++] = cp;
			}
		}
		path_pop(d, mk2);
	}
	path_pop(d, mk);
}

static void decode_containers(struct dc *d, const cJSON *spec, const char *field,
			      bool sidecars_only, struct pol_pod *pod)
{
	const cJSON *list, *c;
	size_t mk, i = 0;

	if (!get_list(d, spec, field, &list) || !list)
		return;
	mk = path_field(d, field);
	for (c = list->child; c; c = c->next, i++) {
		size_t mk2 = path_index(d, i);

		if (want(d, c, cJSON_IsObject(c), "an object")) {
			const char *restart = NULL;

			/* Of init containers only sidecars (restartPolicy
			 * Always) keep serving their ports. */
			if (!sidecars_only ||
			    (get_string(d, c, "restartPolicy", &restart) && restart &&
			     !strcmp(restart, "Always")))
				decode_container_ports(d, c, pod);
		}
		path_pop(d, mk2);
	}
	path_pop(d, mk);
}

static bool parse_ip_value(struct dc *d, const cJSON *n, struct pol_ip *out)
{
	if (!want(d, n, cJSON_IsString(n), "a string"))
		return false;
	if (!pol_ip_parse(n->valuestring, out)) {
		derr(d, n, "invalid IP address %s", Q(n->valuestring));
		return false;
	}
	return true;
}

static void decode_pod_status(struct dc *d, const cJSON *obj, struct pol_pod *pod)
{
	static const struct {
		const char *name;
		enum pol_pod_phase phase;
	} phases[] = {
		{ "Pending", POL_PHASE_PENDING },
		{ "Running", POL_PHASE_RUNNING },
		{ "Succeeded", POL_PHASE_SUCCEEDED },
		{ "Failed", POL_PHASE_FAILED },
		{ "Unknown", POL_PHASE_UNKNOWN },
	};
	const cJSON *status, *ips, *n;
	const char *phase;
	struct pol_ip single;
	bool have_single = false;
	size_t mk, i;

	if (!get_object(d, obj, "status", &status) || !status)
		return;
	mk = path_field(d, "status");
	if (get_string(d, status, "phase", &phase) && phase) {
		for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
			if (!strcmp(phase, phases[i].name))
				break;
		if (i < sizeof(phases) / sizeof(phases[0])) {
			pod->phase = phases[i].phase;
		} else {
			size_t mk2 = path_field(d, "phase");

			derr(d, member(status, "phase"),
			     "unsupported value %s: must be Pending, Running, Succeeded, Failed or Unknown",
			     Q(phase));
			path_pop(d, mk2);
		}
	}
	if ((n = member(status, "hostIP"))) {
		size_t mk2 = path_field(d, "hostIP");

		if (!(cJSON_IsString(n) && !*n->valuestring) && parse_ip_value(d, n, &pod->host_ip))
			pod->has_host_ip = true;
		path_pop(d, mk2);
	}
	if ((n = member(status, "podIP")) && !(cJSON_IsString(n) && !*n->valuestring)) {
		size_t mk2 = path_field(d, "podIP");

		have_single = parse_ip_value(d, n, &single);
		path_pop(d, mk2);
	}
	if (get_list(d, status, "podIPs", &ips) && ips && cJSON_GetArraySize(ips) > 0) {
		size_t count = (size_t)cJSON_GetArraySize(ips), k = 0;
		size_t mk2 = path_field(d, "podIPs");

		pod->ips = calloc(count, sizeof(*pod->ips));
		if (!pod->ips)
			doom(d);
		for (n = ips->child; n && pod->ips; n = n->next, k++) {
			size_t mk3 = path_index(d, k);
			const cJSON *ipn;
			struct pol_ip ip;

			if (want(d, n, cJSON_IsObject(n), "an object")) {
				ipn = member(n, "ip");
				if (!ipn) {
					derr(d, n, "ip: required field is missing");
				} else {
					size_t mk4 = path_field(d, "ip");

					if (parse_ip_value(d, ipn, &ip)) {
						bool clash = false;

						for (i = 0; i < pod->n_ips; i++) {
							if (!memcmp(&pod->ips[i], &ip, sizeof(ip))) {
								derr(d, ipn, "duplicate address %s",
								     Q(ipn->valuestring));
								clash = true;
							} else if (pol_ip_is_v4(&pod->ips[i]) ==
								   pol_ip_is_v4(&ip)) {
								derr(d, ipn, "more than one %s address",
								     pol_ip_is_v4(&ip) ? "IPv4" : "IPv6");
								clash = true;
							}
						}
						if (!clash)
							pod->ips[pod->n_ips++] = ip;
					}
					path_pop(d, mk4);
				}
			}
			path_pop(d, mk3);
		}
		path_pop(d, mk2);
		if (have_single && pod->n_ips && memcmp(&single, &pod->ips[0], sizeof(single))) {
			size_t mk3 = path_field(d, "podIP");

			derr(d, member(status, "podIP"), "%s does not match podIPs[0]",
			     Q(member(status, "podIP")->valuestring));
			path_pop(d, mk3);
		}
	} else if (have_single) {
		pod->ips = malloc(sizeof(*pod->ips));
		if (!pod->ips) {
			doom(d);
		} else {
			pod->ips[0] = single;
			pod->n_ips = 1;
		}
	}
	path_pop(d, mk);
}

static void decode_owner(struct dc *d, const cJSON *metadata, struct pol_pod *pod)
{
	const cJSON *refs, *r;
	size_t mk, i = 0;
	bool seen = false;

	if (!get_list(d, metadata, "ownerReferences", &refs) || !refs)
		return;
	mk = path_field(d, "ownerReferences");
	for (r = refs->child; r; r = r->next, i++) {
		size_t mk2 = path_index(d, i);
		const char *kind, *name;
		bool controller = false;

		if (want(d, r, cJSON_IsObject(r), "an object") &&
		    get_bool(d, r, "controller", &controller) && controller &&
		    get_string(d, r, "kind", &kind) && get_string(d, r, "name", &name)) {
			if (seen) {
				derr(d, r, "only one reference can have controller set to true");
			} else if (!kind || !name) {
				derr(d, r, "%s: required field is missing", kind ? "name" : "kind");
			} else {
				pod->owner_kind = dup(d, kind);
				pod->owner_name = dup(d, name);
			}
			seen = true;
		}
		path_pop(d, mk2);
	}
	path_pop(d, mk);
}

struct pol_pod *k8s_decode_pod(const cJSON *obj, const struct k8s_pos_map *pos,
			       struct k8s_diag *diag, const char *origin_name)
{
	struct pol_pod *pod;
	const cJSON *spec;
	const char *node;
	struct meta m;
	struct dc d;
	size_t mk;

	dc_init(&d, obj, "Pod", pos, diag, origin_name);
	pod = calloc(1, sizeof(*pod));
	if (!pod) {
		doom(&d);
		errno = ENOMEM;
		return NULL;
	}
	if (decode_meta(&d, obj, true, k8s_check_dns1123_subdomain, &m)) {
		pod->ns = dup(&d, m.ns);
		pod->name = dup(&d, m.name);
		mk = path_field(&d, "metadata");
		decode_labels(&d, m.metadata, "labels", &pod->labels);
		decode_owner(&d, m.metadata, pod);
		path_pop(&d, mk);
		if (get_object(&d, obj, "spec", &spec) && spec) {
			mk = path_field(&d, "spec");
			if (get_string(&d, spec, "nodeName", &node) && node && *node)
				pod->node_name = dup(&d, node);
			get_bool(&d, spec, "hostNetwork", &pod->host_network);
			decode_containers(&d, spec, "containers", false, pod);
			decode_containers(&d, spec, "initContainers", true, pod);
			path_pop(&d, mk);
		}
		decode_pod_status(&d, obj, pod);
		pod->origin = make_origin(&d, obj);
	}
	if (d.errors) {
		pol_pod_free(pod);
		errno = d.oom ? ENOMEM : EINVAL;
		return NULL;
	}
	return pod;
}

/* ---- NetworkPolicy ---- */

static void decode_selector(struct dc *d, const cJSON *n, struct pol_selector *sel)
{
	static const struct {
		const char *name;
		enum pol_sel_op op;
	} ops[] = {
		{ "In", POL_SEL_IN },
		{ "NotIn", POL_SEL_NOT_IN },
		{ "Exists", POL_SEL_EXISTS },
		{ "DoesNotExist", POL_SEL_DOES_NOT_EXIST },
	};
	const cJSON *exprs, *e;
	size_t mk, i = 0;

	if (!want(d, n, cJSON_IsObject(n), "an object (a label selector)"))
		return;
	decode_labels(d, n, "matchLabels", &sel->match_labels);
	if (!get_list(d, n, "matchExpressions", &exprs) || !exprs)
		return;
	mk = path_field(d, "matchExpressions");
	sel->exprs = calloc((size_t)cJSON_GetArraySize(exprs) + 1, sizeof(*sel->exprs));
	if (!sel->exprs) {
		doom(d);
		path_pop(d, mk);
		return;
	}
	for (e = exprs->child; e; e = e->next, i++) {
		size_t mk2 = path_index(d, i), k;
		struct pol_sel_expr *x = &sel->exprs[sel->n_exprs];
		const char *key, *op;
		const cJSON *values, *v;
		bool ok = true;

		if (!want(d, e, cJSON_IsObject(e), "an object")) {
			path_pop(d, mk2);
			continue;
		}
		if (!get_string(d, e, "key", &key)) {
			ok = false;
		} else if (!key) {
			derr(d, e, "key: required field is missing");
			ok = false;
		} else {
			const char *why = k8s_check_label_key(key);

			if (why) {
				size_t mk3 = path_field(d, "key");

				derr(d, member(e, "key"), "invalid label key %s: %s", Q(key), why);
				path_pop(d, mk3);
				ok = false;
			}
		}
		if (!get_string(d, e, "operator", &op)) {
			ok = false;
		} else if (!op) {
			derr(d, e, "operator: required field is missing");
			ok = false;
		} else {
			for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
				if (!strcmp(op, ops[k].name))
					break;
			if (k == sizeof(ops) / sizeof(ops[0])) {
				size_t mk3 = path_field(d, "operator");

				derr(d, member(e, "operator"),
				     "unknown operator %s: must be In, NotIn, Exists or DoesNotExist",
				     Q(op));
				path_pop(d, mk3);
				ok = false;
				op = NULL;
			} else {
				x->op = ops[k].op;
			}
		}
		if (!get_list(d, e, "values", &values))
			ok = false;
		if (op) {
			size_t nv = values ? (size_t)cJSON_GetArraySize(values) : 0;
			bool set_op = x->op == POL_SEL_IN || x->op == POL_SEL_NOT_IN;

			if (set_op && nv == 0) {
				derr(d, values ? values : e,
				     "values: must be non-empty when operator is %s", op);
				ok = false;
			} else if (!set_op && nv > 0) {
				derr(d, values, "values: must be empty when operator is %s", op);
				ok = false;
			}
		}
		if (ok && values && cJSON_GetArraySize(values) > 0) {
			size_t mk3 = path_field(d, "values"), j = 0;

			x->values = calloc((size_t)cJSON_GetArraySize(values), sizeof(char *));
			if (!x->values)
				doom(d);
			for (v = values->child; v && x->values; v = v->next, j++) {
				size_t mk4 = path_index(d, j);

				if (want(d, v, cJSON_IsString(v), "a string")) {
					const char *why = k8s_check_label_value(v->valuestring);

					if (why) {
						derr(d, v, "invalid label value %s: %s",
						     Q(v->valuestring), why);
					} else {
						x->values[x->n_values] = dup(d, v->valuestring);
						if (x->values[x->n_values])
							x->n_values++;
					}
				}
				path_pop(d, mk4);
			}
			path_pop(d, mk3);
		}
		if (ok) {
			x->key = dup(d, key);
			sel->n_exprs++;
		} else {
			/* Not counted: free what this entry holds now. */
			for (k = 0; k < x->n_values; k++)
				free(x->values[k]);
			free(x->values);
			memset(x, 0, sizeof(*x));
		}
		path_pop(d, mk2);
	}
	path_pop(d, mk);
}

static struct pol_selector *decode_selector_ptr(struct dc *d, const cJSON *n)
{
	struct pol_selector *sel = calloc(1, sizeof(*sel));

	if (!sel) {
		doom(d);
		return NULL;
	}
	decode_selector(d, n, sel);
	return sel;
}

static bool parse_cidr_value(struct dc *d, const cJSON *n, struct pol_cidr *out)
{
	if (!want(d, n, cJSON_IsString(n), "a string"))
		return false;
	if (!pol_cidr_parse(n->valuestring, out)) {
		derr(d, n, "invalid CIDR %s (expected an address/prefix such as 10.0.0.0/8)",
		     Q(n->valuestring));
		return false;
	}
	return true;
}

static struct pol_ipblock *decode_ipblock(struct dc *d, const cJSON *n)
{
	struct pol_ipblock *b;
	const cJSON *cidr, *except, *e;
	bool cidr_ok = false;
	size_t i = 0;

	if (!want(d, n, cJSON_IsObject(n), "an object"))
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b) {
		doom(d);
		return NULL;
	}
	cidr = member(n, "cidr");
	if (!cidr || (cJSON_IsString(cidr) && !*cidr->valuestring)) {
		derr(d, cidr ? cidr : n, "cidr: required field is missing");
	} else {
		size_t mk = path_field(d, "cidr");

		cidr_ok = parse_cidr_value(d, cidr, &b->cidr);
		path_pop(d, mk);
	}
	if (get_list(d, n, "except", &except) && except && cJSON_GetArraySize(except) > 0) {
		size_t mk = path_field(d, "except");

		b->except = calloc((size_t)cJSON_GetArraySize(except), sizeof(*b->except));
		if (!b->except)
			doom(d);
		for (e = except->child; e && b->except; e = e->next, i++) {
			size_t mk2 = path_index(d, i);
			struct pol_cidr x;

			if (parse_cidr_value(d, e, &x) && cidr_ok) {
				if (x.v4 != b->cidr.v4 || x.len <= b->cidr.len ||
				    !pol_cidr_contains(&b->cidr, &x.addr))
					derr(d, e, "%s must be a strict subset of cidr %s",
					     Q(e->valuestring), Q(cidr->valuestring));
				else
					b->except[b->n_except++] = x;
			}
			path_pop(d, mk2);
		}
		path_pop(d, mk);
	}
	return b;
}

static void decode_peer(struct dc *d, const cJSON *n, struct pol_peer *peer)
{
	const cJSON *ps, *ns, *ib;
	size_t mk;

	if (!want(d, n, cJSON_IsObject(n), "an object"))
		return;
	ps = member(n, "podSelector");
	ns = member(n, "namespaceSelector");
	ib = member(n, "ipBlock");
	if (!ps && !ns && !ib) {
		derr(d, n, "must specify podSelector, namespaceSelector or ipBlock");
		return;
	}
	if (ib && (ps || ns)) {
		derr(d, n, "may not specify both ipBlock and another peer (podSelector/namespaceSelector)");
		return;
	}
	if (ps) {
		mk = path_field(d, "podSelector");
		peer->pod_sel = decode_selector_ptr(d, ps);
		path_pop(d, mk);
	}
	if (ns) {
		mk = path_field(d, "namespaceSelector");
		peer->ns_sel = decode_selector_ptr(d, ns);
		path_pop(d, mk);
	}
	if (ib) {
		mk = path_field(d, "ipBlock");
		peer->ipblock = decode_ipblock(d, ib);
		path_pop(d, mk);
	}
}

static void decode_np_port(struct dc *d, const cJSON *n, struct pol_port *port)
{
	const cJSON *pn, *en;
	size_t mk;
	long v;

	if (!want(d, n, cJSON_IsObject(n), "an object"))
		return;
	port->proto = decode_protocol(d, n);
	pn = member(n, "port");
	if (pn) {
		mk = path_field(d, "port");
		if (cJSON_IsString(pn)) {
			const char *why = k8s_check_port_name(pn->valuestring);

			if (why)
				derr(d, pn, "invalid named port %s: %s", Q(pn->valuestring), why);
			else if ((port->name = dup(d, pn->valuestring)))
				port->has_port = true;
		} else if (cJSON_IsNumber(pn)) {
			if (int_value(d, pn, 1, 65535, &v)) {
				port->port = (uint16_t)v;
				port->has_port = true;
			}
		} else {
			derr(d, pn, "must be a port number or a port name, got %s", type_name(pn));
		}
		path_pop(d, mk);
	}
	en = member(n, "endPort");
	if (en) {
		mk = path_field(d, "endPort");
		if (!pn)
			derr(d, en, "may not be specified when port is not specified");
		else if (cJSON_IsString(pn))
			derr(d, en, "may not be specified when port is non-numeric (a named port)");
		else if (int_value(d, en, 1, 65535, &v) && port->has_port) {
			if (v < port->port)
				derr(d, en, "%ld must be greater than or equal to port (%u)", v,
				     (unsigned)port->port);
			else
				port->end_port = (uint16_t)v;
		}
		path_pop(d, mk);
	}
}

static void decode_rules(struct dc *d, const cJSON *spec, const char *field,
			 const char *peers_field, struct pol_rule **out, size_t *n_out)
{
	const cJSON *list, *r;
	size_t mk, i = 0, count;

	if (!get_list(d, spec, field, &list) || !list)
		return;
	count = (size_t)cJSON_GetArraySize(list);
	if (!count)
		return;
	*out = calloc(count, sizeof(**out));
	if (!*out) {
		doom(d);
		return;
	}
	*n_out = count;
	mk = path_field(d, field);
	for (r = list->child; r && i < count; r = r->next, i++) {
		struct pol_rule *rule = &(*out)[i];
		const cJSON *peers, *ports, *e;
		size_t mk2 = path_index(d, i), j;

		if (!want(d, r, cJSON_IsObject(r), "an object")) {
			path_pop(d, mk2);
			continue;
		}
		if (get_list(d, r, peers_field, &peers) && peers && cJSON_GetArraySize(peers) > 0) {
			size_t mk3 = path_field(d, peers_field);

			rule->peers = calloc((size_t)cJSON_GetArraySize(peers), sizeof(*rule->peers));
			if (!rule->peers)
				doom(d);
			else
				rule->n_peers = (size_t)cJSON_GetArraySize(peers);
			for (e = peers->child, j = 0; e && j < rule->n_peers; e = e->next, j++) {
				size_t mk4 = path_index(d, j);

				decode_peer(d, e, &rule->peers[j]);
				path_pop(d, mk4);
			}
			path_pop(d, mk3);
		}
		if (get_list(d, r, "ports", &ports) && ports && cJSON_GetArraySize(ports) > 0) {
			size_t mk3 = path_field(d, "ports");

			rule->ports = calloc((size_t)cJSON_GetArraySize(ports), sizeof(*rule->ports));
			if (!rule->ports)
				doom(d);
			else
				rule->n_ports = (size_t)cJSON_GetArraySize(ports);
			for (e = ports->child, j = 0; e && j < rule->n_ports; e = e->next, j++) {
				size_t mk4 = path_index(d, j);

				decode_np_port(d, e, &rule->ports[j]);
				path_pop(d, mk4);
			}
			path_pop(d, mk3);
		}
		path_pop(d, mk2);
	}
	path_pop(d, mk);
}

static void decode_policy_types(struct dc *d, const cJSON *spec, struct pol_policy *pol)
{
	const cJSON *types, *t;
	size_t mk, i = 0;

	if (!get_list(d, spec, "policyTypes", &types))
		return;
	if (!types || cJSON_GetArraySize(types) == 0) {
		/* API defaulting (networking/v1 defaults.go). */
		pol->type_ingress = true;
		pol->type_egress = pol->n_egress > 0;
		return;
	}
	mk = path_field(d, "policyTypes");
	if (cJSON_GetArraySize(types) > 2)
		derr(d, types, "must hold at most Ingress and Egress (got %d entries)",
		     cJSON_GetArraySize(types));
	for (t = types->child; t; t = t->next, i++) {
		size_t mk2 = path_index(d, i);

		if (want(d, t, cJSON_IsString(t), "a string")) {
			if (!strcmp(t->valuestring, "Ingress"))
				pol->type_ingress = true;
			else if (!strcmp(t->valuestring, "Egress"))
				pol->type_egress = true;
			else
				derr(d, t, "unsupported value %s: must be \"Ingress\" or \"Egress\"",
				     Q(t->valuestring));
		}
		path_pop(d, mk2);
	}
	path_pop(d, mk);
}

struct pol_policy *k8s_decode_policy(const cJSON *obj, const struct k8s_pos_map *pos,
				     struct k8s_diag *diag, const char *origin_name)
{
	struct pol_policy *pol;
	const cJSON *spec, *ps;
	const char *mode;
	struct meta m;
	struct dc d;
	size_t mk;

	dc_init(&d, obj, "NetworkPolicy", pos, diag, origin_name);
	pol = calloc(1, sizeof(*pol));
	if (!pol) {
		doom(&d);
		errno = ENOMEM;
		return NULL;
	}
	if (!decode_meta(&d, obj, true, k8s_check_dns1123_subdomain, &m))
		goto out;
	pol->ns = dup(&d, m.ns);
	pol->name = dup(&d, m.name);
	mk = path_field(&d, "metadata");
	if (m.annotations && get_string(&d, m.annotations, K8S_MODE_ANNOTATION, &mode) && mode) {
		if (!strcmp(mode, K8S_MODE_AUDIT)) {
			pol->staged = true;
		} else {
			size_t mk2 = path_field(&d, "annotations");
			size_t mk3 = path_key(&d, K8S_MODE_ANNOTATION);

			derr(&d, member(m.annotations, K8S_MODE_ANNOTATION),
			     "unsupported value %s: the only mode a policy can set is \"audit\"",
			     Q(mode));
			path_pop(&d, mk3);
			path_pop(&d, mk2);
		}
	}
	path_pop(&d, mk);
	if (!get_object(&d, obj, "spec", &spec))
		goto out;
	if (!spec) {
		derr(&d, obj, "spec: required field is missing");
		goto out;
	}
	mk = path_field(&d, "spec");
	ps = member(spec, "podSelector");
	if (!ps) {
		derr(&d, spec, "podSelector: required field is missing (use {} to select every pod)");
	} else {
		size_t mk2 = path_field(&d, "podSelector");

		decode_selector(&d, ps, &pol->pod_sel);
		path_pop(&d, mk2);
	}
	decode_rules(&d, spec, "ingress", "from", &pol->ingress, &pol->n_ingress);
	decode_rules(&d, spec, "egress", "to", &pol->egress, &pol->n_egress);
	decode_policy_types(&d, spec, pol);
	path_pop(&d, mk);
	pol->origin = make_origin(&d, obj);
out:
	if (d.errors) {
		pol_policy_free(pol);
		errno = d.oom ? ENOMEM : EINVAL;
		return NULL;
	}
	return pol;
}

/* ---- dispatch ---- */

enum k8s_kind k8s_kind_of(const cJSON *obj, enum k8s_kind list_default)
{
	const cJSON *kind = member(obj, "kind"), *api = member(obj, "apiVersion");
	const char *k, *a;
	enum k8s_kind want_kind;

	if (!kind)
		return list_default;
	if (!cJSON_IsString(kind))
		return K8S_KIND_OTHER;
	k = kind->valuestring;
	a = cJSON_IsString(api) ? api->valuestring : NULL;
	if (!strcmp(k, "Namespace"))
		want_kind = K8S_KIND_NAMESPACE;
	else if (!strcmp(k, "Pod"))
		want_kind = K8S_KIND_POD;
	else if (!strcmp(k, "NetworkPolicy"))
		want_kind = K8S_KIND_NETWORKPOLICY;
	else
		return K8S_KIND_OTHER;
	/* Items of a typed list may carry a kind but no apiVersion. */
	if (!a)
		return list_default == want_kind ? want_kind : K8S_KIND_OTHER;
	if (want_kind == K8S_KIND_NETWORKPOLICY)
		return !strcmp(a, "networking.k8s.io/v1") ? want_kind : K8S_KIND_OTHER;
	return !strcmp(a, "v1") ? want_kind : K8S_KIND_OTHER;
}

const char *k8s_kind_name(enum k8s_kind kind)
{
	switch (kind) {
	case K8S_KIND_NAMESPACE:
		return "Namespace";
	case K8S_KIND_POD:
		return "Pod";
	case K8S_KIND_NETWORKPOLICY:
		return "NetworkPolicy";
	default:
		return "object";
	}
}

int k8s_decode_object(const cJSON *obj, enum k8s_kind kind, struct pol_cluster *into,
		      const struct k8s_pos_map *pos, struct k8s_diag *diag, const char *origin_name)
{
	int rc;

	switch (kind) {
	case K8S_KIND_NAMESPACE: {
		struct pol_namespace *ns = k8s_decode_namespace(obj, pos, diag, origin_name);

		if (!ns)
			return -1;
		rc = pol_cluster_add_namespace(into, ns);
		break;
	}
	case K8S_KIND_POD: {
		struct pol_pod *pod = k8s_decode_pod(obj, pos, diag, origin_name);

		if (!pod)
			return -1;
		rc = pol_cluster_add_pod(into, pod);
		break;
	}
	case K8S_KIND_NETWORKPOLICY: {
		struct pol_policy *pol = k8s_decode_policy(obj, pos, diag, origin_name);

		if (!pol)
			return -1;
		rc = pol_cluster_add_policy(into, pol);
		break;
	}
	default:
		return 1;
	}
	if (rc < 0) {
		k8s_diag_error(diag, origin_name, 0, 0, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	return 0;
}
