/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_k8s_reflector.c - watch stream framing and event rules, no network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "k8s/cache.h"
#include "k8s/reflector.h"
#include "policy/objects.h"
#include "test/unit/test.h"

static char *slurp(const char *rel, size_t *len)
{
	char path[4096];
	const char *top = getenv("NPSHIM_TOP");
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/test/data/k8s-fixtures/%s", top ? top : ".", rel);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return buf;
}

static const struct pol_pod *find_pod(const struct pol_cluster *c, const char *name)
{
	for (size_t i = 0; i < c->n_pods; i++)
		if (strcmp(c->pods[i]->name, name) == 0)
			return c->pods[i];
	return NULL;
}

/* The pods stream in pieces of the given sizes must give the same result
 * as in one piece: the framing is on newlines, not on reads. */
static void run_stream(const char *data, size_t len, unsigned seed, size_t max_piece)
{
	struct k8s_cache *c = k8s_cache_new();
	struct k8s_reflector *r = k8s_reflector_new(NULL, c, K8S_KIND_POD, true);
	struct k8s_watch_status st;
	struct pol_cluster *snap;
	const struct pol_pod *p;
	size_t off = 0;
	bool ok = true;

	srand(seed);
	while (off < len) {
		size_t n = max_piece == 1 ? 1 : 1 + (size_t)rand() % max_piece;

		if (n > len - off)
			n = len - off;
		ok = ok && k8s_reflector_feed(r, data + off, n);
		off += n;
	}
	k8s_reflector_status(r, &st);
	snap = k8s_cache_snapshot(c);
	T_ASSERT(ok, "pieces of <= %zu bytes: every event accepted", max_piece);
	T_ASSERT(strcmp(k8s_reflector_rv(r), "14850") == 0, "pieces of <= %zu: RV from the bookmark (%s)",
		 max_piece, k8s_reflector_rv(r));
	T_ASSERT(st.events == 6 && st.bookmarks == 1 && st.malformed == 0,
		 "pieces of <= %zu: 6 events, 1 bookmark (%llu, %llu)", max_piece,
		 (unsigned long long)st.events, (unsigned long long)st.bookmarks);
	T_ASSERT(snap && !find_pod(snap, "api-7c9d8f6b5-qw8zn"), "DELETED applied");
	p = snap ? find_pod(snap, "api-7c9d8f6b5-r7t2v") : NULL;
	T_ASSERT(p && p->n_ips == 1 && p->phase == POL_PHASE_RUNNING && p->node_name &&
			 strcmp(p->node_name, "kind-worker2") == 0,
		 "r7t2v added, scheduled and running: last MODIFIED wins");
	p = snap ? find_pod(snap, "web-5f7b9c6d4-9xkzp") : NULL;
	T_ASSERT(p && pol_labels_get(&p->labels, "tier") &&
			 strcmp(pol_labels_get(&p->labels, "tier"), "application") == 0,
		 "label change applied");
	pol_cluster_free(snap);
	k8s_reflector_free(r);
	k8s_cache_free(c);
}

static const char good[] =
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":"
	"{\"name\":\"p\",\"namespace\":\"ns\",\"resourceVersion\":\"100\",\"labels\":{\"a\":\"b\"}},"
	"\"spec\":{\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.1.1.1\"}}}\n";

/* A malformed line ends the watch and leaves the resume point alone. */
static void bad_line(const char *line, const char *what)
{
	struct k8s_cache *c = k8s_cache_new();
	struct k8s_reflector *r = k8s_reflector_new(NULL, c, K8S_KIND_POD, true);
	struct k8s_watch_status st;
	bool first, second;

	first = k8s_reflector_feed(r, good, strlen(good));
	second = k8s_reflector_feed(r, line, strlen(line));
	k8s_reflector_status(r, &st);
	T_ASSERT(first && !second, "%s: refused", what);
	T_ASSERT(strcmp(k8s_reflector_rv(r), "100") == 0, "%s: RV stays 100 (%s)", what,
		 k8s_reflector_rv(r));
	T_ASSERT(k8s_store_count(k8s_cache_store(c, K8S_KIND_POD)) == 1, "%s: nothing applied", what);
	T_ASSERT(!k8s_reflector_feed(r, good, strlen(good)), "%s: the watch is over", what);
	k8s_reflector_free(r);
	k8s_cache_free(c);
}

