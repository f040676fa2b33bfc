/* SPDX-License-Identifier: Apache-2.0 */
/* test/fuzz/fuzz_yaml_load.c - libFuzzer target: bytes through the YAML
 * reader (libyaml events, scalar resolution, anchors, merges, budget) and
 * the object decoder into a pol_cluster. */
#include <stdint.h>

#include "fuzz_load_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_load(data, size, K8S_FORMAT_YAML);
}
