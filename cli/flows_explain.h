/* SPDX-License-Identifier: Apache-2.0 */
/* cli/flows_explain.h - `npshim flows --explain`: the near miss of each denied row.
 *
 * For a recorded deny or would-deny, the connection is decided again
 * against the --cluster files (the first sampled source and destination
 * address) and analysed by pol_explain_flow(): for each denying direction,
 * the closest rule among the isolating policies (fewest failing parts,
 * first on a tie) and the part of it that failed (peer: which selector
 * label or ipBlock; port: protocol, number, range or named port). A row
 * the cluster now allows says so and names the allowing rules.
 *
 * Ownership: struct flows_explain owns its model; strings in a
 * flows_explain_row are borrowed for the call.
 */
#ifndef NPSHIM_CLI_FLOWS_EXPLAIN_H
#define NPSHIM_CLI_FLOWS_EXPLAIN_H

#include <stddef.h>

struct cJSON;
struct flows_explain;

/* The columns of a recorded row the explanation needs. */
struct flows_explain_row {
	const char *verdict;  /* "allow", "deny", "would-deny" */
	const char *protocol; /* "TCP", ... */
	long long port;
	const char *src_ns, *src_kind, *src_name, *src_ips;
	const char *dst_ns, *dst_kind, *dst_name, *dst_ips;
};

/* Load the cluster files. CMD_OK with *out, else CMD_USAGE / CMD_FAILURE
 * after printing why. */
int flows_explain_load(const char *const *paths, size_t n, struct flows_explain **out);
void flows_explain_free(struct flows_explain *x);

/* The explanation as a JSON object; NULL for an allowed row (or ENOMEM). */
struct cJSON *flows_explain_json(struct flows_explain *x, const struct flows_explain_row *row);
/* The same in one line for a table or CSV cell; "" for an allowed row.
 * Heap string, NULL on ENOMEM. */
char *flows_explain_text(struct flows_explain *x, const struct flows_explain_row *row);

#endif
