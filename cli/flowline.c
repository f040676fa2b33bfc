/* SPDX-License-Identifier: Apache-2.0 */
/* cli/flowline.c - parse a simulate flow line, format its result line. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/flowline.h"

void flowline_buf_reset(struct flowline_buf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

void flowline_buf_free(struct flowline_buf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

static bool buf_reserve(struct flowline_buf *b, size_t extra)
{
	size_t want, cap;
	char *s;

	if (b->oom)
		return false;
	if (extra > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return false;
	}
	want = b->len + extra + 1;
	if (want <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	s = realloc(b->s, cap);
	if (!s) {
		b->oom = true;
		return false;
	}
	b->s = s;
	b->cap = cap;
	return true;
}

void flowline_buf_put(struct flowline_buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void flowline_buf_puts(struct flowline_buf *b, const char *s)
{
	flowline_buf_put(b, s, strlen(s));
}

void flowline_buf_printf(struct flowline_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* The inside of a JSON string literal, without quotes. */
static void put_escaped(struct flowline_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		const unsigned char *run = p;

		while (*p && *p >= 0x20 && *p != '"' && *p != '\\')
			p++;
		if (p > run)
			flowline_buf_put(b, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		switch (*p) {
		case '"':  flowline_buf_put(b, "\\\"", 2); break;
		case '\\': flowline_buf_put(b, "\\\\", 2); break;
		case '\n': flowline_buf_put(b, "\\n", 2); break;
		case '\t': flowline_buf_put(b, "\\t", 2); break;
		case '\r': flowline_buf_put(b, "\\r", 2); break;
		default: {
			char esc[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };

			flowline_buf_put(b, esc, sizeof(esc));
		}
		}
	}
}

void flowline_buf_json_string(struct flowline_buf *b, const char *s)
{
	if (!s) {
		flowline_buf_puts(b, "null");
		return;
	}
	flowline_buf_put(b, "\"", 1);
	put_escaped(b, s);
	flowline_buf_put(b, "\"", 1);
}

void flowline_buf_json_ref(struct flowline_buf *b, const char *ns, const char *name)
{
	flowline_buf_put(b, "\"", 1);
	put_escaped(b, ns ? ns : "");
	flowline_buf_put(b, "/", 1);
	put_escaped(b, name ? name : "");
	flowline_buf_put(b, "\"", 1);
}

static const char *const output_members[] = { "verdict", "src_pod", "dst_pod", "reason" };

static bool is_output_member(const char *name)
{
	for (size_t i = 0; i < sizeof(output_members) / sizeof(output_members[0]); i++)
		if (strcmp(name, output_members[i]) == 0)
			return true;
	return false;
}

bool flowline_is_blank(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n')
			return false;
	return true;
}

static const char *json_type_name(const cJSON *item)
{
	if (cJSON_IsString(item))
		return "a string";
	if (cJSON_IsNumber(item))
		return "a number";
	if (cJSON_IsBool(item))
		return "a boolean";
	if (cJSON_IsNull(item))
		return "null";
	if (cJSON_IsArray(item))
		return "an array";
	if (cJSON_IsObject(item))
		return "an object";
	return "an invalid value";
}

