/* SPDX-License-Identifier: Apache-2.0 */
/* core/conf.h - "key = value" configuration files mapped onto command flags.
 *
 * Format (one setting a line):
 *
 *   # a comment
 *   mode = audit            # a comment after blanks
 *   cluster = /etc/npshim/cluster
 *   cluster = /var/lib/npshim/extra.yaml   (a repeatable key)
 *   node = "name with # or spaces"         (double quotes: \" and \\ escapes)
 *
 * The caller declares the keyset: every key has a type, a default (as
 * documented), bounds or choices, and the command flag it stands for. A file
 * is turned into flags placed BEFORE the command line's, and a key whose flag
 * (or a flag excluding it) is on the command line is left out, so flags
 * override the file and repeatable keys are replaced, not appended to.
 *
 * Every problem names the file and line: unknown key, missing '=', empty or
 * bad value, a non-repeatable key given twice. Parsing reports all of them
 * (up to CONF_MAX_ERRORS), one per line of the message buffer.
 *
 * Ownership: struct conf owns copies of every value; conf_free() releases
 * them. conf_merge_argv() returns one allocation (conf_argv_free()).
 * Owner: systemd/config helper (issue 7).
 */
#ifndef NPSHIM_CORE_CONF_H
#define NPSHIM_CORE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_MAX_ERRORS 20
#define CONF_MAX_LINE 4096

enum conf_type {
	CONF_STRING,   /* any non-empty text */
	CONF_BOOL,     /* true/false, yes/no, on/off, 1/0: "flag" when true */
	CONF_ENUM,     /* one of choices[] */
	CONF_U64,      /* decimal in [min, max] */
	CONF_DURATION, /* core/flags.h durations: 90s, 15m, 7d */
	CONF_SIZE,     /* core/flags.h sizes: 512M, 1G */
	CONF_CUSTOM,   /* check() decides */
};

struct conf_key {
	const char *name;
	enum conf_type type;
	/* The flag the key stands for ("--mode"); the value follows it,
	 * except for CONF_BOOL (the flag alone when true, nothing when
	 * false) and for an enum with choice_flags (the flag of the chosen
	 * value alone, e.g. fail = open -> --fail-open). */
	const char *flag;
	const char *const *choices;      /* CONF_ENUM, NULL-terminated */
	const char *const *choice_flags; /* parallel to choices, or NULL */
	uint64_t min, max;               /* CONF_U64 */
	bool repeat;                     /* may be given on several lines */
	/* CONF_CUSTOM (and extra checks of other types): true when value is
	 * valid; otherwise a reason ("expected N or FIRST:LAST") in why. */
	bool (*check)(const char *value, char *why, size_t whylen);
	const char *def;   /* the default, as the documentation states it */
	const char *help;  /* one line, for the example file and the man page */
};

struct conf_entry {
	const struct conf_key *key;
	char *value;
	unsigned line;
};

struct conf {
	char *path;
	struct conf_entry *entries;
	size_t n;
};

/* Parse the file at path against keys[0..n_keys). Returns 0 with *out set;
 * -EINVAL when the file has errors (each "PATH:LINE: message" on its own line
 * in err); another -errno when it cannot be read (message in err). */
int conf_load(const char *path, const struct conf_key *keys, size_t n_keys,
	      struct conf **out, char *err, size_t errlen);
/* Parse text already in memory (path names it in messages). Same returns. */
int conf_parse(const char *path, const char *text, size_t len, const struct conf_key *keys,
	       size_t n_keys, struct conf **out, char *err, size_t errlen);
void conf_free(struct conf *c);

/* The last value of key name (any line), or NULL. */
const struct conf_entry *conf_get(const struct conf *c, const char *name);

/* True when the command line argv[1..argc) sets key's flag or one of its
 * choice flags ("--mode x", "--mode=x", "--fail-open"). keys tells which
 * flags take a value, so a value is never mistaken for a flag. */
bool conf_flag_given(const struct conf_key *key, const struct conf_key *keys, size_t n_keys,
		     int argc, char **argv);

/* New argv: argv[0], then the flags of every entry of c not overridden by
 * the command line, then argv[1..argc). c may be NULL (a copy). NULL with
 * errno on allocation failure. Strings are borrowed from c and argv. */
char **conf_merge_argv(const struct conf *c, const struct conf_key *keys, size_t n_keys,
		       int argc, char **argv, int *argc_out);
void conf_argv_free(char **argv);

/* Parse a boolean as the file accepts it. */
bool conf_parse_bool(const char *text, bool *out);

#endif
