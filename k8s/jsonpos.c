/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/jsonpos.c - strict JSON parser that records source positions. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/strbuf.h"
#include "k8s/diag.h"
#include "k8s/jsonpos.h"
#include "k8s/tree.h"

struct jp {
	const char *s;
	size_t len;
	size_t i;
	size_t line_start; /* offset of the first byte of the current line */
	uint32_t line;
	const char *path;
	struct k8s_pos_map *pos;
	struct k8s_diag *diag;
	bool failed;
};

static uint32_t jp_col(const struct jp *p, size_t at)
{
	return (uint32_t)(at - p->line_start + 1);
}

/* Report at offset at of the current line; only the first error counts,
 * later ones would be consequences of it. */
static void __attribute__((format(printf, 3, 4)))
jp_fail(struct jp *p, size_t at, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	k8s_diag_error(p->diag, p->path, p->line, jp_col(p, at),
		       "invalid JSON (byte offset %zu): %s", at, buf);
}

static void jp_oom(struct jp *p)
{
	jp_fail(p, p->i, "out of memory");
}

size_t k8s_utf8_seq_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t need, k;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	for (k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

static void skip_ws(struct jp *p)
{
	while (p->i < p->len) {
		char c = p->s[p->i];

		if (c == '\n') {
			p->i++;
			p->line++;
			p->line_start = p->i;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			p->i++;
		} else {
			break;
		}
	}
}

static bool record(struct jp *p, cJSON *node, size_t at, uint32_t flags)
{
	if (!p->pos)
		return true;
	if (k8s_pos_map_set(p->pos, node, p->line, jp_col(p, at), flags) < 0) {
		jp_oom(p);
		return false;
	}
	return true;
}

/* A string value being unescaped: false once an append ran out of memory. */
static bool sbuf_add(struct strbuf *sb, const char *data, size_t n)
{
	strbuf_append(sb, data, n);
	return !sb->oom;
}

static int hex4(const char *s)
{
	int v = 0, k;

	for (k = 0; k < 4; k++) {
		char c = s[k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static size_t utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* At the opening quote. Returns a malloc'd string or NULL (failed set). */
static char *parse_string(struct jp *p)
{
	struct strbuf sb = { 0 };
	size_t start = p->i;

	p->i++;
	if (!sbuf_add(&sb, "", 0))
		goto oom;
	for (;;) {
		size_t run = p->i, k;
		unsigned char c;

		/* Copy runs of plain bytes in one go. */
		while (p->i < p->len) {
			c = (unsigned char)p->s[p->i];
			if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
				break;
			p->i++;
		}
		if (p->i > run && !sbuf_add(&sb, p->s + run, p->i - run))
			goto oom;
		if (p->i >= p->len) {
			jp_fail(p, start, "unterminated string");
			goto fail;
		}
		c = (unsigned char)p->s[p->i];
		if (c == '"') {
			p->i++;
			return sb.s;
		}
		if (c < 0x20) {
			jp_fail(p, p->i, "control character 0x%02x in string (must be escaped)", c);
			goto fail;
		}
		if (c >= 0x80) {
			k = k8s_utf8_seq_len((const unsigned char *)p->s + p->i, p->len - p->i);
			if (!k) {
				jp_fail(p, p->i, "invalid UTF-8 byte 0x%02x in string", c);
				goto fail;
			}
			if (!sbuf_add(&sb, p->s + p->i, k))
				goto oom;
			p->i += k;
			continue;
		}
		/* Backslash. */
		if (p->i + 1 >= p->len) {
			jp_fail(p, start, "unterminated string");
			goto fail;
		}
		{
			char e = p->s[p->i + 1], out[4];
			size_t esc = p->i;
			const char *lit = NULL;
			int cp, lo;

			switch (e) {
			case '"': lit = "\""; break;
			case '\\': lit = "\\"; break;
			case '/': lit = "/"; break;
			case 'b': lit = "\b"; break;
			case 'f': lit = "\f"; break;
			case 'n': lit = "\n"; break;
			case 'r': lit = "\r"; break;
			case 't': lit = "\t"; break;
			case 'u': break;
			default:
				if ((unsigned char)e < 0x20 || (unsigned char)e >= 0x7f)
					jp_fail(p, esc, "invalid escape in string");
				else
					jp_fail(p, esc, "invalid escape \\%c in string", e);
				goto fail;
			}
			if (lit) {
				if (!sbuf_add(&sb, lit, 1))
					goto oom;
				p->i += 2;
				continue;
			}
			if (p->len - p->i < 6 || (cp = hex4(p->s + p->i + 2)) < 0) {
				jp_fail(p, esc, "\\u must be followed by four hex digits");
				goto fail;
			}
			p->i += 6;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				jp_fail(p, esc, "lone low surrogate \\u%04x in string", cp);
				goto fail;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p->len - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' ||
				    (lo = hex4(p->s + p->i + 2)) < 0 || lo < 0xdc00 || lo > 0xdfff) {
					jp_fail(p, esc, "high surrogate \\u%04x not followed by a low surrogate", cp);
					goto fail;
				}
				p->i += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0) {
				jp_fail(p, esc, "\\u0000 in string is not supported");
				goto fail;
			}
			if (!sbuf_add(&sb, out, utf8_put(out, (uint32_t)cp)))
				goto oom;
		}
	}
oom:
	jp_oom(p);
fail:
	strbuf_free(&sb);
	return NULL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static cJSON *parse_number(struct jp *p)
{
	size_t start = p->i, n;
	bool is_float = false;
	char small[64], *copy = small;
	double v;
	cJSON *node;

	if (p->i < p->len && p->s[p->i] == '-')
		p->i++;
	if (p->i >= p->len || !is_digit(p->s[p->i])) {
		jp_fail(p, start, "invalid number");
		return NULL;
	}
	if (p->s[p->i] == '0') {
		p->i++;
		if (p->i < p->len && is_digit(p->s[p->i])) {
			jp_fail(p, start, "leading zero in number");
			return NULL;
		}
	} else {
		while (p->i < p->len && is_digit(p->s[p->i]))
			p->i++;
	}
	if (p->i < p->len && p->s[p->i] == '.') {
		is_float = true;
		p->i++;
		if (p->i >= p->len || !is_digit(p->s[p->i])) {
			jp_fail(p, p->i, "digit expected after decimal point");
			return NULL;
		}
		while (p->i < p->len && is_digit(p->s[p->i]))
			p->i++;
	}
	if (p->i < p->len && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		is_float = true;
		p->i++;
		if (p->i < p->len && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (p->i >= p->len || !is_digit(p->s[p->i])) {
			jp_fail(p, p->i, "digit expected in exponent");
			return NULL;
		}
		while (p->i < p->len && is_digit(p->s[p->i]))
			p->i++;
	}
	n = p->i - start;
	if (n >= sizeof(small)) {
		copy = malloc(n + 1);
		if (!copy) {
			jp_oom(p);
			return NULL;
		}
	}
	memcpy(copy, p->s + start, n);
	copy[n] = '\0';
	/* The grammar above already matched; strtod only converts. Overflow
	 * gives +-HUGE_VAL, which every range check downstream refuses. */
	v = strtod(copy, NULL);
	if (copy != small)
		free(copy);
	node = cJSON_CreateNumber(v);
	if (!node) {
		jp_oom(p);
		return NULL;
	}
	if (!record(p, node, start, is_float ? K8S_POS_FLOAT : 0)) {
		cJSON_Delete(node);
		return NULL;
	}
	return node;
}

static bool match_lit(struct jp *p, const char *lit)
{
	size_t n = strlen(lit);

	if (p->len - p->i < n || memcmp(p->s + p->i, lit, n) != 0)
		return false;
	p->i += n;
	return true;
}

static cJSON *parse_value(struct jp *p, unsigned depth);

static cJSON *parse_array(struct jp *p, unsigned depth)
{
	size_t start = p->i;
	uint32_t start_line = p->line;
	cJSON *arr = cJSON_CreateArray();

	if (!arr) {
		jp_oom(p);
		return NULL;
	}
	if (!record(p, arr, start, 0))
		goto fail;
	p->i++;
	skip_ws(p);
	if (p->i < p->len && p->s[p->i] == ']') {
		p->i++;
		return arr;
	}
	for (;;) {
		cJSON *item;

		skip_ws(p);
		item = parse_value(p, depth + 1);
		if (!item)
			goto fail;
		cJSON_AddItemToArray(arr, item);
		skip_ws(p);
		if (p->i >= p->len) {
			jp_fail(p, p->i, "unexpected end of input in array opened at line %u",
				(unsigned)start_line);
			goto fail;
		}
		if (p->s[p->i] == ',') {
			p->i++;
			skip_ws(p);
			if (p->i < p->len && p->s[p->i] == ']') {
				jp_fail(p, p->i, "trailing comma in array");
				goto fail;
			}
			continue;
		}
		if (p->s[p->i] == ']') {
			p->i++;
			return arr;
		}
		jp_fail(p, p->i, "expected ',' or ']' in array");
		goto fail;
	}
fail:
	cJSON_Delete(arr);
	return NULL;
}

static cJSON *parse_object(struct jp *p, unsigned depth)
{
	struct k8s_objkeys keys = { 0 };
	size_t start = p->i;
	uint32_t start_line = p->line;
	cJSON *obj = cJSON_CreateObject();

	if (!obj) {
		jp_oom(p);
		return NULL;
	}
	if (!record(p, obj, start, 0))
		goto fail;
	p->i++;
	skip_ws(p);
	if (p->i < p->len && p->s[p->i] == '}') {
		p->i++;
		return obj;
	}
	for (;;) {
		size_t key_at;
		char *key;
		cJSON *val;
		int rc;

		skip_ws(p);
		if (p->i >= p->len) {
			jp_fail(p, p->i, "unexpected end of input in object opened at line %u",
				(unsigned)start_line);
			goto fail;
		}
		if (p->s[p->i] != '"') {
			jp_fail(p, p->i, "expected a string key in object");
			goto fail;
		}
		key_at = p->i;
		key = parse_string(p);
		if (!key)
			goto fail;
		rc = k8s_objkeys_add(&keys, obj, key);
		if (rc <= 0) {
			if (rc < 0) {
				jp_oom(p);
			} else {
				struct k8s_pos first;
				const cJSON *prev = cJSON_GetObjectItemCaseSensitive(obj, key);

				if (prev && k8s_pos_map_get(p->pos, prev, &first))
					jp_fail(p, key_at, "duplicate key \"%.80s\" (first at line %u)",
						key, (unsigned)first.line);
				else
					jp_fail(p, key_at, "duplicate key \"%.80s\"", key);
			}
			free(key);
			goto fail;
		}
		skip_ws(p);
		if (p->i >= p->len || p->s[p->i] != ':') {
			jp_fail(p, p->i, "expected ':' after object key");
			free(key);
			goto fail;
		}
		p->i++;
		skip_ws(p);
		val = parse_value(p, depth + 1);
		if (!val) {
			free(key);
			goto fail;
		}
		/* The member owns key; the duplicate set borrows it. */
		val->string = key;
		cJSON_AddItemToArray(obj, val);
		skip_ws(p);
		if (p->i >= p->len) {
			jp_fail(p, p->i, "unexpected end of input in object opened at line %u",
				(unsigned)start_line);
			goto fail;
		}
		if (p->s[p->i] == ',') {
			p->i++;
			skip_ws(p);
			if (p->i < p->len && p->s[p->i] == '}') {
				jp_fail(p, p->i, "trailing comma in object");
				goto fail;
			}
			continue;
		}
		if (p->s[p->i] == '}') {
			p->i++;
			k8s_objkeys_free(&keys);
			return obj;
		}
		jp_fail(p, p->i, "expected ',' or '}' in object");
		goto fail;
	}
fail:
	k8s_objkeys_free(&keys);
	cJSON_Delete(obj);
	return NULL;
}

static cJSON *parse_value(struct jp *p, unsigned depth)
{
	size_t start = p->i;
	cJSON *node = NULL;
	char c;

	if (p->i >= p->len) {
		jp_fail(p, p->i, "unexpected end of input, expected a value");
		return NULL;
	}
	c = p->s[p->i];
	if ((c == '{' || c == '[') && depth >= K8S_JSON_MAX_DEPTH) {
		jp_fail(p, p->i, "nesting deeper than %d levels", K8S_JSON_MAX_DEPTH);
		return NULL;
	}
	switch (c) {
	case '{':
		return parse_object(p, depth);
	case '[':
		return parse_array(p, depth);
	case '"': {
		char *s = parse_string(p);

		if (!s)
			return NULL;
		/* cJSON_CreateString would copy; adopt the buffer instead. */
		node = cJSON_CreateNull();
		if (!node) {
			free(s);
			jp_oom(p);
			return NULL;
		}
		node->type = cJSON_String;
		node->valuestring = s;
		break;
	}
	case '-':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return parse_number(p);
	default:
		if (match_lit(p, "true"))
			node = cJSON_CreateTrue();
		else if (match_lit(p, "false"))
			node = cJSON_CreateFalse();
		else if (match_lit(p, "null"))
			node = cJSON_CreateNull();
		else {
			if ((unsigned char)c >= 0x21 && (unsigned char)c < 0x7f)
				jp_fail(p, p->i, "unexpected character '%c', expected a value", c);
			else
				jp_fail(p, p->i, "unexpected byte 0x%02x, expected a value",
					(unsigned char)c);
			return NULL;
		}
		if (!node) {
			jp_oom(p);
			return NULL;
		}
		/* "nullx", "true1": a literal must end at a delimiter. */
		if (p->i < p->len && ((p->s[p->i] >= 'a' && p->s[p->i] <= 'z') ||
				      is_digit(p->s[p->i]))) {
			jp_fail(p, start, "invalid literal");
			cJSON_Delete(node);
			return NULL;
		}
		break;
	}
	if (!record(p, node, start, 0)) {
		cJSON_Delete(node);
		return NULL;
	}
	return node;
}

cJSON *k8s_json_parse(const char *data, size_t len, const char *path,
		      struct k8s_pos_map *pos, struct k8s_diag *diag)
{
	struct jp p = {
		.s = data, .len = len, .line = 1, .path = path, .pos = pos, .diag = diag,
	};
	cJSON *root;

	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		p.i = 3;
		p.line_start = 3;
	}
	skip_ws(&p);
	if (p.i >= p.len) {
		jp_fail(&p, p.i, "empty input, expected a value");
		return NULL;
	}
	root = parse_value(&p, 0);
	if (!root)
		return NULL;
	skip_ws(&p);
	if (p.i < p.len) {
		jp_fail(&p, p.i, "unexpected data after the end of the JSON value");
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}
