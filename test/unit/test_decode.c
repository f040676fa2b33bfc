/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_decode.c - k8s/decode: every object shape and every
 * validation error, with the field path and position it must name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "k8s/decode.h"
#include "k8s/diag.h"
#include "k8s/files.h"
#include "k8s/jsonpos.h"
#include "k8s/tree.h"
#include "policy/objects.h"
#include "test.h"

/* Load YAML text named t.yaml; NULL when any error was reported (then the
 * diag is left for the caller to inspect). */
static struct pol_cluster *load(const char *text, struct k8s_diag *d)
{
	struct pol_cluster *c = pol_cluster_new();

	k8s_diag_init(d);
	if (k8s_load_buffer("t.yaml", text, strlen(text), K8S_FORMAT_AUTO, c, d)) {
		pol_cluster_free(c);
		return NULL;
	}
	return c;
}

static void dump_diag(const struct k8s_diag *d)
{
	size_t i;

	for (i = 0; i < d->n_msgs; i++)
		printf("    | %s\n", d->msgs[i].text);
}

/* text must fail with a message containing every needle. */
static void expect_error(const char *what, const char *text, const char *needle)
{
	struct k8s_diag d;
	struct pol_cluster *c = load(text, &d);

	T_ASSERT(c == NULL, "%s: loaded although invalid", what);
	T_ASSERT(d.n_errors >= 1, "%s: no error reported", what);
	T_ASSERT(k8s_diag_contains(&d, needle), "%s: no message contains '%s'", what, needle);
	if (!k8s_diag_contains(&d, needle))
		dump_diag(&d);
	pol_cluster_free(c);
	k8s_diag_free(&d);
}

#define POLICY_HEAD                          \
	"apiVersion: networking.k8s.io/v1\n" \
	"kind: NetworkPolicy\n"              \
	"metadata:\n"                        \
	"  name: p\n"                        \
	"  namespace: prod\n"                \
	"spec:\n"

/* Line 7 onwards is the spec body. */
static void expect_spec_error(const char *what, const char *spec_body, const char *needle)
{
	char *text = NULL;

	if (asprintf(&text, POLICY_HEAD "%s", spec_body) < 0)
		abort();
	expect_error(what, text, needle);
	free(text);
}

