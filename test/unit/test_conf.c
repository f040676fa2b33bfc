/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_conf.c - config files: parsing, every error with its line, merging under flags. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/run_svc.h"
#include "core/conf.h"
#include "test.h"

static const char *const colours[] = { "red", "green", "blue", NULL };
static const char *const sw[] = { "open", "closed", NULL };
static const char *const sw_flags[] = { "--open", "--closed", NULL };

static bool even(const char *v, char *why, size_t len)
{
	if (strlen(v) % 2 == 0)
		return true;
	snprintf(why, len, "odd length");
	return false;
}

static const struct conf_key keys[] = {
	{ .name = "path", .type = CONF_STRING, .flag = "--path", .repeat = true },
	{ .name = "colour", .type = CONF_ENUM, .flag = "--colour", .choices = colours },
	{ .name = "count", .type = CONF_U64, .flag = "--count", .min = 1, .max = 10 },
	{ .name = "verbose", .type = CONF_BOOL, .flag = "--verbose" },
	{ .name = "age", .type = CONF_DURATION, .flag = "--age" },
	{ .name = "size", .type = CONF_SIZE, .flag = "--size" },
	{ .name = "door", .type = CONF_ENUM, .flag = "--open", .choices = sw, .choice_flags = sw_flags },
	{ .name = "word", .type = CONF_CUSTOM, .flag = "--word", .check = even },
};
#define NK (sizeof(keys) / sizeof(keys[0]))

static int parse(const char *text, struct conf **c, char *err, size_t len)
{
	return conf_parse("t.conf", text, strlen(text), keys, NK, c, err, len);
}

static void expect_error(const char *text, const char *want)
{
	struct conf *c = NULL;
	char err[2048];
	int rc = parse(text, &c, err, sizeof(err));

	T_ASSERT(rc == -EINVAL && !c, "'%s' accepted", text);
	T_ASSERT(strstr(err, want) != NULL, "'%s': got '%s', wanted '%s'", text, err, want);
	conf_free(c);
}

static void test_values(void)
{
	struct conf *c = NULL;
	char err[2048];
	const struct conf_entry *e;
	int rc = parse("# comment\n"
		       "  path = /a b/c  # trailing comment\n"
		       "path=/x#y\n"
		       "colour = green\r\n"
		       "count = 10\n"
		       "verbose = yes\n"
		       "age = 1h30m\n"
		       "size = 1G\n"
		       "door = closed\n"
		       "word = \"ab \\\" #\"\n"
		       "\n",
		       &c, err, sizeof(err));

	T_ASSERT(rc == 0, "rc %d: %s", rc, err);
	if (rc)
		return;
	T_ASSERT(c->n == 9, "%zu entries", c->n);
	T_ASSERT(strcmp(c->entries[0].value, "/a b/c") == 0, "'%s'", c->entries[0].value);
	T_ASSERT(c->entries[0].line == 2, "line %u", c->entries[0].line);
	T_ASSERT(strcmp(c->entries[1].value, "/x#y") == 0, "'#' inside a word is text: '%s'",
		 c->entries[1].value);
	e = conf_get(c, "colour");
	T_ASSERT(e && strcmp(e->value, "green") == 0, "CRLF line endings");
	e = conf_get(c, "word");
	T_ASSERT(e && strcmp(e->value, "ab \" #") == 0, "quoted: '%s'", e ? e->value : "");
	e = conf_get(c, "path");
	T_ASSERT(e && strcmp(e->value, "/x#y") == 0, "conf_get returns the last");
	conf_free(c);
}

