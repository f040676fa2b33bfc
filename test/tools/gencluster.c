/* SPDX-License-Identifier: Apache-2.0 */
/* gencluster - write a large synthetic cluster (kubectl List JSON) for benchmarks.
 *
 *   gencluster [--pods N] [--namespaces N] [--policies N] [--seed N]
 *              [--bench-client IP] [--bench-server IP] [--variant N]
 *
 * Defaults: 10,000 pods in 500 namespaces and 1,000 NetworkPolicies that
 * mix what real clusters use: matchLabels, matchExpressions (In, NotIn,
 * Exists, DoesNotExist), namespace selectors, pod+namespace peers, ipBlocks
 * with except, named ports and endPort ranges, ingress and egress.
 *
 * With --bench-client/--bench-server it adds a namespace "bench" with the
 * two pods the packet-path bench sends traffic between, and policies that
 * isolate both and allow client -> server on TCP 8080 and UDP 20000-29999,
 * so every bench flow is decided by the policy path (not "not isolated").
 * --variant changes one label value so a reload really builds a new model
 * with the same size. Output is deterministic for a given seed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

/* splitmix64: deterministic and good enough to spread labels. */
static uint32_t rnd(uint32_t n)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) % n);
}

static const char *const tiers[] = { "web", "api", "db", "cache", "worker" };
static const char *const envs[] = { "prod", "staging", "dev" };

static int parse_num(const char *opt, const char *s, unsigned long max,
		     unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end || end == s || *out > max) {
		fprintf(stderr, "gencluster: %s needs a number up to %lu, got '%s'\n",
			opt, max, s);
		return -1;
	}
	return 0;
}

static void sep(int *first)
{
	if (!*first)
		fputs(",\n", stdout);
	*first = 0;
}

static void pod_ip(unsigned long n, char *buf, size_t len)
{
	/* 10.100.0.1 upwards, 250 hosts per /24: never .0 or .255. */
	snprintf(buf, len, "10.%lu.%lu.%lu", 100 + n / 64000,
		 (n / 250) % 256, n % 250 + 1);
}

static void emit_namespace(int *first, const char *name, unsigned long i)
{
	sep(first);
	printf("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\","
	       "\"labels\":{\"kubernetes.io/metadata.name\":\"%s\",\"team\":\"t%lu\","
	       "\"env\":\"%s\"}}}",
	       name, name, i % 20, envs[i % 3]);
}

static void emit_pod(int *first, const char *ns, const char *name,
		     const char *ip, const char *labels, unsigned long node)
{
	sep(first);
	printf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"namespace\":\"%s\","
	       "\"name\":\"%s\",\"labels\":{%s}},\"spec\":{\"nodeName\":\"node-%lu\","
	       "\"containers\":[{\"name\":\"main\",\"ports\":["
	       "{\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"},"
	       "{\"name\":\"metrics\",\"containerPort\":9090,\"protocol\":\"TCP\"},"
	       "{\"name\":\"dns\",\"containerPort\":53,\"protocol\":\"UDP\"}]}]},"
	       "\"status\":{\"phase\":\"Running\",\"hostIP\":\"10.40.%lu.%lu\","
	       "\"podIP\":\"%s\",\"podIPs\":[{\"ip\":\"%s\"}]}}",
	       ns, name, labels, node, node / 250, node % 250 + 1, ip, ip);
}

/* One of several policy shapes, picked by k, over namespace ns. */
static void emit_policy(int *first, unsigned long ns, unsigned long k,
			unsigned long n_ns, unsigned long variant)
{
	unsigned long other = rnd((uint32_t)n_ns);

	sep(first);
	printf("{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
	       "\"metadata\":{\"namespace\":\"ns-%03lu\",\"name\":\"pol-%lu\"},\"spec\":{",
	       ns, k);
	switch (k % 5) {
	case 0: /* ingress from tiers of team namespaces, named port */
		printf("\"podSelector\":{\"matchLabels\":{\"app\":\"a%u\"}},"
		       "\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"team\":\"t%u\"}},"
		       "\"podSelector\":{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\","
		       "\"values\":[\"web\",\"api\"]}]}}],\"ports\":[{\"port\":\"http\"}]}]",
		       rnd(10), rnd(20));
		break;
	case 1: /* egress to a CIDR minus a hole, port range */
		printf("\"podSelector\":{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\","
		       "\"values\":[\"db\"]}]},\"policyTypes\":[\"Egress\"],"
		       "\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\",\"except\":[\"10.100.%u.0/24\"]}}],"
		       "\"ports\":[{\"protocol\":\"TCP\",\"port\":8000,\"endPort\":9100}]},"
		       "{\"to\":[{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"ns-%03lu\"}}}],"
		       "\"ports\":[{\"protocol\":\"UDP\",\"port\":53}]}]",
		       rnd(40), other);
		break;
	case 2: /* both directions, Exists / DoesNotExist */
		printf("\"podSelector\":{\"matchExpressions\":[{\"key\":\"canary\",\"operator\":\"DoesNotExist\"},"
		       "{\"key\":\"app\",\"operator\":\"Exists\"}]},\"policyTypes\":[\"Ingress\",\"Egress\"],"
		       "\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"tier\":\"%s\"}}},"
		       "{\"namespaceSelector\":{\"matchLabels\":{\"env\":\"%s\"}}}]}],"
		       "\"egress\":[{\"to\":[{\"podSelector\":{}}]},{\"ports\":[{\"protocol\":\"UDP\",\"port\":53}]}]",
		       tiers[rnd(5)], envs[rnd(3)]);
		break;
	case 3: /* a tier reached from one app of another namespace */
		printf("\"podSelector\":{\"matchLabels\":{\"tier\":\"%s\",\"version\":\"v%lu\"}},"
		       "\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"ns-%03lu\"}},"
		       "\"podSelector\":{\"matchLabels\":{\"app\":\"a%u\"}}},{\"ipBlock\":{\"cidr\":\"192.168.%u.0/24\"}}],"
		       "\"ports\":[{\"protocol\":\"TCP\",\"port\":8080},{\"protocol\":\"TCP\",\"port\":\"metrics\"}]}]",
		       tiers[rnd(5)], variant + rnd(3), other, rnd(10), rnd(256));
		break;
	default: /* deny-all ingress for a label set */
		printf("\"podSelector\":{\"matchLabels\":{\"app\":\"a%u\",\"tier\":\"%s\"}},"
		       "\"policyTypes\":[\"Ingress\"]",
		       rnd(10), tiers[rnd(5)]);
		break;
	}
	printf("}}");
}