static void test_policy_errors(void)
{
	expect_spec_error("bad cidr",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - from:\n"
		"    - ipBlock:\n"
		"        cidr: 10.0.0.0/33\n",
		"t.yaml:11:15: error: NetworkPolicy prod/p: spec.ingress[0].from[0].ipBlock.cidr: "
		"invalid CIDR \"10.0.0.0/33\"");
	expect_spec_error("cidr without prefix",
		"  podSelector: {}\n"
		"  egress:\n"
		"  - to:\n"
		"    - ipBlock: {cidr: 10.0.0.1}\n",
		"t.yaml:10:23: error: NetworkPolicy prod/p: spec.egress[0].to[0].ipBlock.cidr: invalid CIDR");
	expect_spec_error("cidr missing",
		"  podSelector: {}\n"
		"  egress:\n"
		"  - to:\n"
		"    - ipBlock: {except: [10.0.0.0/8]}\n",
		"spec.egress[0].to[0].ipBlock: cidr: required field is missing");
	expect_spec_error("except outside",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - from:\n"
		"    - ipBlock:\n"
		"        cidr: 10.0.0.0/8\n"
		"        except:\n"
		"        - 10.1.0.0/16\n"
		"        - 192.168.0.0/16\n",
		"t.yaml:14:11: error: NetworkPolicy prod/p: spec.ingress[0].from[0].ipBlock.except[1]: "
		"\"192.168.0.0/16\" must be a strict subset of cidr \"10.0.0.0/8\"");
	expect_spec_error("except equal to cidr",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - from:\n"
		"    - ipBlock: {cidr: 10.0.0.0/8, except: [10.9.9.9/8]}\n",
		"ipBlock.except[0]: \"10.9.9.9/8\" must be a strict subset");
	expect_spec_error("except other family",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - from:\n"
		"    - ipBlock: {cidr: 0.0.0.0/0, except: [\"::/1\"]}\n",
		"ipBlock.except[0]: \"::/1\" must be a strict subset");
	expect_spec_error("unknown operator",
		"  podSelector:\n"
		"    matchExpressions:\n"
		"    - key: app\n"
		"      operator: Equals\n"
		"      values: [a]\n",
		"t.yaml:10:17: error: NetworkPolicy prod/p: spec.podSelector.matchExpressions[0].operator: "
		"unknown operator \"Equals\"");
	expect_spec_error("In without values",
		"  podSelector:\n"
		"    matchExpressions:\n"
		"    - {key: app, operator: In}\n",
		"spec.podSelector.matchExpressions[0]: values: must be non-empty when operator is In");
	expect_spec_error("NotIn with empty values",
		"  podSelector:\n"
		"    matchExpressions:\n"
		"    - {key: app, operator: NotIn, values: []}\n",
		"t.yaml:9:43: error: NetworkPolicy prod/p: spec.podSelector.matchExpressions[0]: "
		"values: must be non-empty when operator is NotIn");
	expect_spec_error("Exists with values",
		"  podSelector:\n"
		"    matchExpressions:\n"
		"    - {key: app, operator: Exists, values: [x]}\n",
		"values: must be empty when operator is Exists");
	expect_spec_error("DoesNotExist with values",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - from:\n"
		"    - namespaceSelector:\n"
		"        matchExpressions:\n"
		"        - {key: team, operator: DoesNotExist, values: [x]}\n",
		"spec.ingress[0].from[0].namespaceSelector.matchExpressions[0]: values: must be empty "
		"when operator is DoesNotExist");
	expect_spec_error("expression key missing",
		"  podSelector:\n"
		"    matchExpressions:\n"
		"    - {operator: Exists}\n",
		"matchExpressions[0]: key: required field is missing");
	expect_spec_error("expression value invalid",
		"  podSelector:\n"
		"    matchExpressions:\n"
		"    - {key: app, operator: In, values: [\"a b\"]}\n",
		"matchExpressions[0].values[0]: invalid label value \"a b\"");
	expect_spec_error("port out of range",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - ports:\n"
		"    - port: 70000\n",
		"t.yaml:10:13: error: NetworkPolicy prod/p: spec.ingress[0].ports[0].port: "
		"70000 is out of range (1-65535)");
	expect_spec_error("port zero",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - ports:\n"
		"    - port: 0\n",
		"spec.ingress[0].ports[0].port: 0 is out of range (1-65535)");
	expect_spec_error("port negative",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - ports:\n"
		"    - port: -80\n",
		"spec.ingress[0].ports[0].port: -80 is out of range");
	expect_spec_error("port with a fraction",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - ports:\n"
		"    - port: 80.5\n",
		"spec.ingress[0].ports[0].port: must be an integer, got 80.5");
	expect_spec_error("port as digit string",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - ports:\n"
		"    - port: \"80\"\n",
		"spec.ingress[0].ports[0].port: invalid named port \"80\": must contain at least one letter");
	expect_spec_error("port name too long",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - ports:\n"
		"    - port: averyveryverylongname\n",
		"invalid named port \"averyveryverylongname\": must be no more than 15 characters");
	expect_spec_error("port name upper case",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - ports:\n"
		"    - port: Http\n",
		"invalid named port \"Http\": must consist of lower case letters, digits or '-'");
	expect_spec_error("port name double dash",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - ports:\n"
		"    - port: web--ui\n",
		"must not contain consecutive '-'");
	expect_spec_error("port name leading dash",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - ports:\n"
		"    - port: -web\n",
		"must not begin or end with '-'");
	expect_spec_error("port boolean",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - ports:\n"
		"    - port: true\n",
		"spec.ingress[0].ports[0].port: must be a port number or a port name, got boolean");
	expect_spec_error("endPort below port",
		"  podSelector: {}\n"
		"  egress:\n"
		"  - ports:\n"
		"    - port: 32000\n"
		"      endPort: 31000\n",
		"t.yaml:11:16: error: NetworkPolicy prod/p: spec.egress[0].ports[0].endPort: "
		"31000 must be greater than or equal to port (32000)");
	expect_spec_error("endPort with named port",
		"  podSelector: {}\n"
		"  egress:\n"
		"  - ports:\n"
		"    - port: http\n"
		"      endPort: 9000\n",
		"spec.egress[0].ports[0].endPort: may not be specified when port is non-numeric");
	expect_spec_error("endPort without port",
		"  podSelector: {}\n"
		"  egress:\n"
		"  - ports:\n"
		"    - endPort: 9000\n",
		"spec.egress[0].ports[0].endPort: may not be specified when port is not specified");
	expect_spec_error("endPort out of range",
		"  podSelector: {}\n"
		"  egress:\n"
		"  - ports:\n"
		"    - {port: 1000, endPort: 65536}\n",
		"spec.egress[0].ports[0].endPort: 65536 is out of range (1-65535)");
	expect_spec_error("unknown protocol",
		"  podSelector: {}\n"
		"  egress:\n"
		"  - ports:\n"
		"    - {protocol: ICMP}\n",
		"spec.egress[0].ports[0].protocol: unsupported value \"ICMP\": must be \"TCP\", \"UDP\" or \"SCTP\"");
	expect_spec_error("lower-case protocol",
		"  podSelector: {}\n"
		"  egress:\n"
		"  - ports:\n"
		"    - {protocol: tcp, port: 80}\n",
		"unsupported value \"tcp\"");
	expect_spec_error("empty peer",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - from:\n"
		"    - {}\n",
		"t.yaml:10:7: error: NetworkPolicy prod/p: spec.ingress[0].from[0]: must specify "
		"podSelector, namespaceSelector or ipBlock");
	expect_spec_error("ipBlock with selector",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - from:\n"
		"    - ipBlock: {cidr: 10.0.0.0/8}\n"
		"      podSelector: {}\n",
		"spec.ingress[0].from[0]: may not specify both ipBlock and another peer");
	expect_spec_error("missing podSelector",
		"  ingress:\n"
		"  - {}\n",
		"t.yaml:7:3: error: NetworkPolicy prod/p: spec: podSelector: required field is missing");
	expect_error("missing spec", POLICY_HEAD "\n", "NetworkPolicy prod/p: spec: required field is missing");
	expect_spec_error("bad policyType",
		"  podSelector: {}\n"
		"  policyTypes: [Ingress, Both]\n",
		"t.yaml:8:26: error: NetworkPolicy prod/p: spec.policyTypes[1]: unsupported value \"Both\"");
	expect_spec_error("too many policyTypes",
		"  podSelector: {}\n"
		"  policyTypes: [Ingress, Egress, Ingress]\n",
		"spec.policyTypes: must hold at most Ingress and Egress");
	expect_spec_error("bad label key",
		"  podSelector:\n"
		"    matchLabels:\n"
		"      \"bad key\": x\n",
		"spec.podSelector.matchLabels[\"bad key\"]: invalid label key");
	expect_spec_error("bad label key prefix",
		"  podSelector:\n"
		"    matchLabels:\n"
		"      Example.COM/app: x\n",
		"invalid label key: prefix must be a lower case DNS subdomain");
	expect_spec_error("bad label value",
		"  podSelector:\n"
		"    matchLabels:\n"
		"      app: -web\n",
		"spec.podSelector.matchLabels[\"app\"]: invalid label value \"-web\"");
	expect_spec_error("label value too long",
		"  podSelector:\n"
		"    matchLabels:\n"
		"      app: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		"must be no more than 63 characters");
	expect_spec_error("label value boolean",
		"  podSelector:\n"
		"    matchLabels:\n"
		"      enabled: yes\n",
		"t.yaml:9:16: error: NetworkPolicy prod/p: spec.podSelector.matchLabels[\"enabled\"]: "
		"must be a string, got boolean (quote it)");
	expect_spec_error("label value number",
		"  podSelector:\n"
		"    matchLabels:\n"
		"      version: 1.10\n",
		"matchLabels[\"version\"]: must be a string, got number");
	expect_spec_error("ingress not a list",
		"  podSelector: {}\n"
		"  ingress: {from: []}\n",
		"t.yaml:8:12: error: NetworkPolicy prod/p: spec.ingress: must be a list, got object");
	expect_spec_error("from not a list",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - from: everyone\n",
		"spec.ingress[0].from: must be a list, got string");
	expect_spec_error("selector not an object",
		"  podSelector: all\n",
		"spec.podSelector: must be an object (a label selector), got string");
	expect_spec_error("cidr not a string",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - from:\n"
		"    - ipBlock: {cidr: 10}\n",
		"ipBlock.cidr: must be a string, got number");
	expect_error("mode annotation",
		"apiVersion: networking.k8s.io/v1\n"
		"kind: NetworkPolicy\n"
		"metadata:\n"
		"  name: p\n"
		"  annotations:\n"
		"    npshim.io/mode: enforce\n"
		"spec:\n"
		"  podSelector: {}\n",
		"t.yaml:6:21: error: NetworkPolicy default/p: metadata.annotations[\"npshim.io/mode\"]: "
		"unsupported value \"enforce\"");
	expect_error("annotation not a string",
		"apiVersion: networking.k8s.io/v1\n"
		"kind: NetworkPolicy\n"
		"metadata:\n"
		"  name: p\n"
		"  annotations:\n"
		"    replicas: 3\n"
		"spec:\n"
		"  podSelector: {}\n",
		"metadata.annotations[\"replicas\"]: must be a string, got number");
	/* Several errors in one object are all reported. */
	{
		struct k8s_diag d;
		struct pol_cluster *c = load(POLICY_HEAD
			"  podSelector: {}\n"
			"  ingress:\n"
			"  - from:\n"
			"    - ipBlock: {cidr: nope}\n"
			"    ports:\n"
			"    - port: 0\n"
			"    - protocol: ICMP\n", &d);

		T_ASSERT(!c && d.n_errors == 3, "three errors expected, got %zu", d.n_errors);
		pol_cluster_free(c);
		k8s_diag_free(&d);
	}
}

/* 80.0 is an integer in YAML (kubectl writes it as 80) but not in JSON. */
static void test_integral_floats(void)
{
	const char *json = "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
			   "\"metadata\":{\"name\":\"p\"},\"spec\":{\"podSelector\":{},"
			   "\"ingress\":[{\"ports\":[{\"port\":80.0}]}]}}";
	struct pol_cluster *c;
	struct k8s_diag d;

	c = load(POLICY_HEAD "  podSelector: {}\n  ingress:\n  - ports: [{port: 80.0}, {port: 1e3}]\n", &d);
	T_ASSERT(c && c->n_policies == 1 && c->policies[0]->ingress[0].ports[0].port == 80 &&
		 c->policies[0]->ingress[0].ports[1].port == 1000, "YAML 80.0 and 1e3 are ports");
	pol_cluster_free(c);
	k8s_diag_free(&d);
	c = load(json, &d);
	T_ASSERT(!c && k8s_diag_contains(&d, "t.yaml:1:139: error: NetworkPolicy default/p: "
				       "spec.ingress[0].ports[0].port: must be an integer, got 80"),
		 "JSON 80.0 is not an integer");
	if (c || !k8s_diag_contains(&d, "must be an integer"))
		dump_diag(&d);
	pol_cluster_free(c);
	k8s_diag_free(&d);
}

static void test_meta_errors(void)
{
	expect_error("missing name",
		"apiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {a: b}\n",
		"t.yaml:4:3: error: Namespace <unnamed>: metadata: name: required field is missing");
	expect_error("generateName only",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  generateName: web-\n",
		"generateName is not supported");
	expect_error("missing metadata",
		"apiVersion: v1\nkind: Pod\nspec: {}\n",
		"t.yaml:1:1: error: Pod <unnamed>: metadata: required field is missing");
	expect_error("metadata not an object",
		"apiVersion: v1\nkind: Pod\nmetadata: web\n",
		"t.yaml:3:11: error: Pod <unnamed>: metadata: must be an object, got string");
	expect_error("name not a string",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: 42\n",
		"metadata.name: must be a string, got number");
	expect_error("bad namespace name",
		"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Prod_1\n",
		"t.yaml:4:9: error: Namespace \"Prod_1\": metadata.name: invalid name \"Prod_1\"");
	expect_error("bad pod namespace",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: a.b\n",
		"metadata.namespace: invalid namespace \"a.b\"");
	expect_error("bad pod name",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web..1\n",
		"metadata.name: invalid name \"web..1\"");
	expect_error("labels not an object",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels: [a]\n",
		"metadata.labels: must be an object, got list");
	expect_error("control characters quoted",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"a\\nb\"\n",
		"invalid name \"a\\x0ab\"");
}

static void test_pod_errors(void)
{
	const char *head = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: prod\n";
	static const struct {
		const char *what, *body, *needle;
	} cases[] = {
		{ "bad pod IP", "status:\n  podIP: 10.0.0.300\n",
		  "t.yaml:7:10: error: Pod prod/web: status.podIP: invalid IP address \"10.0.0.300\"" },
		{ "bad podIPs entry", "status:\n  podIPs:\n  - ip: 10.0.0.1\n  - ip: zz::1\n",
		  "status.podIPs[1].ip: invalid IP address \"zz::1\"" },
		{ "two IPv4 in podIPs", "status:\n  podIPs:\n  - ip: 10.0.0.1\n  - ip: 10.0.0.2\n",
		  "status.podIPs[1].ip: more than one IPv4 address" },
		{ "podIP mismatch", "status:\n  podIP: 10.0.0.2\n  podIPs: [{ip: 10.0.0.1}]\n",
		  "status.podIP: \"10.0.0.2\" does not match podIPs[0]" },
		{ "podIPs item without ip", "status:\n  podIPs: [{}]\n",
		  "status.podIPs[0]: ip: required field is missing" },
		{ "bad host IP", "status:\n  hostIP: node-1\n",
		  "status.hostIP: invalid IP address \"node-1\"" },
		{ "bad phase", "status:\n  phase: Crashing\n",
		  "status.phase: unsupported value \"Crashing\"" },
		{ "container port out of range",
		  "spec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: 0\n",
		  "t.yaml:10:22: error: Pod prod/web: spec.containers[0].ports[0].containerPort: 0 is out of range" },
		{ "container port missing number",
		  "spec:\n  containers:\n  - name: c\n    ports:\n    - name: http\n",
		  "spec.containers[0].ports[0]: containerPort: required field is missing" },
		{ "container port bad name",
		  "spec:\n  containers:\n  - name: c\n    ports:\n    - {name: HTTP, containerPort: 80}\n",
		  "spec.containers[0].ports[0].name: invalid port name \"HTTP\"" },
		{ "container port duplicate name",
		  "spec:\n  containers:\n  - name: c\n    ports:\n    - {name: http, containerPort: 80}\n"
		  "    - {name: http, containerPort: 81}\n",
		  "spec.containers[0].ports[1].name: duplicate port name \"http\"" },
		{ "container port protocol",
		  "spec:\n  containers:\n  - name: c\n    ports:\n    - {containerPort: 80, protocol: HTTP}\n",
		  "spec.containers[0].ports[0].protocol: unsupported value \"HTTP\"" },
		{ "containers not a list", "spec:\n  containers: {name: c}\n",
		  "spec.containers: must be a list, got object" },
		{ "hostNetwork not a bool", "spec:\n  hostNetwork: \"true\"\n",
		  "spec.hostNetwork: must be a boolean, got string" },
		{ "nodeName not a string", "spec:\n  nodeName: [a]\n",
		  "spec.nodeName: must be a string, got list" },
		{ "two controllers",
		  "  ownerReferences:\n  - {kind: ReplicaSet, name: a, controller: true}\n"
		  "  - {kind: Job, name: b, controller: true}\n",
		  "metadata.ownerReferences[1]: only one reference can have controller set to true" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = NULL;

		if (asprintf(&text, "%s%s", head, cases[i].body) < 0)
			abort();
		expect_error(cases[i].what, text, cases[i].needle);
		free(text);
	}
}

static const struct pol_policy *find_policy(const struct pol_cluster *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_policies; i++)
		if (!strcmp(c->policies[i]->name, name))
			return c->policies[i];
	return NULL;
}

static void test_policy_decode(void)
{
	struct k8s_diag d;
	struct pol_cluster *c = load(
		"apiVersion: networking.k8s.io/v1\n"
		"kind: NetworkPolicy\n"
		"metadata: {name: defaults, namespace: prod}\n"
		"spec:\n"
		"  podSelector: {matchLabels: {app: web}}\n"
		"  ingress:\n"
		"  - ports: [{port: 80}, {protocol: UDP}, {port: 1000, endPort: 2000, protocol: SCTP}]\n"
		"  - from: []\n"
		"  egress:\n"
		"  - to:\n"
		"    - namespaceSelector: {}\n"
		"      podSelector:\n"
		"        matchExpressions:\n"
		"        - {key: tier, operator: NotIn, values: [db, cache]}\n"
		"    - ipBlock: {cidr: 10.42.1.1/4, except: [10.42.0.0/16]}\n"
		"    - ipBlock: {cidr: \"2001:db8::/32\"}\n"
		"    ports: [{port: dns, protocol: UDP}]\n"
		"---\n"
		"apiVersion: networking.k8s.io/v1\n"
		"kind: NetworkPolicy\n"
		"metadata: {name: ingress-only, namespace: prod}\n"
		"spec: {podSelector: {}}\n"
		"---\n"
		"apiVersion: networking.k8s.io/v1\n"
		"kind: NetworkPolicy\n"
		"metadata: {name: explicit, namespace: prod, annotations: {npshim.io/mode: audit}}\n"
		"spec: {podSelector: {}, policyTypes: [Egress], ingress: [{}]}\n"
		"---\n"
		"apiVersion: networking.k8s.io/v1\n"
		"kind: NetworkPolicy\n"
		"metadata: {name: empty-types, namespace: prod}\n"
		"spec: {podSelector: {}, policyTypes: [], egress: [{}]}\n", &d);
	const struct pol_policy *p;
	char buf[POL_CIDR_STRLEN];

	T_ASSERT(c != NULL, "policies load");
	if (!c) {
		dump_diag(&d);
		k8s_diag_free(&d);
		return;
	}
	T_ASSERT(c->n_policies == 4, "4 policies, got %zu", c->n_policies);
	p = find_policy(c, "defaults");
	T_ASSERT(p && p->type_ingress && p->type_egress, "defaulted to Ingress+Egress with egress rules");
	T_ASSERT(p && !p->staged, "not staged");
	T_ASSERT(p && !strcmp(p->ns, "prod"), "namespace");
	T_ASSERT(p && p->pod_sel.match_labels.n == 1 &&
		 !strcmp(pol_labels_get(&p->pod_sel.match_labels, "app"), "web"), "podSelector");
	T_ASSERT(p && p->n_ingress == 2 && p->ingress[0].n_peers == 0 && p->ingress[0].n_ports == 3,
		 "ingress rule shape");
	if (p && p->n_ingress == 2 && p->ingress[0].n_ports == 3) {
		const struct pol_port *pt = p->ingress[0].ports;

		T_ASSERT(pt[0].proto == POL_PROTO_TCP && pt[0].has_port && pt[0].port == 80 &&
			 !pt[0].name && pt[0].end_port == 0, "port 80 defaults to TCP");
		T_ASSERT(pt[1].proto == POL_PROTO_UDP && !pt[1].has_port, "protocol-only port");
		T_ASSERT(pt[2].proto == POL_PROTO_SCTP && pt[2].port == 1000 && pt[2].end_port == 2000,
			 "endPort range");
		T_ASSERT(p->ingress[1].n_peers == 0 && p->ingress[1].n_ports == 0,
			 "from: [] is every peer");
	}
	T_ASSERT(p && p->n_egress == 1 && p->egress[0].n_peers == 3, "egress peers");
	if (p && p->n_egress == 1 && p->egress[0].n_peers == 3) {
		const struct pol_peer *pe = p->egress[0].peers;

		T_ASSERT(pe[0].ns_sel && pe[0].pod_sel && !pe[0].ipblock, "ns+pod selector peer");
		T_ASSERT(pe[0].ns_sel && pe[0].ns_sel->match_labels.n == 0 && pe[0].ns_sel->n_exprs == 0,
			 "{} namespace selector");
		T_ASSERT(pe[0].pod_sel && pe[0].pod_sel->n_exprs == 1 &&
			 pe[0].pod_sel->exprs[0].op == POL_SEL_NOT_IN &&
			 pe[0].pod_sel->exprs[0].n_values == 2 &&
			 !strcmp(pe[0].pod_sel->exprs[0].values[1], "cache"), "NotIn expression");
		T_ASSERT(pe[1].ipblock && !strcmp(pol_cidr_format(&pe[1].ipblock->cidr, buf, sizeof(buf)),
						  "0.0.0.0/4"), "host bits accepted and cleared: %s", buf);
		T_ASSERT(pe[1].ipblock && pe[1].ipblock->n_except == 1 && pe[1].ipblock->cidr.v4,
			 "except kept");
		T_ASSERT(pe[2].ipblock && !pe[2].ipblock->cidr.v4 && pe[2].ipblock->cidr.len == 32,
			 "IPv6 block");
		T_ASSERT(p->egress[0].n_ports == 1 && p->egress[0].ports[0].name &&
			 !strcmp(p->egress[0].ports[0].name, "dns") && p->egress[0].ports[0].has_port,
			 "named port");
	}
	p = find_policy(c, "ingress-only");
	T_ASSERT(p && p->type_ingress && !p->type_egress, "default without egress rules = Ingress");
	p = find_policy(c, "explicit");
	T_ASSERT(p && !p->type_ingress && p->type_egress, "explicit policyTypes kept");
	T_ASSERT(p && p->staged, "audit annotation stages the policy");
	T_ASSERT(p && p->n_ingress == 1, "rules kept even when the type is not listed");
	p = find_policy(c, "empty-types");
	T_ASSERT(p && p->type_ingress && p->type_egress, "empty policyTypes is defaulted");
	T_ASSERT(c->policies[0]->origin && !strcmp(c->policies[0]->origin, "t.yaml:1"),
		 "origin names file and line: %s", c->policies[0]->origin);
	pol_cluster_free(c);
	k8s_diag_free(&d);
}

static void test_pod_and_namespace_decode(void)
{
	struct k8s_diag d;
	struct pol_cluster *c = load(
		"apiVersion: v1\n"
		"kind: Namespace\n"
		"metadata:\n"
		"  name: prod\n"
		"  labels: {team: a, kubernetes.io/metadata.name: wrong}\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Pod\n"
		"metadata: {name: web, labels: {app: web, empty: \"\"}}\n"
		"spec:\n"
		"  hostNetwork: true\n"
		"  nodeName: n1\n"
		"  containers:\n"
		"  - ports: [{containerPort: 53, protocol: UDP, name: dns}, {containerPort: 80}]\n"
		"status:\n"
		"  phase: Succeeded\n"
		"  podIP: 10.0.0.5\n"
		"  hostIP: 10.0.0.5\n", &d);
	char buf[POL_IP_STRLEN];

	T_ASSERT(c != NULL, "pod and namespace load");
	if (!c) {
		dump_diag(&d);
		k8s_diag_free(&d);
		return;
	}
	T_ASSERT(c->n_namespaces == 1 && c->n_pods == 1, "counts");
	if (c->n_namespaces == 1) {
		const struct pol_namespace *ns = c->namespaces[0];

		T_ASSERT(!strcmp(pol_labels_get(&ns->labels, "kubernetes.io/metadata.name"), "prod"),
			 "metadata.name label stamped as the API server does");
		T_ASSERT(!strcmp(pol_labels_get(&ns->labels, "team"), "a"), "labels");
	}
	if (c->n_pods == 1) {
		const struct pol_pod *p = c->pods[0];

		T_ASSERT(!strcmp(p->ns, "default"), "namespace defaults to default");
		T_ASSERT(p->host_network && p->node_name && !strcmp(p->node_name, "n1"), "spec fields");
		T_ASSERT(p->phase == POL_PHASE_SUCCEEDED, "phase decoded");
		T_ASSERT(p->n_ips == 1 && !strcmp(pol_ip_format(&p->ips[0], buf, sizeof(buf)), "10.0.0.5"),
			 "podIP used without podIPs");
		T_ASSERT(p->has_host_ip, "hostIP");
		T_ASSERT(p->n_ports == 2 && p->ports[0].proto == POL_PROTO_UDP && p->ports[0].port == 53 &&
			 !strcmp(p->ports[0].name, "dns") && p->ports[1].proto == POL_PROTO_TCP &&
			 !p->ports[1].name, "container ports");
		T_ASSERT(!strcmp(pol_labels_get(&p->labels, "empty"), ""), "empty label value");
		T_ASSERT(!p->owner_kind, "no owner");
	}
	pol_cluster_free(c);
	k8s_diag_free(&d);
}

/* The API client's path: a cJSON tree without positions, origin "api". */
static void test_without_positions(void)
{
	const char *text = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"x\"},"
			   "\"spec\":{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":99999}]}]}}";
	struct k8s_diag d;
	struct pol_cluster *c = pol_cluster_new();
	cJSON *obj = cJSON_Parse(text);
	struct pol_policy *p;
	int rc;

	k8s_diag_init(&d);
	T_ASSERT(k8s_kind_of(obj, K8S_KIND_NETWORKPOLICY) == K8S_KIND_NETWORKPOLICY,
		 "list item without kind takes the list's kind");
	T_ASSERT(k8s_kind_of(obj, K8S_KIND_OTHER) == K8S_KIND_OTHER, "no kind, no list");
	rc = k8s_decode_object(obj, K8S_KIND_NETWORKPOLICY, c, NULL, &d, "api");
	T_ASSERT(rc == -1 && c->n_policies == 0, "invalid object not added");
	T_ASSERT(k8s_diag_contains(&d, "api: error: NetworkPolicy x/p: spec.ingress[0].ports[0].port: "
				       "99999 is out of range"), "message without position");
	if (!k8s_diag_contains(&d, "api: error: NetworkPolicy x/p"))
		dump_diag(&d);
	cJSON_Delete(obj);
	k8s_diag_free(&d);

	obj = cJSON_Parse("{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
			  "\"metadata\":{\"name\":\"p\"},\"spec\":{\"podSelector\":{}}}");
	p = k8s_decode_policy(obj, NULL, &d, "api");
	T_ASSERT(p && !strcmp(p->origin, "api") && !strcmp(p->ns, "default"), "decode_policy alone");
	pol_policy_free(p);
	T_ASSERT(k8s_decode_object(obj, K8S_KIND_OTHER, c, NULL, &d, "api") == 1, "other kind skipped");
	cJSON_Delete(obj);

	obj = cJSON_Parse("{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"NetworkPolicy\"}");
	T_ASSERT(k8s_kind_of(obj, K8S_KIND_OTHER) == K8S_KIND_OTHER, "Calico NetworkPolicy is another kind");
	cJSON_Delete(obj);
	obj = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}");
	T_ASSERT(k8s_kind_of(obj, K8S_KIND_OTHER) == K8S_KIND_POD, "v1 Pod");
	cJSON_Delete(obj);
	obj = cJSON_Parse("{\"kind\":\"Namespace\"}");
	T_ASSERT(k8s_kind_of(obj, K8S_KIND_NAMESPACE) == K8S_KIND_NAMESPACE, "typed list item with kind");
	T_ASSERT(k8s_kind_of(obj, K8S_KIND_OTHER) == K8S_KIND_OTHER, "kind without apiVersion");
	cJSON_Delete(obj);
	/* A number written as 80.0 cannot be told from 80 without positions;
	 * the API server never sends one. Non-integral values still fail. */
	obj = cJSON_Parse("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"podSelector\":{},"
			  "\"ingress\":[{\"ports\":[{\"port\":80.5}]}]}}");
	T_ASSERT(!k8s_decode_policy(obj, NULL, &d, "api") && errno == EINVAL, "80.5 refused");
	cJSON_Delete(obj);
	pol_cluster_free(c);
	k8s_diag_free(&d);
}