/* Quote at most 24 bytes of s for a message, replacing control bytes. */
static void snippet(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n && i < 24 && o + 2 < outlen; i++)
		out[o++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (n > 24 && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static bool parse_ip_member(const cJSON *obj, const char *name, struct pol_ip *ip,
			    char *err, size_t errlen)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
	char q[40];

	if (!item || cJSON_IsNull(item)) {
		snprintf(err, errlen, "missing \"%s\" (the %s IP address)", name,
			 strcmp(name, "src") == 0 ? "source" : "destination");
		return false;
	}
	if (!cJSON_IsString(item)) {
		snprintf(err, errlen, "\"%s\" must be an IP address string, got %s",
			 name, json_type_name(item));
		return false;
	}
	if (!pol_ip_parse(item->valuestring, ip)) {
		snippet(item->valuestring, strlen(item->valuestring), q, sizeof(q));
		snprintf(err, errlen, "\"%s\": \"%s\" is not an IPv4 or IPv6 address%s",
			 name, q, strchr(item->valuestring, '/') ? " (a prefix length is not allowed)" : "");
		return false;
	}
	return true;
}

static bool parse_members(const cJSON *obj, struct flowline *out, char *err, size_t errlen)
{
	const cJSON *item, *proto_item, *port_item;
	bool src_v4, dst_v4, icmp;
	char q[40];

	for (item = obj->child; item; item = item->next) {
		for (const cJSON *prev = obj->child; prev != item; prev = prev->next) {
			if (strcmp(prev->string, item->string) == 0) {
				snippet(item->string, strlen(item->string), q, sizeof(q));
				snprintf(err, errlen, "member \"%s\" appears twice", q);
				return false;
			}
		}
	}
	if (!parse_ip_member(obj, "src", &out->flow.src, err, errlen) ||
	    !parse_ip_member(obj, "dst", &out->flow.dst, err, errlen))
		return false;
	src_v4 = pol_ip_is_v4(&out->flow.src);
	dst_v4 = pol_ip_is_v4(&out->flow.dst);
	if (src_v4 != dst_v4) {
		snprintf(err, errlen, "\"src\" is an %s address but \"dst\" is an %s address",
			 src_v4 ? "IPv4" : "IPv6", dst_v4 ? "IPv4" : "IPv6");
		return false;
	}

	out->flow.proto = POL_PROTO_TCP;
	proto_item = cJSON_GetObjectItemCaseSensitive(obj, "protocol");
	if (proto_item && !cJSON_IsNull(proto_item)) {
		uint8_t p;

		if (!cJSON_IsString(proto_item)) {
			snprintf(err, errlen, "\"protocol\" must be a string, got %s",
				 json_type_name(proto_item));
			return false;
		}
		p = pol_proto_parse(proto_item->valuestring);
		if (!p) {
			snippet(proto_item->valuestring, strlen(proto_item->valuestring), q, sizeof(q));
			snprintf(err, errlen, "\"protocol\": \"%s\" is not one of TCP, UDP, SCTP, ICMP, ICMPv6 (case-sensitive)", q);
			return false;
		}
		out->flow.proto = p;
	}
	icmp = out->flow.proto == POL_PROTO_ICMP || out->flow.proto == POL_PROTO_ICMPV6;
	if (out->flow.proto == POL_PROTO_ICMP && !src_v4) {
		snprintf(err, errlen, "\"protocol\": \"ICMP\" with IPv6 addresses; use \"ICMPv6\"");
		return false;
	}
	if (out->flow.proto == POL_PROTO_ICMPV6 && src_v4) {
		snprintf(err, errlen, "\"protocol\": \"ICMPv6\" with IPv4 addresses; use \"ICMP\"");
		return false;
	}

	port_item = cJSON_GetObjectItemCaseSensitive(obj, "port");
	if (port_item && cJSON_IsNull(port_item))
		port_item = NULL;
	if (icmp) {
		if (port_item) {
			snprintf(err, errlen, "\"port\" is not allowed with protocol %s (ICMP has no ports)",
				 pol_proto_name(out->flow.proto));
			return false;
		}
		out->flow.port = 0;
		out->has_port = false;
		return true;
	}
	if (!port_item) {
		snprintf(err, errlen, "missing \"port\" (required for protocol %s)",
			 pol_proto_name(out->flow.proto));
		return false;
	}
	if (!cJSON_IsNumber(port_item)) {
		snprintf(err, errlen, "\"port\" must be a number, got %s", json_type_name(port_item));
		return false;
	}
	if (!isfinite(port_item->valuedouble) ||
	    port_item->valuedouble != floor(port_item->valuedouble)) {
		snprintf(err, errlen, "\"port\": %.15g is not an integer", port_item->valuedouble);
		return false;
	}
	if (port_item->valuedouble < 1 || port_item->valuedouble > 65535) {
		snprintf(err, errlen, "\"port\": %.15g is out of range 1-65535", port_item->valuedouble);
		return false;
	}
	out->flow.port = (uint16_t)port_item->valuedouble;
	out->has_port = true;
	return true;
}

/* The echo: the input's own bytes when possible (numbers and spacing come
 * back exactly as given), re-serialised only when output members must go. */
static bool make_echo(cJSON *obj, const char *text, size_t len, struct flowline *out)
{
	bool rewrite = false;
	const char *open, *close;
	char *s;

	for (const cJSON *item = obj->child; item; item = item->next)
		if (is_output_member(item->string))
			rewrite = true;
	if (rewrite) {
		for (size_t i = 0; i < sizeof(output_members) / sizeof(output_members[0]); i++)
			cJSON_DeleteItemFromObjectCaseSensitive(obj, output_members[i]);
		s = cJSON_PrintUnformatted(obj);
		if (!s)
			return false;
		close = strrchr(s, '}');
		if (close)
			s[close - s] = '\0';
		out->echo = s;
		return true;
	}
	open = memchr(text, '{', len);
	if (!open)
		return false;
	/* The parser accepted an object: its last '}' closes it. */
	close = text + len - 1;
	while (close > open && *close != '}')
		close--;
	while (close > open + 1 && strchr(" \t\r\n", close[-1]))
		close--;
	if (close <= open)
		return false;
	out->echo = strndup(open, (size_t)(close - open));
	return out->echo != NULL;
}

bool flowline_parse(const char *text, size_t len, struct flowline *out,
		    char *err, size_t errlen)
{
	const char *end = NULL;
	cJSON *obj;
	bool ok = false;
	char q[40];

	memset(out, 0, sizeof(*out));
	if (len > FLOWLINE_MAX_LEN) {
		snprintf(err, errlen, "line is %zu bytes long, the limit is %d", len, FLOWLINE_MAX_LEN);
		errno = EINVAL;
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		/* cJSON takes any byte below 0x20 as whitespace; JSON does not. */
		if (c < 0x20 && c != '\t' && !(c == '\r' && i == len - 1) && !(c == '\n' && i == len - 1)) {
			snprintf(err, errlen, "column %zu: control character 0x%02x is not allowed", i + 1, c);
			errno = EINVAL;
			return false;
		}
	}
	errno = 0;
	obj = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!obj) {
		if (errno == ENOMEM) {
			snprintf(err, errlen, "out of memory");
			return false;
		}
		errno = EINVAL;
		if (end && end >= text && end <= text + len) {
			size_t col = (size_t)(end - text);

			if (col >= len) {
				snprintf(err, errlen, "malformed JSON: the line ends inside the object");
			} else {
				snippet(end, len - col, q, sizeof(q));
				snprintf(err, errlen, "malformed JSON at column %zu, near '%s'", col + 1, q);
			}
		} else {
			snprintf(err, errlen, "malformed JSON");
		}
		return false;
	}
	/* Anything but whitespace after the object is a second value. */
	if (end) {
		const char *p = end;

		while (p < text + len && strchr(" \t\r\n", *p))
			p++;
		if (p < text + len) {
			snippet(p, (size_t)(text + len - p), q, sizeof(q));
			snprintf(err, errlen, "unexpected text after the object at column %zu: '%s'",
				 (size_t)(p - text) + 1, q);
			goto out;
		}
	}
	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "expected a JSON object like {\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"port\": 80}, got %s",
			 json_type_name(obj));
		goto out;
	}
	if (!parse_members(obj, out, err, errlen))
		goto out;
	if (!make_echo(obj, text, len, out)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	ok = true;
out:
	cJSON_Delete(obj);
	if (!ok) {
		flowline_clear(out);
		errno = strcmp(err, "out of memory") == 0 ? ENOMEM : EINVAL;
	}
	return ok;
}

