/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_k8s_cache.c - reflector object store: upserts, relist, debounce, snapshots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "k8s/cache.h"
#include "k8s/decode.h"
#include "k8s/diag.h"
#include "k8s/files.h"
#include "policy/objects.h"
#include "test/unit/test.h"

/* A pod object as the API sends it, decoded, plus its compact form. */
static void *pod(const char *ns, const char *name, const char *tier, const char *ip,
		 const char *rv, char **raw)
{
	char text[1024];
	struct k8s_diag d;
	cJSON *j;
	void *out;

	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"resourceVersion\":\"%s\","
		 "\"labels\":{\"tier\":\"%s\"},\"managedFields\":[{\"manager\":\"kubectl\"}]},"
		 "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\"}]},"
		 "\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
		 name, ns, rv, tier, ip, rv);
	j = cJSON_Parse(text);
	k8s_diag_init(&d);
	k8s_object_set_kind(j, K8S_KIND_POD);
	out = k8s_decode_pod(j, NULL, &d, "api");
	*raw = k8s_object_compact(j, K8S_KIND_POD);
	k8s_diag_free(&d);
	cJSON_Delete(j);
	return out;
}

static void test_compact(void)
{
	char *raw;
	void *p = pod("prod", "a", "web", "10.0.0.1", "17", &raw);

	T_ASSERT(p && raw, "pod decoded");
	T_ASSERT(raw && strstr(raw, "\"kind\":\"Pod\"") && strstr(raw, "\"apiVersion\":\"v1\""),
		 "compact form carries kind and apiVersion: %s", raw ? raw : "(null)");
	T_ASSERT(raw && !strstr(raw, "managedFields") && !strstr(raw, "conditions") &&
			 !strstr(raw, "resourceVersion"),
		 "bulky and churning fields stripped: %s", raw ? raw : "(null)");
	k8s_object_free(K8S_KIND_POD, p);
	free(raw);
}

/* The same object as a watch event carries it (kind and apiVersion first)
 * and as a list item (neither): one compact form, so a relist of objects
 * last seen by watch finds nothing changed and asks for no rebuild. */
static void test_compact_event_vs_list(void)
{
#define POD_BODY(rv)                                                                        \
	"\"metadata\":{\"name\":\"a\",\"namespace\":\"prod\",\"resourceVersion\":\"" rv "\"},"  \
	"\"spec\":{\"containers\":[{\"name\":\"c\"}]},\"status\":{\"podIP\":\"10.0.0.1\"}"
	const char *ev = "{\"kind\":\"Pod\",\"apiVersion\":\"v1\"," POD_BODY("20") "}";
	const char *item = "{" POD_BODY("21") "}";
#undef POD_BODY
	cJSON *je, *ji;
	char *re, *ri;
	struct k8s_cache *c = k8s_cache_new();
	struct k8s_store *fresh;
	struct k8s_diag d;
	int wait;

	je = cJSON_Parse(ev);
	ji = cJSON_Parse(item);
	re = k8s_object_compact(je, K8S_KIND_POD);
	ri = k8s_object_compact(ji, K8S_KIND_POD);
	T_ASSERT(re && ri && strcmp(re, ri) == 0, "event and list item compact alike:\n  %s\n  %s",
		 re ? re : "(null)", ri ? ri : "(null)");

	k8s_diag_init(&d);
	T_ASSERT(c && k8s_cache_upsert(c, K8S_KIND_POD, "prod/a", k8s_decode_pod(je, NULL, &d, "api"),
				      re, strdup("20"), 1000) == 0, "added by watch");
	T_ASSERT(k8s_cache_rebuild_due(c, 1000 + K8S_DEBOUNCE_MAX_MS, &wait), "rebuild due after the add");
	pol_cluster_free(k8s_cache_snapshot(c));
	fresh = k8s_store_new(K8S_KIND_POD);
	T_ASSERT(fresh && k8s_store_put(fresh, "prod/a", k8s_decode_pod(ji, NULL, &d, "api"), ri,
					strdup("21")) == 1, "relist store");
	k8s_cache_replace(c, K8S_KIND_POD, fresh, 5000);
	T_ASSERT(!k8s_cache_dirty(c), "a relist of the same object is no change");
	k8s_diag_free(&d);
	cJSON_Delete(je);
	cJSON_Delete(ji);
	k8s_cache_free(c);
}