static void test_name_checks(void)
{
	static const struct {
		const char *(*fn)(const char *);
		const char *s;
		bool ok;
	} cases[] = {
		{ k8s_check_port_name, "http", true },
		{ k8s_check_port_name, "serve-80-tcp", true },
		{ k8s_check_port_name, "a", true },
		{ k8s_check_port_name, "123456789012345", false },
		{ k8s_check_port_name, "abcdefghijklmno", true },
		{ k8s_check_port_name, "abcdefghijklmnop", false },
		{ k8s_check_port_name, "", false },
		{ k8s_check_port_name, "a-", false },
		{ k8s_check_port_name, "a_b", false },
		{ k8s_check_label_key, "app", true },
		{ k8s_check_label_key, "app.kubernetes.io/name", true },
		{ k8s_check_label_key, "kubernetes.io/metadata.name", true },
		{ k8s_check_label_key, "a/b/c", false },
		{ k8s_check_label_key, "/b", false },
		{ k8s_check_label_key, "a/", false },
		{ k8s_check_label_key, "Under_Score.x", true },
		{ k8s_check_label_key, "_x", false },
		{ k8s_check_label_value, "", true },
		{ k8s_check_label_value, "a.b_c-D", true },
		{ k8s_check_label_value, "a b", false },
		{ k8s_check_label_value, "x.", false },
		{ k8s_check_dns1123_label, "kube-system", true },
		{ k8s_check_dns1123_label, "a.b", false },
		{ k8s_check_dns1123_label, "-a", false },
		{ k8s_check_dns1123_subdomain, "web-1.example", true },
		{ k8s_check_dns1123_subdomain, "web..1", false },
		{ k8s_check_dns1123_subdomain, "Web", false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		T_ASSERT((cases[i].fn(cases[i].s) == NULL) == cases[i].ok, "name check of '%s'",
			 cases[i].s);
}

int main(void)
{
	test_policy_errors();
	test_meta_errors();
	test_integral_floats();
	test_pod_errors();
	test_policy_decode();
	test_pod_and_namespace_decode();
	test_without_positions();
	test_name_checks();
	return T_REPORT();
}
