/* SPDX-License-Identifier: Apache-2.0 */
/* test/fuzz/fuzz_json_load.c - libFuzzer target: bytes through the strict
 * JSON parser and the object decoder into a pol_cluster; a tree the parser
 * accepts must survive a print and reparse. */
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "fuzz_load_common.h"
#include "k8s/jsonpos.h"
#include "k8s/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_pos_map *pos = k8s_pos_map_new();
	struct k8s_diag diag;
	cJSON *root;

	k8s_diag_init(&diag);
	root = k8s_json_parse((const char *)data, size, "fuzz.json", pos, &diag);
	if (!root && diag.n_errors != 1)
		__builtin_trap();
	if (root) {
		char *text = cJSON_PrintUnformatted(root);

		if (text) {
			cJSON *again;

			k8s_pos_map_clear(pos);
			again = k8s_json_parse(text, strlen(text), "again.json", pos, &diag);
			if (!again)
				__builtin_trap();
			cJSON_Delete(again);
			free(text);
		}
		cJSON_Delete(root);
	}
	k8s_diag_free(&diag);
	k8s_pos_map_free(pos);
	return fuzz_load(data, size, K8S_FORMAT_JSON);
}
