/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/yamlpos.c - YAML streams into cJSON trees, with source positions. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "k8s/diag.h"
#include "k8s/tree.h"
#include "k8s/yamlpos.h"

/* Nodes alias expansion may create per document. Real manifests copy a few
 * dozen; a "billion laughs" document asks for 10^9. */
#ifdef NPSHIM_FUZZING
#define YAML_COPY_BUDGET 50000
#else
#define YAML_COPY_BUDGET 250000
#endif

#define TAG_PREFIX "tag:yaml.org,2002:"

struct anchor {
	char *name;
	const cJSON *node;
	bool complete;
};

struct frame {
	cJSON *node;
	bool is_map;
	bool have_key;       /* map: a key was read, its value is next */
	bool key_is_merge;   /* ... and that key is the merge key << */
	char *key;           /* owned until the value takes it */
	struct k8s_objkeys keys;
	cJSON **merges;      /* merge sources, borrowed from the graveyard */
	size_t n_merges;
	size_t anchor;       /* index + 1 into yb.anchors, 0 = none */
};

struct yb {
	const char *path;
	struct k8s_pos_map *pos;
	struct k8s_diag *diag;
	struct frame *stack;
	size_t depth, cap;
	cJSON *root;
	cJSON *graveyard; /* merge values: kept alive (anchors may point in) */
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	size_t *anchor_index; /* open addressing over anchors, index + 1 */
	size_t index_cap;
	size_t copied;
	bool failed;
};

static void __attribute__((format(printf, 3, 4)))
yb_fail(struct yb *b, const yaml_mark_t *mark, const char *fmt, ...)
{
	char buf[320];
	va_list ap;

	if (b->failed)
		return;
	b->failed = true;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (mark)
		k8s_diag_error(b->diag, b->path, (unsigned)mark->line + 1,
			       (unsigned)mark->column + 1, "invalid YAML: %s", buf);
	else
		k8s_diag_error(b->diag, b->path, 0, 0, "invalid YAML: %s", buf);
}

static void yb_oom(struct yb *b, const yaml_mark_t *mark)
{
	yb_fail(b, mark, "out of memory");
}

static bool record(struct yb *b, const cJSON *node, const yaml_mark_t *mark, uint32_t flags)
{
	if (!b->pos)
		return true;
	if (k8s_pos_map_set(b->pos, node, (uint32_t)mark->line + 1,
			    (uint32_t)mark->column + 1, flags) < 0) {
		yb_oom(b, mark);
		return false;
	}
	return true;
}

/* ---- anchors ---- */

static size_t name_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static size_t *anchor_slot(size_t *index, size_t cap, const struct anchor *all, const char *name)
{
	size_t i = name_hash(name) & (cap - 1);

	while (index[i] && strcmp(all[index[i] - 1].name, name) != 0)
		i = (i + 1) & (cap - 1);
	return &index[i];
}

static struct anchor *anchor_find(struct yb *b, const char *name)
{
	size_t *slot;

	if (!b->index_cap)
		return NULL;
	slot = anchor_slot(b->anchor_index, b->index_cap, b->anchors, name);
	return *slot ? &b->anchors[*slot - 1] : NULL;
}

/* Define (or redefine: YAML allows it, later aliases see the new one) an
 * anchor for node. Returns its index + 1, or 0 on ENOMEM. */
static size_t anchor_define(struct yb *b, const char *name, const cJSON *node)
{
	struct anchor *a = anchor_find(b, name);
	size_t *slot;

	if (a) {
		a->node = node;
		a->complete = false;
		return (size_t)(a - b->anchors) + 1;
	}
	if ((b->n_anchors + 1) * 2 > b->index_cap) {
		size_t ncap = b->index_cap ? b->index_cap * 2 : 32, i;
		size_t *nidx = calloc(ncap, sizeof(*nidx));

		if (!nidx)
			return 0;
		for (i = 0; i < b->n_anchors; i++)
			*anchor_slot(nidx, ncap, b->anchors, b->anchors[i].name) = i + 1;
		free(b->anchor_index);
		b->anchor_index = nidx;
		b->index_cap = ncap;
	}
	if (b->n_anchors == b->cap_anchors) {
		size_t ncap = b->cap_anchors ? b->cap_anchors * 2 : 16;
		struct anchor *na = realloc(b->anchors, ncap * sizeof(*na));

		if (!na)
			return 0;
		b->anchors = na;
		b->cap_anchors = ncap;
	}
	a = &b->anchors[b->n_anchors];
	a->name = strdup(name);
	if (!a->name)
		return 0;
	a->node = node;
	a->complete = false;
	b->n_anchors++;
	slot = anchor_slot(b->anchor_index, b->index_cap, b->anchors, name);
	*slot = b->n_anchors;
	return b->n_anchors;
}