static void test_errors(void)
{
	expect_error("nope = 1\n", "t.conf:1: unknown key 'nope'");
	expect_error("\n\ncolour = purple\n", "t.conf:3: colour = 'purple': expected red, green or blue");
	expect_error("count = 0\n", "t.conf:1: count = '0': expected a whole number from 1 to 10");
	expect_error("count = 11\n", "from 1 to 10");
	expect_error("count = -1\n", "from 1 to 10");
	expect_error("verbose = sure\n", "t.conf:1: verbose = 'sure': expected true or false");
	expect_error("age = soon\n", "expected a duration");
	expect_error("size = 0\n", "expected a size");
	expect_error("word = abc\n", "t.conf:1: word = 'abc': odd length");
	expect_error("colour = red\ncolour = blue\n", "t.conf:2: duplicate key 'colour' (already set at line 1)");
	expect_error("colour\n", "t.conf:1: expected 'key = value', got 'colour'");
	expect_error(" = red\n", "t.conf:1: missing key before '='");
	expect_error("colour =\n", "t.conf:1: 'colour' has no value");
	expect_error("colour = # nothing\n", "'colour' has no value");
	expect_error("word = \"ab\n", "t.conf:1: 'word': unterminated \"");
	expect_error("word = \"ab\" cd\n", "unexpected text after the closing");
	/* Every error is reported, not only the first. */
	expect_error("a = 1\nb = 2\n", "t.conf:1: unknown key 'a'\nt.conf:2: unknown key 'b'");
	{
		char text[] = "colour = red\0\n";

		struct conf *c = NULL;
		char err[256];

		T_ASSERT(conf_parse("t.conf", text, sizeof(text) - 1, keys, NK, &c, err, sizeof(err)) ==
				 -EINVAL && strstr(err, "NUL byte"),
			 "NUL: %s", err);
	}
	{
		/* More errors than reported: a count of the rest. */
		char text[4096] = "";
		struct conf *c = NULL;
		char err[8192];

		for (int i = 0; i < CONF_MAX_ERRORS + 5; i++)
			strcat(text, "x = 1\n");
		T_ASSERT(parse(text, &c, err, sizeof(err)) == -EINVAL && strstr(err, "5 more errors"),
			 "overflow: %s", err);
	}
}

static void test_merge(void)
{
	struct conf *c = NULL;
	char err[1024];
	char *argv[] = { "run", "--colour=red", "--path", "/cli", "--closed", "--count", "--verbose", NULL };
	char **m;
	int n = 0;
	const char *want[] = { "run", "--verbose", "--size", "1K", "--colour=red", "--path", "/cli",
			       "--closed", "--count", "--verbose" };

	T_ASSERT(parse("path = /f1\npath = /f2\ncolour = blue\nverbose = true\nsize = 1K\n"
		       "door = open\ncount = 3\n",
		       &c, err, sizeof(err)) == 0,
		 "%s", err);
	/* "--count --verbose": --count takes the value "--verbose", so
	 * verbose is not given on the command line; count is. */
	m = conf_merge_argv(c, keys, NK, 7, argv, &n);
	T_ASSERT(m && n == 10, "merged %d", n);
	for (int i = 0; m && i < n && i < 10; i++)
		T_ASSERT(strcmp(m[i], want[i]) == 0, "argv[%d] = '%s', wanted '%s'", i, m[i], want[i]);
	T_ASSERT(m && m[n] == NULL, "NULL-terminated");
	conf_argv_free(m);
	m = conf_merge_argv(NULL, keys, NK, 7, argv, &n);
	T_ASSERT(m && n == 7, "no config: a copy");
	conf_argv_free(m);
	{
		char *a2[] = { "run", "--", "--colour", NULL };

		T_ASSERT(!conf_flag_given(&keys[1], keys, NK, 3, a2), "after -- nothing is a flag");
	}
	conf_free(c);
}

/* The run keyset: every key's documented default is a value it accepts
 * (or a parenthesised note), and every key maps to a flag. */
static void test_run_keys(void)
{
	for (size_t i = 0; i < runsvc_n_keys; i++) {
		const struct conf_key *k = &runsvc_keys[i];
		char text[512], err[1024];
		struct conf *c = NULL;

		T_ASSERT(k->flag && k->help && k->def, "key %s documented", k->name);
		if (!k->def || k->def[0] == '(' || strchr(k->def, ' '))
			continue;
		snprintf(text, sizeof(text), "%s = %s\n", k->name, k->def);
		T_ASSERT(conf_parse("run.conf", text, strlen(text), runsvc_keys, runsvc_n_keys, &c, err,
				    sizeof(err)) == 0,
			 "default of %s refused: %s", k->name, err);
		conf_free(c);
	}
}

int main(void)
{
	test_values();
	test_errors();
	test_merge();
	test_run_keys();
	return T_REPORT();
}
