/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/yamlpos.h - YAML streams into cJSON trees, with source positions.
 *
 * Built on libyaml's event parser. Scalars resolve the way kubectl reads
 * YAML (go-yaml, YAML 1.1 rules): plain `80` is a number, `"80"` a string,
 * plain yes/no/on/off/true/false a boolean, ~/null/empty a null; quoted and
 * block scalars are strings; !!str, !!int, !!float, !!bool, !!null tags are
 * honoured. Aliases are expanded by deep copy within a node budget (alias
 * bombs fail instead of eating memory); `<<` merge keys are applied.
 * Duplicate keys, non-scalar keys, nesting deeper than
 * K8S_YAML_MAX_DEPTH and strings holding NUL are errors. Pure: no I/O.
 */
#ifndef NPSHIM_K8S_YAMLPOS_H
#define NPSHIM_K8S_YAMLPOS_H

#include <stddef.h>

struct cJSON;
struct k8s_pos_map;
struct k8s_diag;

#define K8S_YAML_MAX_DEPTH 256

/* Called once per document of the stream with its root (a cJSON null for an
 * empty document) and the 1-based line where the document starts. root is
 * borrowed: freed after the call. Return 0 to go on, non-zero to stop. */
typedef int (*k8s_yaml_doc_fn)(struct cJSON *root, unsigned line, void *arg);

/* Parse len bytes of YAML (UTF-8, or UTF-16 with a BOM). pos (may be NULL)
 * is cleared at the start of every document and then holds the positions of
 * the current document's nodes while fn runs. Returns 0 when the whole
 * stream was read, -1 after a syntax or structure error (reported to diag
 * with path:line:col; documents before it were delivered), 1 when fn asked
 * to stop. */
int k8s_yaml_parse(const char *data, size_t len, const char *path,
		   struct k8s_pos_map *pos, struct k8s_diag *diag,
		   k8s_yaml_doc_fn fn, void *arg);

#endif