void flowline_clear(struct flowline *fl)
{
	free(fl->echo);
	memset(fl, 0, sizeof(*fl));
}

static void put_policy_ref(struct flowline_buf *b, const struct pol_policy *pol, bool json)
{
	if (json)
		flowline_buf_json_ref(b, pol->ns, pol->name);
	else
		flowline_buf_printf(b, "%s/%s", pol->ns, pol->name);
}

enum dir_kind { DIR_EGRESS, DIR_INGRESS };

static const char *dir_state_name(const struct pol_verdict *v, enum dir_kind d)
{
	const struct pol_dir_result *r = d == DIR_EGRESS ? &v->egress : &v->ingress;
	enum pol_endpoint_kind kind = d == DIR_EGRESS ? v->src_kind : v->dst_kind;

	if (kind != POL_EP_POD)
		return "not a pod";
	switch (r->state) {
	case POL_DIR_SKIPPED:      return "not local";
	case POL_DIR_NOT_ISOLATED: return "not isolated";
	case POL_DIR_ALLOWED:      return "allowed";
	case POL_DIR_DENIED:       return "denied";
	}
	return "unknown";
}

static bool dir_is_decided(const struct pol_verdict *v, enum dir_kind d)
{
	const struct pol_dir_result *r = d == DIR_EGRESS ? &v->egress : &v->ingress;
	enum pol_endpoint_kind kind = d == DIR_EGRESS ? v->src_kind : v->dst_kind;

	return kind == POL_EP_POD && (r->state == POL_DIR_ALLOWED || r->state == POL_DIR_DENIED);
}

