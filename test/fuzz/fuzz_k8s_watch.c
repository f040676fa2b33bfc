/* SPDX-License-Identifier: Apache-2.0 */
/* test/fuzz/fuzz_k8s_watch.c - libFuzzer target: watch response bodies into a reflector.
 *
 * The first input byte selects the resource (pods, namespaces,
 * networkpolicies) and, with the second, where the body is cut in two
 * reads, so framing across reads is exercised as well as the event rules.
 * Invariants: once a feed is refused the watch stays over, and a refused
 * feed never moves the resume point past the last accepted event.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "k8s/cache.h"
#include "k8s/reflector.h"
#include "policy/objects.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_LEVEL_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum k8s_kind kinds[] = { K8S_KIND_POD, K8S_KIND_NAMESPACE,
					       K8S_KIND_NETWORKPOLICY };
	struct k8s_cache *c;
	struct k8s_reflector *r;
	struct pol_cluster *snap;
	const char *body;
	size_t cut, n;
	char before[256];
	bool ok;

	if (size < 2)
		return 0;
	c = k8s_cache_new();
	r = c ? k8s_reflector_new(NULL, c, kinds[data[0] % 3], true) : NULL;
	if (!r) {
		k8s_cache_free(c);
		return 0;
	}
	body = (const char *)data + 2;
	n = size - 2;
	cut = n ? ((size_t)data[1] * 257) % (n + 1) : 0;
	ok = k8s_reflector_feed(r, body, cut);
	strncpy(before, k8s_reflector_rv(r), sizeof(before) - 1);
	before[sizeof(before) - 1] = '\0';
	if (ok) {
		ok = k8s_reflector_feed(r, body + cut, n - cut);
	} else {
		/* Refused once: the watch is over, nothing more is applied. */
		if (k8s_reflector_feed(r, body + cut, n - cut))
			abort();
		if (strcmp(before, k8s_reflector_rv(r)) != 0)
			abort();
	}
	snap = k8s_cache_snapshot(c);
	pol_cluster_free(snap);
	k8s_reflector_free(r);
	k8s_cache_free(c);
	return 0;
}