static void anchors_reset(struct yb *b)
{
	size_t i;

	for (i = 0; i < b->n_anchors; i++)
		free(b->anchors[i].name);
	b->n_anchors = 0;
	if (b->anchor_index)
		memset(b->anchor_index, 0, b->index_cap * sizeof(*b->anchor_index));
}

/* ---- deep copy for aliases ---- */

static cJSON *copy_node(struct yb *b, const cJSON *src, const yaml_mark_t *mark)
{
	struct k8s_pos p;
	cJSON *dst, *c;

	if (++b->copied > YAML_COPY_BUDGET) {
		yb_fail(b, mark, "aliases expand to more than %d nodes (alias bomb?)",
			YAML_COPY_BUDGET);
		return NULL;
	}
	dst = cJSON_CreateNull();
	if (!dst) {
		yb_oom(b, mark);
		return NULL;
	}
	dst->type = src->type & 0xff;
	dst->valuedouble = src->valuedouble;
	dst->valueint = src->valueint;
	if (src->valuestring) {
		dst->valuestring = strdup(src->valuestring);
		if (!dst->valuestring) {
			cJSON_Delete(dst);
			yb_oom(b, mark);
			return NULL;
		}
	}
	/* The copy points at the text it came from: that is where a user
	 * fixes a value. */
	if (k8s_pos_map_get(b->pos, src, &p) &&
	    k8s_pos_map_set(b->pos, dst, p.line, p.col, p.flags) < 0) {
		cJSON_Delete(dst);
		yb_oom(b, mark);
		return NULL;
	}
	for (c = src->child; c; c = c->next) {
		cJSON *cc = copy_node(b, c, mark);

		if (!cc) {
			cJSON_Delete(dst);
			return NULL;
		}
		if (c->string) {
			cc->string = strdup(c->string);
			if (!cc->string) {
				cJSON_Delete(cc);
				cJSON_Delete(dst);
				yb_oom(b, mark);
				return NULL;
			}
		}
		cJSON_AddItemToArray(dst, cc);
	}
	return dst;
}

/* ---- scalars ---- */