static void test_upsert_and_relist(void)
{
	struct k8s_cache *c = k8s_cache_new();
	struct k8s_cache_counters cnt;
	struct k8s_store *fresh;
	struct pol_cluster *snap;
	char *raw;
	void *p;
	int wait;

	T_ASSERT(c != NULL, "cache");
	T_ASSERT(!k8s_cache_rebuild_due(c, 1000, &wait) && wait == -1, "clean cache not due");

	p = pod("prod", "b", "web", "10.0.0.2", "10", &raw);
	T_ASSERT(k8s_cache_upsert(c, K8S_KIND_POD, "prod/b", p, raw, strdup("10"), 1000) == 0, "add b");
	p = pod("prod", "a", "db", "10.0.0.1", "11", &raw);
	T_ASSERT(k8s_cache_upsert(c, K8S_KIND_POD, "prod/a", p, raw, strdup("11"), 1010) == 0, "add a");

	/* Debounce: due once quiet for the quiet time, or at the max delay. */
	T_ASSERT(!k8s_cache_rebuild_due(c, 1050, &wait) && wait == 60, "not yet due (wait %d)", wait);
	T_ASSERT(k8s_cache_rebuild_due(c, 1010 + K8S_DEBOUNCE_QUIET_MS, &wait), "due when quiet");
	for (uint64_t t = 1020; t < 1000 + K8S_DEBOUNCE_MAX_MS; t += 50) {
		p = pod("prod", "a", t % 100 ? "db" : "db2", "10.0.0.1", "12", &raw);
		k8s_cache_upsert(c, K8S_KIND_POD, "prod/a", p, raw, strdup("12"), t);
	}
	T_ASSERT(k8s_cache_rebuild_due(c, 1000 + K8S_DEBOUNCE_MAX_MS, &wait),
		 "a continuous burst is still rebuilt at the max delay");

	snap = k8s_cache_snapshot(c);
	T_ASSERT(snap && snap->n_pods == 2 && strcmp(snap->pods[0]->name, "a") == 0 &&
			 strcmp(snap->pods[1]->name, "b") == 0,
		 "snapshot holds both pods sorted by key");
	T_ASSERT(!k8s_cache_dirty(c), "snapshot clears dirty");

	/* Same content, new RV (status churn): no change, no rebuild. */
	p = pod("prod", "b", "web", "10.0.0.2", "99", &raw);
	k8s_cache_upsert(c, K8S_KIND_POD, "prod/b", p, raw, strdup("99"), 3000);
	T_ASSERT(!k8s_cache_dirty(c), "equal object does not dirty the cache");
	T_ASSERT(strcmp(k8s_store_rv(k8s_cache_store(c, K8S_KIND_POD), "prod/b"), "99") == 0,
		 "but its resourceVersion is kept");

	/* The snapshot is a deep copy: the cache changing does not touch it. */
	T_ASSERT(k8s_cache_delete(c, K8S_KIND_POD, "prod/b", 3100), "delete b");
	T_ASSERT(!k8s_cache_delete(c, K8S_KIND_POD, "prod/b", 3100), "second delete is a no-op");
	T_ASSERT(snap && snap->n_pods == 2 && strcmp(snap->pods[1]->name, "b") == 0,
		 "snapshot unaffected by later deletes");
	pol_cluster_free(snap);

	/* Relist: a new store replaces the kind; what is missing is deleted. */
	p = pod("prod", "c", "web", "10.0.0.3", "20", &raw);
	T_ASSERT(k8s_cache_upsert(c, K8S_KIND_POD, "prod/c", p, raw, strdup("20"), 4000) == 0, "add c");
	snap = k8s_cache_snapshot(c);
	pol_cluster_free(snap);
	fresh = k8s_store_new(K8S_KIND_POD);
	p = pod("prod", "a", "db2", "10.0.0.1", "12", &raw);
	k8s_store_put(fresh, "prod/a", p, raw, strdup("12"));
	p = pod("prod", "d", "web", "10.0.0.4", "21", &raw);
	k8s_store_put(fresh, "prod/d", p, raw, strdup("21"));
	T_ASSERT(k8s_cache_replace(c, K8S_KIND_POD, fresh, 5000) == 1, "relist deletes c");
	T_ASSERT(k8s_cache_dirty(c), "relist with changes dirties the cache");
	snap = k8s_cache_snapshot(c);
	T_ASSERT(snap && snap->n_pods == 2 && strcmp(snap->pods[1]->name, "d") == 0,
		 "after relist: a and d");
	pol_cluster_free(snap);

	/* A relist with identical content changes nothing. */
	fresh = k8s_store_new(K8S_KIND_POD);
	p = pod("prod", "a", "db2", "10.0.0.1", "12", &raw);
	k8s_store_put(fresh, "prod/a", p, raw, strdup("12"));
	p = pod("prod", "d", "web", "10.0.0.4", "21", &raw);
	k8s_store_put(fresh, "prod/d", p, raw, strdup("21"));
	T_ASSERT(k8s_cache_replace(c, K8S_KIND_POD, fresh, 6000) == 0 && !k8s_cache_dirty(c),
		 "identical relist: no deletion, no rebuild");

	k8s_cache_counters(c, &cnt);
	T_ASSERT(cnt.deleted == 2 && cnt.replaces == 2 && cnt.unchanged >= 1,
		 "counters: deleted %llu replaces %llu unchanged %llu",
		 (unsigned long long)cnt.deleted, (unsigned long long)cnt.replaces,
		 (unsigned long long)cnt.unchanged);

	/* The persisted form loads with the manifest loader. */
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		struct pol_cluster *back = pol_cluster_new();
		struct k8s_diag d;

		k8s_diag_init(&d);
		T_ASSERT(f && k8s_cache_write_list(c, f) == 0, "write list");
		if (f)
			fclose(f);
		T_ASSERT(buf && k8s_load_buffer("state", buf, len, K8S_FORMAT_JSON, back, &d) == 0 &&
				 back->n_pods == 2,
			 "written list loads back with 2 pods");
		k8s_diag_free(&d);
		pol_cluster_free(back);
		free(buf);
	}
	k8s_cache_free(c);
}

static void test_store_grow(void)
{
	struct k8s_store *s = k8s_store_new(K8S_KIND_POD);
	char key[32];
	size_t found = 0;

	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "ns/p%d", i);
		k8s_store_put(s, key, NULL, strdup(key), strdup("1"));
	}
	for (int i = 0; i < 1000; i++) {
		const char *r;

		snprintf(key, sizeof(key), "ns/p%d", i);
		r = k8s_store_raw(s, key);
		found += r && strcmp(r, key) == 0;
	}
	T_ASSERT(k8s_store_count(s) == 1000 && found == 1000, "1000 keys survive growth");
	for (int i = 0; i < 1000; i += 2) {
		snprintf(key, sizeof(key), "ns/p%d", i);
		k8s_store_del(s, key);
	}
	T_ASSERT(k8s_store_count(s) == 500 && !k8s_store_raw(s, "ns/p0") && k8s_store_raw(s, "ns/p1"),
		 "deletes");
	k8s_store_free(s);
}

int main(void)
{
	test_compact();
	test_compact_event_vs_list();
	test_upsert_and_relist();
	test_store_grow();
	return T_REPORT();
}
