/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/jsonpos.h - strict JSON parser that records source positions.
 *
 * RFC 8259 to the letter (no comments, no trailing commas, no NaN, strings
 * valid UTF-8 with escapes and surrogate pairs checked), plus what a loader of
 * untrusted files needs: a nesting limit, duplicate keys refused, trailing
 * garbage refused. Produces an ordinary cJSON tree, so the decoder serves the
 * file loader and the API client alike. Pure: no I/O.
 */
#ifndef NPSHIM_K8S_JSONPOS_H
#define NPSHIM_K8S_JSONPOS_H

#include <stddef.h>

struct cJSON;
struct k8s_pos_map;
struct k8s_diag;

#define K8S_JSON_MAX_DEPTH 256

/* Parse exactly one JSON text of len bytes (a leading UTF-8 BOM is skipped).
 * Returns the root (owned by the caller, cJSON_Delete) or NULL after adding
 * one error naming path:line:col to diag. Every node created gets its
 * position in pos (may be NULL). Strings holding U+0000 are refused: the
 * tree uses C strings. */
struct cJSON *k8s_json_parse(const char *data, size_t len, const char *path,
			     struct k8s_pos_map *pos, struct k8s_diag *diag);

/* Length of the valid UTF-8 sequence at s (at most n bytes available), or 0
 * when it is not valid (overlong, surrogate, beyond U+10FFFF, truncated). */
size_t k8s_utf8_seq_len(const unsigned char *s, size_t n);

#endif
