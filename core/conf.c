/* SPDX-License-Identifier: Apache-2.0 */
/* core/conf.c - configuration files: parse, validate against a keyset, merge into argv. */
#include "core/conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/flags.h"

/* Larger files are a mistake (a binary, a log), not a configuration. */
#define CONF_MAX_FILE (1u << 20)

struct errbuf {
	char *buf;
	size_t len, off;
	unsigned n;
	const char *path;
};

static void __attribute__((format(printf, 3, 4)))
add_error(struct errbuf *e, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	e->n++;
	if (e->n > CONF_MAX_ERRORS || e->off + 1 >= e->len)
		return;
	n = snprintf(e->buf + e->off, e->len - e->off, "%s%s:%u: ", e->off ? "\n" : "", e->path,
		     line);
	if (n < 0 || (size_t)n >= e->len - e->off) {
		e->off = e->len - 1;
		return;
	}
	e->off += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(e->buf + e->off, e->len - e->off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= e->len - e->off)
		e->off = e->len - 1;
	else
		e->off += (size_t)n;
}

bool conf_parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static void choices_text(const struct conf_key *k, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; k->choices[i] && off + 1 < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i == 0 ? "" : k->choices[i + 1] ? ", " : " or ",
				 k->choices[i]);

		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* Check one value; false with the reason in why. */
static bool check_value(const struct conf_key *k, const char *v, char *why, size_t whylen)
{
	uint64_t u;
	bool b;

	why[0] = 0;
	switch (k->type) {
	case CONF_STRING:
	case CONF_CUSTOM:
		break;
	case CONF_BOOL:
		if (!conf_parse_bool(v, &b)) {
			snprintf(why, whylen, "expected true or false (also yes/no, on/off, 1/0)");
			return false;
		}
		break;
	case CONF_ENUM: {
		bool found = false;

		for (size_t i = 0; k->choices[i]; i++)
			found = found || strcmp(v, k->choices[i]) == 0;
		if (!found) {
			char c[200]; /* choices lists are short; leaves room in why */

			choices_text(k, c, sizeof(c));
			snprintf(why, whylen, "expected %s", c);
			return false;
		}
		break;
	}
	case CONF_U64:
		if (!flag_parse_u64(v, k->min, k->max, &u)) {
			snprintf(why, whylen, "expected a whole number from %llu to %llu",
				 (unsigned long long)k->min, (unsigned long long)k->max);
			return false;
		}
		break;
	case CONF_DURATION:
		if (!flag_parse_duration(v, &u)) {
			snprintf(why, whylen, "expected a duration such as 90s, 15m, 12h or 7d");
			return false;
		}
		break;
	case CONF_SIZE:
		if (!flag_parse_size(v, &u) || u == 0) {
			snprintf(why, whylen, "expected a size such as 512M or 1G");
			return false;
		}
		break;
	}
	if (k->check && !k->check(v, why, whylen)) {
		if (!why[0])
			snprintf(why, whylen, "invalid value");
		return false;
	}
	return true;
}

static const struct conf_key *find_key(const struct conf_key *keys, size_t n, const char *name,
				       size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(keys[i].name) == len && strncmp(keys[i].name, name, len) == 0)
			return &keys[i];
	return NULL;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The value part of a line (after '='), unquoted into out. false with a
 * reason when a quote is unterminated or text follows it. */
static bool read_value(const char *p, const char *end, char *out, size_t outlen, char *why,
		       size_t whylen)
{
	size_t o = 0;

	while (p < end && is_blank(*p))
		p++;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			char c = *p;

			if (c == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\'))
				c = *++p;
			if (o + 1 < outlen)
				out[o++] = c;
		}
		if (p >= end) {
			snprintf(why, whylen, "unterminated \"");
			return false;
		}
		for (p++; p < end && is_blank(*p); p++)
			;
		if (p < end && *p != '#') {
			snprintf(why, whylen, "unexpected text after the closing \"");
			return false;
		}
		out[o] = 0;
		return true;
	}
	/* Unquoted: up to a '#' that starts the line's rest or follows a
	 * blank, trailing blanks cut. */
	for (; p < end; p++) {
		if (*p == '#' && (o == 0 || is_blank(out[o - 1])))
			break;
		if (o + 1 < outlen)
			out[o++] = *p;
	}
	while (o > 0 && is_blank(out[o - 1]))
		o--;
	out[o] = 0;
	return true;
}