static void format_dir_json(struct flowline_buf *b, const struct pol_verdict *v, enum dir_kind d)
{
	const struct pol_dir_result *r = d == DIR_EGRESS ? &v->egress : &v->ingress;

	flowline_buf_puts(b, "{\"state\": ");
	flowline_buf_json_string(b, dir_state_name(v, d));
	if (dir_is_decided(v, d)) {
		if (r->state == POL_DIR_ALLOWED && r->policy) {
			flowline_buf_puts(b, ", \"policy\": ");
			put_policy_ref(b, r->policy, true);
			flowline_buf_printf(b, ", \"rule\": %d", r->rule);
		}
		flowline_buf_puts(b, ", \"isolated_by\": [");
		for (size_t i = 0; i < r->n_isolating; i++) {
			if (i)
				flowline_buf_puts(b, ", ");
			put_policy_ref(b, r->isolating[i], true);
		}
		flowline_buf_puts(b, "]");
	}
	flowline_buf_puts(b, "}");
}

static void format_dir_text(struct flowline_buf *b, const struct pol_verdict *v, enum dir_kind d)
{
	const struct pol_dir_result *r = d == DIR_EGRESS ? &v->egress : &v->ingress;

	if ((d == DIR_EGRESS ? v->src_kind : v->dst_kind) != POL_EP_POD) {
		flowline_buf_puts(b, d == DIR_EGRESS ? "source not a pod" : "destination not a pod");
		return;
	}
	flowline_buf_puts(b, d == DIR_EGRESS ? "egress " : "ingress ");
	flowline_buf_puts(b, dir_state_name(v, d));
	if (!dir_is_decided(v, d))
		return;
	if (r->state == POL_DIR_ALLOWED && r->policy) {
		flowline_buf_puts(b, " by ");
		put_policy_ref(b, r->policy, false);
		flowline_buf_printf(b, " %s[%d]", d == DIR_EGRESS ? "egress" : "ingress", r->rule);
		return;
	}
	flowline_buf_puts(b, " (isolated by ");
	for (size_t i = 0; i < r->n_isolating; i++) {
		if (i)
			flowline_buf_puts(b, ", ");
		put_policy_ref(b, r->isolating[i], false);
	}
	flowline_buf_puts(b, "; no rule allows it)");
}

void flowline_format_reason_text(struct flowline_buf *b, const struct pol_verdict *v)
{
	switch (v->reason) {
	case POL_REASON_SELF:
		flowline_buf_puts(b, "a pod may always reach itself");
		return;
	case POL_REASON_NODE:
		flowline_buf_puts(b, "traffic between a pod and its own node is always allowed");
		return;
	case POL_REASON_POLICY:
		break;
	}
	format_dir_text(b, v, DIR_EGRESS);
	flowline_buf_puts(b, "; ");
	format_dir_text(b, v, DIR_INGRESS);
}

void flowline_format_reason_json(struct flowline_buf *b, const struct pol_verdict *v)
{
	flowline_buf_puts(b, "{\"by\": ");
	switch (v->reason) {
	case POL_REASON_SELF:   flowline_buf_puts(b, "\"self\""); break;
	case POL_REASON_NODE:   flowline_buf_puts(b, "\"node\""); break;
	case POL_REASON_POLICY: flowline_buf_puts(b, "\"policy\""); break;
	}
	flowline_buf_puts(b, ", \"text\": ");
	{
		struct flowline_buf t = { 0 };

		flowline_format_reason_text(&t, v);
		if (t.oom)
			b->oom = true;
		flowline_buf_json_string(b, t.s ? t.s : "");
		flowline_buf_free(&t);
	}
	if (v->reason == POL_REASON_POLICY) {
		flowline_buf_puts(b, ", \"egress\": ");
		format_dir_json(b, v, DIR_EGRESS);
		flowline_buf_puts(b, ", \"ingress\": ");
		format_dir_json(b, v, DIR_INGRESS);
	}
	flowline_buf_puts(b, "}");
}

void flowline_format_result(struct flowline_buf *b, const struct flowline *fl,
			    const struct pol_verdict *v)
{
	flowline_buf_puts(b, fl->echo);
	if (strlen(fl->echo) > 1)
		flowline_buf_puts(b, ", ");
	flowline_buf_puts(b, "\"verdict\": ");
	flowline_buf_puts(b, v->allowed ? "\"allow\"" : "\"deny\"");
	flowline_buf_puts(b, ", \"src_pod\": ");
	if (v->src_pod)
		flowline_buf_json_ref(b, v->src_pod->ns, v->src_pod->name);
	else
		flowline_buf_puts(b, "null");
	flowline_buf_puts(b, ", \"dst_pod\": ");
	if (v->dst_pod)
		flowline_buf_json_ref(b, v->dst_pod->ns, v->dst_pod->name);
	else
		flowline_buf_puts(b, "null");
	flowline_buf_puts(b, ", \"reason\": ");
	flowline_format_reason_json(b, v);
	flowline_buf_puts(b, "}\n");
}