static void test_malformed(void)
{
	size_t len;
	char *text = slurp("watch/malformed-events.txt", &len), *line, *save = NULL;
	int n = 0;

	T_ASSERT(text != NULL, "fixture malformed-events.txt");
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char buf[4096], what[64];

		snprintf(buf, sizeof(buf), "%s\n", line);
		snprintf(what, sizeof(what), "malformed line %d", ++n);
		bad_line(buf, what);
	}
	T_ASSERT(n == 5, "five malformed lines");
	free(text);
	bad_line("{\"type\":\"ADDED\",\"object\":{\"kind\":\"Namespace\",\"apiVersion\":\"v1\","
		 "\"metadata\":{\"name\":\"x\",\"resourceVersion\":\"101\"}}}\n",
		 "a Namespace on the pods watch");
	bad_line("{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
		 "\"metadata\":{\"name\":\"x\",\"namespace\":\"ns\"}}}\n",
		 "no resourceVersion");
	bad_line("{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
		 "\"metadata\":{\"namespace\":\"ns\",\"resourceVersion\":\"101\"}}}\n",
		 "no name");
	bad_line("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
		 "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (2)\","
		 "\"reason\":\"Expired\",\"code\":410}}\n",
		 "ERROR 410");
}

static void test_lines(void)
{
	struct k8s_cache *c = k8s_cache_new();
	struct k8s_reflector *r = k8s_reflector_new(NULL, c, K8S_KIND_POD, true);
	char crlf[sizeof(good) + 8];
	const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
			 "\"metadata\":{\"resourceVersion\":\"205\"},\"spec\":{\"containers\":null},"
			 "\"status\":{}}}\n";
	const char *del = "{\"type\":\"DELETED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
			  "\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"resourceVersion\":\"210\"}}}\n";

	snprintf(crlf, sizeof(crlf), "%.*s\r\n\n", (int)strlen(good) - 1, good);
	T_ASSERT(k8s_reflector_feed(r, crlf, strlen(crlf)), "CRLF and blank lines tolerated");
	T_ASSERT(k8s_store_count(k8s_cache_store(c, K8S_KIND_POD)) == 1, "object applied");
	T_ASSERT(k8s_reflector_feed(r, bm, strlen(bm)) && strcmp(k8s_reflector_rv(r), "205") == 0,
		 "bookmark moves the RV only");
	T_ASSERT(k8s_store_count(k8s_cache_store(c, K8S_KIND_POD)) == 1, "bookmark not applied");
	T_ASSERT(k8s_reflector_feed(r, del, strlen(del)) && strcmp(k8s_reflector_rv(r), "210") == 0 &&
			 k8s_store_count(k8s_cache_store(c, K8S_KIND_POD)) == 0,
		 "DELETED with a bare object removes it");
	/* Half an event stays buffered until its newline. */
	T_ASSERT(k8s_reflector_feed(r, good, 40) && strcmp(k8s_reflector_rv(r), "210") == 0,
		 "partial event not applied");
	T_ASSERT(k8s_reflector_feed(r, good + 40, strlen(good) - 40) &&
			 strcmp(k8s_reflector_rv(r), "100") == 0,
		 "completed event applied (RV is opaque: 100 after 210 is fine)");
	k8s_reflector_free(r);
	k8s_cache_free(c);
}

int main(void)
{
	size_t len = 0;
	char *pods = slurp("watch/pods.jsonl", &len);

	/* The malformed lines below are logged as warnings by design. */
	log_set_level(LOG_LEVEL_ERROR);

	T_ASSERT(pods != NULL, "fixture watch/pods.jsonl");
	if (pods) {
		run_stream(pods, len, 1, len);
		run_stream(pods, len, 1, 1);
		for (unsigned s = 2; s < 8; s++)
			run_stream(pods, len, s, s * 37);
	}
	free(pods);
	test_malformed();
	test_lines();
	return T_REPORT();
}