int conf_parse(const char *path, const char *text, size_t len, const struct conf_key *keys,
	       size_t n_keys, struct conf **out, char *err, size_t errlen)
{
	struct errbuf e = { .buf = err, .len = errlen, .path = path };
	struct conf *c = calloc(1, sizeof(*c));
	const char *p = text, *end = text + len;
	unsigned line = 0;
	size_t cap = 0;

	*out = NULL;
	if (errlen)
		err[0] = 0;
	if (!c || !(c->path = strdup(path))) {
		free(c);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *ks, *ke, *eq;
		const struct conf_key *k;
		char value[CONF_MAX_LINE], why[256];

		if (!eol)
			eol = end;
		line++;
		if (memchr(p, '\0', (size_t)(eol - p))) {
			add_error(&e, line, "NUL byte (not a text file?)");
			goto next;
		}
		if (eol - p >= CONF_MAX_LINE) {
			add_error(&e, line, "line longer than %d bytes", CONF_MAX_LINE - 1);
			goto next;
		}
		for (ks = p; ks < eol && is_blank(*ks); ks++)
			;
		if (ks == eol || *ks == '#')
			goto next;
		eq = memchr(ks, '=', (size_t)(eol - ks));
		if (!eq) {
			add_error(&e, line, "expected 'key = value', got '%.*s'", (int)(eol - ks), ks);
			goto next;
		}
		for (ke = eq; ke > ks && is_blank(ke[-1]); ke--)
			;
		if (ke == ks) {
			add_error(&e, line, "missing key before '='");
			goto next;
		}
		k = find_key(keys, n_keys, ks, (size_t)(ke - ks));
		if (!k) {
			add_error(&e, line, "unknown key '%.*s'", (int)(ke - ks), ks);
			goto next;
		}
		if (!read_value(eq + 1, eol, value, sizeof(value), why, sizeof(why))) {
			add_error(&e, line, "'%s': %s", k->name, why);
			goto next;
		}
		if (!value[0]) {
			add_error(&e, line, "'%s' has no value", k->name);
			goto next;
		}
		if (!k->repeat) {
			for (size_t i = 0; i < c->n; i++) {
				if (c->entries[i].key == k) {
					add_error(&e, line, "duplicate key '%s' (already set at line %u)",
						  k->name, c->entries[i].line);
					goto next;
				}
			}
		}
		if (!check_value(k, value, why, sizeof(why))) {
			add_error(&e, line, "%s = '%s': %s", k->name, value, why);
			goto next;
		}
		if (c->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct conf_entry *ne = realloc(c->entries, ncap * sizeof(*ne));

			if (!ne)
				goto oom;
			c->entries = ne;
			cap = ncap;
		}
		c->entries[c->n].key = k;
		c->entries[c->n].line = line;
		c->entries[c->n].value = strdup(value);
		if (!c->entries[c->n].value)
			goto oom;
		c->n++;
next:
		p = eol < end ? eol + 1 : end;
	}
	if (e.n) {
		if (e.n > CONF_MAX_ERRORS && e.off + 1 < e.len)
			snprintf(err + e.off, errlen - e.off, "\n%s: %u more errors", path,
				 e.n - CONF_MAX_ERRORS);
		conf_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
oom:
	conf_free(c);
	snprintf(err, errlen, "%s: out of memory", path);
	return -ENOMEM;
}

int conf_load(const char *path, const struct conf_key *keys, size_t n_keys,
	      struct conf **out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *text;
	size_t off = 0;
	int rc;

	*out = NULL;
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_size > CONF_MAX_FILE) {
		close(fd);
		snprintf(err, errlen, "%s: larger than %u bytes; not a configuration file", path,
			 CONF_MAX_FILE);
		return -EFBIG;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, text + off, (size_t)st.st_size + 1 - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			free(text);
			close(fd);
			snprintf(err, errlen, "%s: reading: %s", path, strerror(-rc));
			return rc;
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > (size_t)st.st_size) {
			/* Grew while we read: take what the stat promised. */
			off = (size_t)st.st_size;
			break;
		}
	}
	close(fd);
	rc = conf_parse(path, text, off, keys, n_keys, out, err, errlen);
	free(text);
	return rc;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->entries[i].value);
	free(c->entries);
	free(c->path);
	free(c);
}

const struct conf_entry *conf_get(const struct conf *c, const char *name)
{
	const struct conf_entry *found = NULL;

	for (size_t i = 0; c && i < c->n; i++)
		if (strcmp(c->entries[i].key->name, name) == 0)
			found = &c->entries[i];
	return found;
}

static bool takes_value(const struct conf_key *k)
{
	return k->type != CONF_BOOL && !k->choice_flags;
}

/* The key whose value-taking flag is exactly name (length len), if any. */
static bool flag_takes_value(const struct conf_key *keys, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (keys[i].flag && takes_value(&keys[i]) && strlen(keys[i].flag) == len &&
		    strncmp(keys[i].flag, name, len) == 0)
			return true;
	return false;
}

static bool flag_matches(const char *flag, const char *arg, size_t len)
{
	return flag && strlen(flag) == len && strncmp(flag, arg, len) == 0;
}

bool conf_flag_given(const struct conf_key *key, const struct conf_key *keys, size_t n_keys,
		     int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		size_t len;

		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--", 2) != 0)
			continue;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		if (flag_matches(key->flag, a, len))
			return true;
		for (size_t c = 0; key->choice_flags && key->choices[c]; c++)
			if (flag_matches(key->choice_flags[c], a, len))
				return true;
		if (!eq && flag_takes_value(keys, n_keys, a, len))
			i++; /* its value */
	}
	return false;
}

char **conf_merge_argv(const struct conf *c, const struct conf_key *keys, size_t n_keys,
		       int argc, char **argv, int *argc_out)
{
	size_t max = (size_t)argc + 2 * (c ? c->n : 0) + 1, n = 0;
	char **nv = calloc(max, sizeof(*nv));

	if (!nv)
		return NULL;
	nv[n++] = argv[0];
	for (size_t i = 0; c && i < c->n; i++) {
		const struct conf_entry *e = &c->entries[i];
		const struct conf_key *k = e->key;
		bool b;

		if (!k->flag || conf_flag_given(k, keys, n_keys, argc, argv))
			continue;
		if (k->type == CONF_BOOL) {
			if (conf_parse_bool(e->value, &b) && b)
				nv[n++] = (char *)k->flag;
		} else if (k->choice_flags) {
			for (size_t j = 0; k->choices[j]; j++)
				if (strcmp(e->value, k->choices[j]) == 0 && k->choice_flags[j])
					nv[n++] = (char *)k->choice_flags[j];
		} else {
			nv[n++] = (char *)k->flag;
			nv[n++] = e->value;
		}
	}
	for (int i = 1; i < argc; i++)
		nv[n++] = argv[i];
	nv[n] = NULL;
	*argc_out = (int)n;
	return nv;
}

void conf_argv_free(char **argv)
{
	free(argv);
}
