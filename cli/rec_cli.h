/* SPDX-License-Identifier: Apache-2.0 */
/* cli/rec_cli.h - shared plumbing of `recommend` and `replay`.
 *
 * Reading recorded flows from one or more databases into observations
 * (audit/replay.h), loading cluster files into a struct pol_cluster with
 * every diagnostic printed, building models from clones, and writing
 * Kubernetes objects as YAML a person would write (kubectl layout, comments
 * before list items). Messages go to stderr prefixed with the command.
 *
 * Ownership: clusters and models returned through *out belong to the
 * caller (pol_cluster_free, pol_model_free); arguments are only read.
 */
#ifndef NPSHIM_CLI_REC_CLI_H
#define NPSHIM_CLI_REC_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "audit/replay.h"

struct cJSON;
struct store_reader;

/* Check what of a row ends up in a policy or its annotations: pod
 * endpoints need a kind name, a DNS-1123 namespace and workload name, node
 * and external ones are named by an address; sampled pod names must be
 * object names and sampled labels ("k=v,...") valid label keys and values. false with a message naming the
 * field. */
bool rec_cli_row_valid(const struct audit_obs_row *row, char *err, size_t errlen);

/* Recorded flows of the databases whose last packet is at or after
 * since_s (Unix seconds). *rows counts rows read. Returns CMD_OK,
 * CMD_USAGE (a database that cannot be read, a malformed row: named) or
 * CMD_FAILURE. */
int rec_cli_read_flows(const char *cmd, struct store_reader *r, int64_t since_s,
		       struct audit_obs_set *out, size_t *rows);

/* Whether the recording periods in the window used --record denied (only
 * denies were kept: flows allowed at the time are missing from history).
 * *denied gets the number of such periods, *all the --record all ones.
 * 0, or -1 after printing why. */
int rec_cli_record_scope(const char *cmd, struct store_reader *r, int64_t since_s,
			 size_t *denied, size_t *all);


/* Build a model from copies of a and b (b may be NULL). CMD_OK with *out,
 * CMD_USAGE (the objects conflict: message printed) or CMD_FAILURE. */
int rec_cli_model(const char *cmd, const struct pol_cluster *a, const struct pol_cluster *b,
		  struct pol_model **out);

/* Write obj as a YAML block mapping at column 0. item_comments[i], when
 * given, is written as a comment line above item i of every array whose
 * key is comment_key (NULL: none). */
void rec_yaml_write(FILE *f, const struct cJSON *obj, const char *comment_key,
		    char *const *item_comments, size_t n_comments);
/* Comment lines: each line of text prefixed with "# ". */
void rec_yaml_comment(FILE *f, const char *text);

/* The annotation that marks a proposed NetworkPolicy as deleted. */
#define REC_DELETE_ANNOTATION "npshim.io/delete"

/* A list of "ns/name" strings (owned). */
struct rec_cli_names {
	char **v;
	size_t n;
};
void rec_cli_names_free(struct rec_cli_names *n);

/* The NetworkPolicies of the proposal files (paths as for --cluster)
 * annotated npshim.io/delete: "true", appended to out as "ns/name".
 * Syntax errors are left to the loader. CMD_OK, CMD_USAGE (an annotation
 * value other than "true", reported) or CMD_FAILURE. */
int rec_cli_scan_deletes(const char *cmd, const char *const *paths, size_t n,
			 struct rec_cli_names *out);

/* "3d 4h", "2h 5m", "40s". */
char *rec_cli_duration(int64_t ms, char *buf, size_t len);

#endif