static bool word_in(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static const char *const null_words[] = { "", "~", "null", "Null", "NULL", NULL };
static const char *const true_words[] = {
	"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", NULL,
};
static const char *const false_words[] = {
	"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", NULL,
};

/* go-yaml: underscores dropped, then strconv.ParseInt(s, 0, 64). */
static bool yaml_int(const char *s, double *out)
{
	char buf[72], *p = buf;
	unsigned long long v = 0, limit;
	unsigned base = 10;
	bool neg = false;
	size_t n = 0;

	for (; *s; s++) {
		if (*s == '_')
			continue;
		if (n + 1 >= sizeof(buf))
			return false;
		buf[n++] = *s;
	}
	buf[n] = '\0';
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		base = 8;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2;
		p += 2;
	} else if (p[0] == '0' && p[1]) {
		base = 8;
		p += 1;
	}
	if (!*p)
		return false;
	limit = neg ? (unsigned long long)INT64_MAX + 1 : (unsigned long long)INT64_MAX;
	for (; *p; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (*p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (*p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			return false;
		if (d >= base)
			return false;
		if (v > (limit - d) / base)
			return false;
		v = v * base + d;
	}
	*out = neg ? -(double)v : (double)v;
	return true;
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ after dropping
 * underscores, and the .inf/.nan words. */
static bool yaml_float(const char *s, double *out)
{
	static const char *const inf[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL };
	static const char *const ninf[] = { "-.inf", "-.Inf", "-.INF", NULL };
	static const char *const nan_words[] = { ".nan", ".NaN", ".NAN", NULL };
	char buf[128], *p = buf;
	size_t n = 0;
	bool digits = false;

	if (word_in(s, inf)) {
		*out = HUGE_VAL;
		return true;
	}
	if (word_in(s, ninf)) {
		*out = -HUGE_VAL;
		return true;
	}
	if (word_in(s, nan_words)) {
		*out = NAN;
		return true;
	}
	for (; *s; s++) {
		if (*s == '_')
			continue;
		if (n + 1 >= sizeof(buf))
			return false;
		buf[n++] = *s;
	}
	buf[n] = '\0';
	if (*p == '+' || *p == '-')
		p++;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	} else {
		while (*p >= '0' && *p <= '9') {
			p++;
			digits = true;
		}
		if (!digits)
			return false;
		if (*p == '.') {
			p++;
			while (*p >= '0' && *p <= '9')
				p++;
		}
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return false;
	*out = strtod(buf, NULL);
	return true;
}

static cJSON *new_string(const char *s)
{
	cJSON *node = cJSON_CreateString(s);

	return node;
}

static cJSON *make_scalar(struct yb *b, const yaml_event_t *ev)
{
	const char *text = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	const yaml_mark_t *mark = &ev->start_mark;
	cJSON *node = NULL;
	double d;

	if (strlen(text) != ev->data.scalar.length) {
		yb_fail(b, mark, "NUL character in scalar is not supported");
		return NULL;
	}
	if (tag && strcmp(tag, "!") != 0) {
		const char *t = strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0 ?
					tag + strlen(TAG_PREFIX) : NULL;

		if (!t) {
			yb_fail(b, mark, "unsupported tag %.80s", tag);
			return NULL;
		}
		if (!strcmp(t, "str") || !strcmp(t, "binary") || !strcmp(t, "timestamp")) {
			node = new_string(text);
		} else if (!strcmp(t, "int")) {
			if (!yaml_int(text, &d)) {
				yb_fail(b, mark, "!!int value \"%.80s\" is not an integer", text);
				return NULL;
			}
			node = cJSON_CreateNumber(d);
		} else if (!strcmp(t, "float")) {
			if (!yaml_int(text, &d) && !yaml_float(text, &d)) {
				yb_fail(b, mark, "!!float value \"%.80s\" is not a number", text);
				return NULL;
			}
			node = cJSON_CreateNumber(d);
		} else if (!strcmp(t, "bool")) {
			if (word_in(text, true_words))
				node = cJSON_CreateTrue();
			else if (word_in(text, false_words))
				node = cJSON_CreateFalse();
			else {
				yb_fail(b, mark, "!!bool value \"%.80s\" is not a boolean", text);
				return NULL;
			}
		} else if (!strcmp(t, "null")) {
			if (!word_in(text, null_words)) {
				yb_fail(b, mark, "!!null value \"%.80s\" is not null", text);
				return NULL;
			}
			node = cJSON_CreateNull();
		} else {
			yb_fail(b, mark, "tag %.80s not allowed on a scalar", tag);
			return NULL;
		}
	} else if (tag || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		node = new_string(text);
	} else if (word_in(text, null_words)) {
		node = cJSON_CreateNull();
	} else if (word_in(text, true_words)) {
		node = cJSON_CreateTrue();
	} else if (word_in(text, false_words)) {
		node = cJSON_CreateFalse();
	} else if (yaml_int(text, &d)) {
		node = cJSON_CreateNumber(d);
	} else if (yaml_float(text, &d)) {
		/* No K8S_POS_FLOAT: kubectl turns YAML into JSON with Go's
		 * encoder, which writes 80.0 as 80, so the API takes it. */
		node = cJSON_CreateNumber(d);
	} else {
		node = new_string(text);
	}
	if (!node) {
		yb_oom(b, mark);
		return NULL;
	}
	if (!record(b, node, mark, 0)) {
		cJSON_Delete(node);
		return NULL;
	}
	return node;
}

/* ---- building ---- */

static void frame_clear(struct frame *f)
{
	free(f->key);
	f->key = NULL;
	k8s_objkeys_free(&f->keys);
	free(f->merges);
	f->merges = NULL;
	f->n_merges = 0;
}

/* Place a finished scalar/alias or a new collection where the parser is:
 * document root, next array item, or value of the pending key. On failure
 * node is freed. */
static bool attach(struct yb *b, cJSON *node, const yaml_mark_t *mark)
{
	struct frame *f;

	if (b->depth == 0) {
		if (b->root) {
			cJSON_Delete(node);
			yb_fail(b, mark, "more than one root node in a document");
			return false;
		}
		b->root = node;
		return true;
	}
	f = &b->stack[b->depth - 1];
	if (!f->is_map) {
		cJSON_AddItemToArray(f->node, node);
		return true;
	}
	if (f->key_is_merge) {
		cJSON **nm = realloc(f->merges, (f->n_merges + 1) * sizeof(*nm));

		if (!nm) {
			cJSON_Delete(node);
			yb_oom(b, mark);
			return false;
		}
		f->merges = nm;
		f->merges[f->n_merges++] = node;
		cJSON_AddItemToArray(b->graveyard, node);
	} else {
		node->string = f->key;
		f->key = NULL;
		cJSON_AddItemToArray(f->node, node);
	}
	f->have_key = false;
	f->key_is_merge = false;
	return true;
}

/* Is the parser at a mapping key? Then scalars are keys, other nodes an error. */
static bool at_key(const struct yb *b)
{
	const struct frame *f;

	if (b->depth == 0)
		return false;
	f = &b->stack[b->depth - 1];
	return f->is_map && !f->have_key;
}

static bool take_key(struct yb *b, const yaml_event_t *ev)
{
	struct frame *f = &b->stack[b->depth - 1];
	const char *text = (const char *)ev->data.scalar.value;
	int rc;

	if (strlen(text) != ev->data.scalar.length) {
		yb_fail(b, &ev->start_mark, "NUL character in key is not supported");
		return false;
	}
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag &&
	    strcmp(text, "<<") == 0) {
		f->have_key = true;
		f->key_is_merge = true;
		return true;
	}
	f->key = strdup(text);
	if (!f->key) {
		yb_oom(b, &ev->start_mark);
		return false;
	}
	rc = k8s_objkeys_add(&f->keys, f->node, f->key);
	if (rc < 0) {
		yb_oom(b, &ev->start_mark);
		return false;
	}
	if (rc == 0) {
		const cJSON *prev = cJSON_GetObjectItemCaseSensitive(f->node, text);
		struct k8s_pos p;

		if (prev && k8s_pos_map_get(b->pos, prev, &p))
			yb_fail(b, &ev->start_mark, "duplicate key \"%.80s\" (first at line %u)",
				text, (unsigned)p.line);
		else
			yb_fail(b, &ev->start_mark, "duplicate key \"%.80s\"", text);
		return false;
	}
	f->have_key = true;
	return true;
}

static bool push(struct yb *b, cJSON *node, bool is_map, const yaml_mark_t *mark)
{
	struct frame *f;

	if (b->depth >= K8S_YAML_MAX_DEPTH) {
		yb_fail(b, mark, "nesting deeper than %d levels", K8S_YAML_MAX_DEPTH);
		return false;
	}
	if (b->depth == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 16;
		struct frame *ns = realloc(b->stack, ncap * sizeof(*ns));

		if (!ns) {
			yb_oom(b, mark);
			return false;
		}
		b->stack = ns;
		b->cap = ncap;
	}
	f = &b->stack[b->depth++];
	memset(f, 0, sizeof(*f));
	f->node = node;
	f->is_map = is_map;
	return true;
}

/* Apply << merges at the end of a mapping: members the mapping lacks are
 * copied in, earlier sources winning over later ones, as YAML 1.1 says. */
static bool apply_merges(struct yb *b, struct frame *f, const yaml_mark_t *mark)
{
	size_t i;

	for (i = 0; i < f->n_merges; i++) {
		const cJSON *src = f->merges[i], *one, *m;
		bool list = cJSON_IsArray(src);

		if (!list && !cJSON_IsObject(src)) {
			yb_fail(b, mark, "merge key << needs a mapping or a list of mappings");
			return false;
		}
		for (one = list ? src->child : src; one; one = list ? one->next : NULL) {
			if (!cJSON_IsObject(one)) {
				yb_fail(b, mark, "merge key << needs a mapping or a list of mappings");
				return false;
			}
			for (m = one->child; m; m = m->next) {
				cJSON *c = copy_node(b, m, mark);
				int rc;

				if (!c)
					return false;
				c->string = strdup(m->string ? m->string : "");
				if (!c->string) {
					cJSON_Delete(c);
					yb_oom(b, mark);
					return false;
				}
				rc = k8s_objkeys_add(&f->keys, f->node, c->string);
				if (rc < 0) {
					cJSON_Delete(c);
					yb_oom(b, mark);
					return false;
				}
				if (rc == 0)
					cJSON_Delete(c);
				else
					cJSON_AddItemToArray(f->node, c);
			}
		}
	}
	return true;
}

static bool pop(struct yb *b, const yaml_mark_t *mark)
{
	struct frame *f = &b->stack[b->depth - 1];
	bool ok = true;

	if (f->is_map && f->n_merges)
		ok = apply_merges(b, f, mark);
	if (f->anchor)
		b->anchors[f->anchor - 1].complete = true;
	frame_clear(f);
	b->depth--;
	return ok;
}

static bool on_collection_start(struct yb *b, const yaml_event_t *ev, bool is_map)
{
	const char *tag = (const char *)(is_map ? ev->data.mapping_start.tag :
					  ev->data.sequence_start.tag);
	const char *anchor = (const char *)(is_map ? ev->data.mapping_start.anchor :
					     ev->data.sequence_start.anchor);
	cJSON *node;
	size_t a = 0;

	if (at_key(b)) {
		yb_fail(b, &ev->start_mark, "mapping keys must be scalars");
		return false;
	}
	if (tag && strcmp(tag, "!") != 0 &&
	    strcmp(tag, is_map ? TAG_PREFIX "map" : TAG_PREFIX "seq") != 0) {
		yb_fail(b, &ev->start_mark, "unsupported tag %.80s on a %s", tag,
			is_map ? "mapping" : "sequence");
		return false;
	}
	node = is_map ? cJSON_CreateObject() : cJSON_CreateArray();
	if (!node) {
		yb_oom(b, &ev->start_mark);
		return false;
	}
	if (!record(b, node, &ev->start_mark, 0)) {
		cJSON_Delete(node);
		return false;
	}
	if (anchor) {
		a = anchor_define(b, anchor, node);
		if (!a) {
			cJSON_Delete(node);
			yb_oom(b, &ev->start_mark);
			return false;
		}
	}
	if (!attach(b, node, &ev->start_mark))
		return false;
	if (!push(b, node, is_map, &ev->start_mark))
		return false;
	b->stack[b->depth - 1].anchor = a;
	return true;
}

static bool on_scalar(struct yb *b, const yaml_event_t *ev)
{
	cJSON *node;

	if (at_key(b))
		return take_key(b, ev);
	node = make_scalar(b, ev);
	if (!node)
		return false;
	if (ev->data.scalar.anchor) {
		size_t a = anchor_define(b, (const char *)ev->data.scalar.anchor, node);

		if (!a) {
			cJSON_Delete(node);
			yb_oom(b, &ev->start_mark);
			return false;
		}
		b->anchors[a - 1].complete = true;
	}
	return attach(b, node, &ev->start_mark);
}

static bool on_alias(struct yb *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct anchor *a = anchor_find(b, name);
	cJSON *node;

	if (at_key(b)) {
		yb_fail(b, &ev->start_mark, "an alias cannot be a mapping key");
		return false;
	}
	if (!a) {
		yb_fail(b, &ev->start_mark, "unknown anchor \"%.80s\"", name);
		return false;
	}
	if (!a->complete) {
		yb_fail(b, &ev->start_mark, "alias \"%.80s\" refers to a node that contains it",
			name);
		return false;
	}
	node = copy_node(b, a->node, &ev->start_mark);
	if (!node)
		return false;
	return attach(b, node, &ev->start_mark);
}

static void reset_document(struct yb *b)
{
	while (b->depth) {
		frame_clear(&b->stack[b->depth - 1]);
		b->depth--;
	}
	cJSON_Delete(b->root);
	b->root = NULL;
	cJSON_Delete(b->graveyard);
	b->graveyard = NULL;
	anchors_reset(b);
	b->copied = 0;
}

static unsigned line_of_offset(const char *data, size_t len, size_t off, unsigned *col)
{
	unsigned line = 1;
	size_t i, start = 0;

	if (off > len)
		off = len;
	for (i = 0; i < off; i++) {
		if (data[i] == '\n') {
			line++;
			start = i + 1;
		}
	}
	*col = (unsigned)(off - start + 1);
	return line;
}

static void report_parser_error(struct yb *b, const yaml_parser_t *p, const char *data, size_t len)
{
	unsigned line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		yb_fail(b, NULL, "out of memory");
		break;
	case YAML_READER_ERROR:
		line = line_of_offset(data, len, p->problem_offset, &col);
		b->failed = true;
		if (p->problem_value != -1)
			k8s_diag_error(b->diag, b->path, line, col,
				       "invalid YAML: %s (byte 0x%02x at offset %zu)",
				       p->problem ? p->problem : "reader error",
				       (unsigned)p->problem_value & 0xff, p->problem_offset);
		else
			k8s_diag_error(b->diag, b->path, line, col,
				       "invalid YAML: %s (at offset %zu)",
				       p->problem ? p->problem : "reader error", p->problem_offset);
		break;
	default:
		if (p->context)
			yb_fail(b, &p->problem_mark, "%s (%s that started at line %u)",
				p->problem ? p->problem : "syntax error", p->context,
				(unsigned)p->context_mark.line + 1);
		else
			yb_fail(b, &p->problem_mark, "%s",
				p->problem ? p->problem : "syntax error");
		break;
	}
}

int k8s_yaml_parse(const char *data, size_t len, const char *path,
		   struct k8s_pos_map *pos, struct k8s_diag *diag,
		   k8s_yaml_doc_fn fn, void *arg)
{
	struct yb b = { .path = path, .pos = pos, .diag = diag };
	yaml_parser_t parser;
	unsigned doc_line = 1;
	int ret = 0;
	bool done = false;

	if (!yaml_parser_initialize(&parser)) {
		k8s_diag_error(diag, path, 0, 0, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (!done) {
		yaml_event_t ev;
		bool ok = true;

		if (!yaml_parser_parse(&parser, &ev)) {
			report_parser_error(&b, &parser, data, len);
			ret = -1;
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			reset_document(&b);
			k8s_pos_map_clear(pos);
			doc_line = (unsigned)ev.start_mark.line + 1;
			b.graveyard = cJSON_CreateArray();
			if (!b.graveyard) {
				yb_oom(&b, &ev.start_mark);
				ok = false;
			}
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (!b.root) {
				b.root = cJSON_CreateNull();
				if (!b.root) {
					yb_oom(&b, &ev.start_mark);
					ok = false;
					break;
				}
			}
			if (fn(b.root, doc_line, arg) != 0) {
				ret = 1;
				done = true;
			}
			reset_document(&b);
			break;
		case YAML_SCALAR_EVENT:
			ok = on_scalar(&b, &ev);
			break;
		case YAML_ALIAS_EVENT:
			ok = on_alias(&b, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			ok = on_collection_start(&b, &ev, false);
			break;
		case YAML_MAPPING_START_EVENT:
			ok = on_collection_start(&b, &ev, true);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			ok = b.depth > 0 && pop(&b, &ev.start_mark);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (!ok) {
			if (!b.failed)
				yb_fail(&b, NULL, "internal parser state error");
			ret = -1;
			break;
		}
	}
	reset_document(&b);
	anchors_reset(&b);
	free(b.anchors);
	free(b.anchor_index);
	free(b.stack);
	yaml_parser_delete(&parser);
	return ret;
}