int main(int argc, char **argv)
{
	unsigned long n_pods = 10000, n_ns = 500, n_pol = 1000, seed = 1, variant = 0;
	const char *client = NULL, *server = NULL;
	char ip[32], labels[256], name[64], pname[64];
	int first = 1;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = 0;

		if (!v) {
			fprintf(stderr, "gencluster: unknown option or missing value '%s'\n", o);
			return 2;
		}
		if (!strcmp(o, "--pods"))
			rc = parse_num(o, v, 1000000, &n_pods);
		else if (!strcmp(o, "--namespaces"))
			rc = parse_num(o, v, 10000, &n_ns);
		else if (!strcmp(o, "--policies"))
			rc = parse_num(o, v, 1000000, &n_pol);
		else if (!strcmp(o, "--seed"))
			rc = parse_num(o, v, UINT32_MAX, &seed);
		else if (!strcmp(o, "--variant"))
			rc = parse_num(o, v, 1000, &variant);
		else if (!strcmp(o, "--bench-client"))
			client = v;
		else if (!strcmp(o, "--bench-server"))
			server = v;
		else {
			fprintf(stderr, "gencluster: unknown option '%s'\n", o);
			return 2;
		}
		if (rc)
			return 2;
		i++;
	}
	if (!n_ns || (client && !server) || (server && !client)) {
		fprintf(stderr, "gencluster: need --namespaces >= 1, and both or neither bench pods\n");
		return 2;
	}
	rng_state = seed;

	printf("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n");
	for (unsigned long i = 0; i < n_ns; i++) {
		snprintf(name, sizeof(name), "ns-%03lu", i);
		emit_namespace(&first, name, i);
	}
	for (unsigned long n = 0; n < n_pods; n++) {
		pod_ip(n, ip, sizeof(ip));
		snprintf(labels, sizeof(labels),
			 "\"app\":\"a%u\",\"tier\":\"%s\",\"version\":\"v%u\"%s",
			 rnd(10), tiers[rnd(5)], rnd(3),
			 rnd(50) ? "" : ",\"canary\":\"true\"");
		snprintf(name, sizeof(name), "ns-%03lu", n % n_ns);
		snprintf(pname, sizeof(pname), "pod-%lu", n);
		emit_pod(&first, name, pname, ip, labels, n % 50);
	}
	for (unsigned long k = 0; k < n_pol; k++)
		emit_policy(&first, k % n_ns, k, n_ns, variant);
	if (client) {
		emit_namespace(&first, "bench", 0);
		emit_pod(&first, "bench", "client", client,
			 "\"app\":\"bench-client\"", 0);
		emit_pod(&first, "bench", "server", server,
			 "\"app\":\"bench-server\"", 0);
		sep(&first);
		printf("{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
		       "\"metadata\":{\"namespace\":\"bench\",\"name\":\"server-ingress\"},\"spec\":{"
		       "\"podSelector\":{\"matchLabels\":{\"app\":\"bench-server\"}},"
		       "\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"app\":\"bench-client\"}}}],"
		       "\"ports\":[{\"protocol\":\"TCP\",\"port\":8080},"
		       "{\"protocol\":\"UDP\",\"port\":20000,\"endPort\":29999}]}]}}");
		sep(&first);
		printf("{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
		       "\"metadata\":{\"namespace\":\"bench\",\"name\":\"client-egress\"},\"spec\":{"
		       "\"podSelector\":{\"matchLabels\":{\"app\":\"bench-client\"}},\"policyTypes\":[\"Egress\"],"
		       "\"egress\":[{\"to\":[{\"podSelector\":{\"matchLabels\":{\"app\":\"bench-server\"}}}]}]}}");
	}
	printf("\n]}\n");
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "gencluster: write failed: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
