/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_files.c - k8s/files, k8s/jsonpos, k8s/yamlpos: the shapes
 * users feed the loader, syntax errors with positions, directories,
 * duplicates, and all-or-nothing loading. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "k8s/diag.h"
#include "k8s/files.h"
#include "k8s/jsonpos.h"
#include "k8s/tree.h"
#include "k8s/yamlpos.h"
#include "policy/objects.h"
#include "test.h"

static void dump_diag(const struct k8s_diag *d)
{
	size_t i;

	for (i = 0; i < d->n_msgs; i++)
		printf("    | %s\n", d->msgs[i].text);
}

/* Load text named name; returns the number of errors, cluster in *out
 * (always a cluster, possibly empty). */
static size_t load_as(const char *name, const char *text, struct pol_cluster **out,
		      struct k8s_diag *d)
{
	*out = pol_cluster_new();
	k8s_diag_init(d);
	return k8s_load_buffer(name, text, strlen(text), K8S_FORMAT_AUTO, *out, d);
}

static void expect_fail(const char *what, const char *name, const char *text, const char *needle)
{
	struct pol_cluster *c;
	struct k8s_diag d;
	size_t errors = load_as(name, text, &c, &d);

	T_ASSERT(errors > 0, "%s: accepted", what);
	T_ASSERT(c->n_namespaces + c->n_pods + c->n_policies == 0, "%s: half-loaded", what);
	T_ASSERT(k8s_diag_contains(&d, needle), "%s: no message contains '%s'", what, needle);
	if (!k8s_diag_contains(&d, needle))
		dump_diag(&d);
	pol_cluster_free(c);
	k8s_diag_free(&d);
}

static void expect_ok(const char *what, const char *name, const char *text, size_t ns,
		      size_t pods, size_t pols)
{
	struct pol_cluster *c;
	struct k8s_diag d;
	size_t errors = load_as(name, text, &c, &d);

	T_ASSERT(errors == 0, "%s: %zu errors", what, errors);
	if (errors)
		dump_diag(&d);
	T_ASSERT(c->n_namespaces == ns && c->n_pods == pods && c->n_policies == pols,
		 "%s: got %zu/%zu/%zu objects, want %zu/%zu/%zu", what, c->n_namespaces,
		 c->n_pods, c->n_policies, ns, pods, pols);
	pol_cluster_free(c);
	k8s_diag_free(&d);
}

static void test_json_parser(void)
{
	static const struct {
		const char *text, *needle;
	} bad[] = {
		{ "{\"a\":1,}", "x.json:1:8: error: invalid JSON (byte offset 7): trailing comma in object" },
		{ "[1,2,]", "trailing comma in array" },
		{ "{\"a\":1} x", "x.json:1:9: error: invalid JSON (byte offset 8): unexpected data after the end" },
		{ "{\"a\":1}{\"b\":2}", "unexpected data after the end of the JSON value" },
		{ "{\"a\":1,\n \"a\":2}", "x.json:2:2: error: invalid JSON (byte offset 9): duplicate key \"a\" (first at line 1)" },
		{ "{a:1}", "expected a string key in object" },
		{ "{\"a\" 1}", "expected ':' after object key" },
		{ "{\"a\":01}", "leading zero in number" },
		{ "{\"a\":1.}", "digit expected after decimal point" },
		{ "{\"a\":1e}", "digit expected in exponent" },
		{ "{\"a\":-}", "invalid number" },
		{ "{\"a\":NaN}", "unexpected character 'N'" },
		{ "{\"a\":tru}", "unexpected character 't'" },
		{ "{\"a\":nullx}", "invalid literal" },
		{ "{\"a\":\"x\\q\"}", "invalid escape \\q in string" },
		{ "{\"a\":\"\\u12g4\"}", "\\u must be followed by four hex digits" },
		{ "{\"a\":\"\\ud800\"}", "high surrogate \\ud800 not followed by a low surrogate" },
		{ "{\"a\":\"\\udc00\"}", "lone low surrogate" },
		{ "{\"a\":\"\\u0000\"}", "\\u0000 in string is not supported" },
		{ "{\"a\":\"x\ny\"}", "control character 0x0a in string" },
		{ "{\"a\":\"\xc3\x28\"}", "invalid UTF-8 byte 0xc3 in string" },
		{ "{\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8 byte 0xed" },
		{ "{\"a\":\"\xc0\xaf\"}", "invalid UTF-8 byte 0xc0" },
		{ "{\"a\":\"abc", "unterminated string" },
		{ "{\"a\":[1,2", "x.json:1:10: error: invalid JSON (byte offset 9): unexpected end of input in array opened at line 1" },
		{ "{\n\"a\":{", "unexpected end of input" },
		{ "[\x01]", "unexpected byte 0x01" },
	};
	struct k8s_pos_map *pos = k8s_pos_map_new();
	struct k8s_pos p;
	struct k8s_diag d;
	cJSON *root;
	size_t i;
	char *deep;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		k8s_diag_init(&d);
		root = k8s_json_parse(bad[i].text, strlen(bad[i].text), "x.json", pos, &d);
		T_ASSERT(!root && d.n_errors == 1, "JSON '%s' refused with one error", bad[i].text);
		T_ASSERT(k8s_diag_contains(&d, bad[i].needle), "JSON '%s': want '%s'", bad[i].text,
			 bad[i].needle);
		if (!k8s_diag_contains(&d, bad[i].needle))
			dump_diag(&d);
		cJSON_Delete(root);
		k8s_diag_free(&d);
		k8s_pos_map_clear(pos);
	}

	/* Escapes, surrogate pairs, numbers, positions. */
	{
		const char *text = "\xef\xbb\xbf{\"s\": \"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\",\n"
				   "  \"n\": -12.5e2, \"i\": 80, \"t\": true, \"f\": false, \"z\": null,\n"
				   "  \"arr\": [ {}, [], \"\xe2\x82\xac\" ] }";

		k8s_diag_init(&d);
		root = k8s_json_parse(text, strlen(text), "x.json", pos, &d);
		T_ASSERT(root != NULL, "valid JSON parsed");
		if (root) {
			const cJSON *s = cJSON_GetObjectItem(root, "s");
			const cJSON *n = cJSON_GetObjectItem(root, "n");
			const cJSON *in = cJSON_GetObjectItem(root, "i");
			const cJSON *arr = cJSON_GetObjectItem(root, "arr");

			T_ASSERT(s && !strcmp(s->valuestring, "a\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80"),
				 "escapes decoded");
			T_ASSERT(n && n->valuedouble == -1250.0, "number");
			T_ASSERT(k8s_pos_map_get(pos, n, &p) && p.line == 2 && p.col == 8 &&
				 (p.flags & K8S_POS_FLOAT), "float position and flag");
			T_ASSERT(k8s_pos_map_get(pos, in, &p) && !(p.flags & K8S_POS_FLOAT), "integer flag");
			T_ASSERT(cJSON_GetArraySize(arr) == 3 &&
				 !strcmp(cJSON_GetArrayItem(arr, 2)->valuestring, "\xe2\x82\xac"), "array");
			T_ASSERT(k8s_pos_map_get(pos, cJSON_GetArrayItem(arr, 1), &p) && p.line == 3 &&
				 p.col == 16, "array item position %u:%u", p.line, p.col);
			T_ASSERT(k8s_pos_map_get(pos, root, &p) && p.line == 1 && p.col == 1,
				 "root after BOM: the BOM takes no column");
		}
		cJSON_Delete(root);
		k8s_diag_free(&d);
		k8s_pos_map_clear(pos);
	}

	/* Nesting limit: 256 levels pass, 257 fail. */
	deep = malloc(2 * 257 + 1);
	memset(deep, '[', 256);
	memset(deep + 256, ']', 256);
	deep[512] = '\0';
	k8s_diag_init(&d);
	root = k8s_json_parse(deep, 512, "x.json", NULL, &d);
	T_ASSERT(root != NULL, "256 levels accepted");
	cJSON_Delete(root);
	memset(deep, '[', 257);
	memset(deep + 257, ']', 257);
	deep[514] = '\0';
	root = k8s_json_parse(deep, 514, "x.json", NULL, &d);
	T_ASSERT(!root && k8s_diag_contains(&d, "nesting deeper than 256 levels"), "257 levels refused");
	k8s_diag_free(&d);
	free(deep);

	/* Many keys: duplicate found through the hash set too. */
	{
		size_t n = 5000, o = 0;
		char *big = malloc(n * 16 + 32);

		o += (size_t)sprintf(big + o, "{");
		for (i = 0; i < n; i++)
			o += (size_t)sprintf(big + o, "%s\"k%zu\":1", i ? "," : "", i);
		o += (size_t)sprintf(big + o, ",\"k4321\":2}");
		k8s_diag_init(&d);
		root = k8s_json_parse(big, o, "x.json", pos, &d);
		T_ASSERT(!root && k8s_diag_contains(&d, "duplicate key \"k4321\""),
			 "duplicate among 5000 keys");
		k8s_diag_free(&d);
		k8s_pos_map_clear(pos);
		free(big);
	}
	k8s_pos_map_free(pos);
}

struct docs {
	int n;
	cJSON *copies[8];
	unsigned lines[8];
};

static int collect(cJSON *root, unsigned line, void *arg)
{
	struct docs *ds = arg;

	if (ds->n < 8) {
		ds->copies[ds->n] = cJSON_Duplicate(root, 1);
		ds->lines[ds->n] = line;
	}
	ds->n++;
	return 0;
}

static void docs_free(struct docs *ds)
{
	int i;

	for (i = 0; i < ds->n && i < 8; i++)
		cJSON_Delete(ds->copies[i]);
	memset(ds, 0, sizeof(*ds));
}

static void test_yaml_parser(void)
{
	static const struct {
		const char *text, *needle;
	} bad[] = {
		{ "a: 1\na: 2\n", "y.yaml:2:1: error: invalid YAML: duplicate key \"a\" (first at line 1)" },
		{ "? [a]\n: 1\n", "y.yaml:1:3: error: invalid YAML: mapping keys must be scalars" },
		{ "a: *nope\n", "y.yaml:1:4: error: invalid YAML: unknown anchor \"nope\"" },
		{ "a: &x [1, *x]\n", "alias \"x\" refers to a node that contains it" },
		{ "a: [1, 2\n", "invalid YAML: did not find expected ',' or ']'" },
		{ "a: b\n c: d\n", "y.yaml:2:3: error: invalid YAML: mapping values are not allowed in this context" },
		{ "a:\n\t- b\n", "found character that cannot start any token" },
		{ "a: !!int abc\n", "!!int value \"abc\" is not an integer" },
		{ "a: !!bool maybe\n", "!!bool value \"maybe\" is not a boolean" },
		{ "a: !custom x\n", "unsupported tag !custom" },
		{ "a: !!set {x}\n", "unsupported tag tag:yaml.org,2002:set on a mapping" },
		{ "a: \"x\\0y\"\n", "NUL character in scalar is not supported" },
		{ "a: \"\xff\"\n", "y.yaml:1:5: error: invalid YAML: invalid leading UTF-8 octet (byte 0xff at offset 4)" },
		{ "<<: 5\nb: 1\n", "merge key << needs a mapping or a list of mappings" },
		{ "a: &x 1\n*x : 1\n", "y.yaml:2:1: error: invalid YAML: an alias cannot be a mapping key" },
	};
	struct k8s_pos_map *pos = k8s_pos_map_new();
	struct docs ds = { 0 };
	struct k8s_diag d;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		k8s_diag_init(&d);
		rc = k8s_yaml_parse(bad[i].text, strlen(bad[i].text), "y.yaml", pos, &d, collect, &ds);
		T_ASSERT(rc == -1 && d.n_errors == 1, "YAML '%s' refused (rc %d, %zu errors)", bad[i].text,
			 rc, d.n_errors);
		T_ASSERT(k8s_diag_contains(&d, bad[i].needle), "YAML '%s': want '%s'", bad[i].text,
			 bad[i].needle);
		if (!k8s_diag_contains(&d, bad[i].needle))
			dump_diag(&d);
		docs_free(&ds);
		k8s_diag_free(&d);
	}

	/* Scalar resolution the way kubectl (go-yaml, YAML 1.1) reads it. */
	{
		const char *text =
			"# comment\n"
			"int: 80\nhex: 0x1F\noct: 017\nunder: 1_000\nneg: -5\n"
			"float: 1.5\nexp: 1e3\ninf: .inf\n"
			"str: \"80\"\nsq: '80'\nplain: hello world\nver: 1.2.3\n"
			"yes: yes\nno: No\non: on\noff: OFF\ny: y\ntrue: True\n"
			"null1: ~\nnull2: null\nnull3:\n"
			"tagstr: !!str 80\ntagint: !!int \"42\"\ntagfloat: !!float 3\n"
			"lit: |\n  line1\n  line2\nfold: >\n  a\n  b\n"
			"anch: &base {x: 1, y: 2}\n"
			"merged:\n  <<: *base\n  y: 3\n"
			"multi:\n  <<: [{p: 1}, {p: 2, q: 2}]\n"
			"nonspecific: ! 12\n"
			"---\n"
			"- second\n"
			"--- ~\n";
		cJSON *r;

		k8s_diag_init(&d);
		rc = k8s_yaml_parse(text, strlen(text), "y.yaml", pos, &d, collect, &ds);
		T_ASSERT(rc == 0 && ds.n == 3, "three documents (rc %d, %d docs)", rc, ds.n);
		if (d.n_errors)
			dump_diag(&d);
		r = ds.copies[0];
#define NUM(k, v) T_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(r, k)) && \
			   cJSON_GetObjectItem(r, k)->valuedouble == (v), "%s is number %g", k, (double)(v))
#define STR(k, v) T_ASSERT(cJSON_IsString(cJSON_GetObjectItem(r, k)) && \
			   !strcmp(cJSON_GetObjectItem(r, k)->valuestring, v), "%s is string '%s'", k, v)
#define BOOL(k, v) T_ASSERT(cJSON_IsBool(cJSON_GetObjectItem(r, k)) && \
			    cJSON_IsTrue(cJSON_GetObjectItem(r, k)) == (v), "%s is bool %d", k, v)
#define NUL(k) T_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(r, k)), "%s is null", k)
		if (r) {
			const cJSON *m;

			NUM("int", 80);
			NUM("hex", 31);
			NUM("oct", 15);
			NUM("under", 1000);
			NUM("neg", -5);
			NUM("float", 1.5);
			NUM("exp", 1000);
			T_ASSERT(cJSON_GetObjectItem(r, "inf")->valuedouble > 1e308, ".inf");
			STR("str", "80");
			STR("sq", "80");
			STR("plain", "hello world");
			STR("ver", "1.2.3");
			BOOL("yes", true);
			BOOL("no", false);
			BOOL("on", true);
			BOOL("off", false);
			BOOL("y", true);
			BOOL("true", true);
			NUL("null1");
			NUL("null2");
			NUL("null3");
			STR("tagstr", "80");
			NUM("tagint", 42);
			NUM("tagfloat", 3);
			STR("lit", "line1\nline2\n");
			STR("fold", "a b\n");
			STR("nonspecific", "12");
			m = cJSON_GetObjectItem(r, "merged");
			T_ASSERT(m && cJSON_GetObjectItem(m, "x")->valuedouble == 1 &&
				 cJSON_GetObjectItem(m, "y")->valuedouble == 3 && cJSON_GetArraySize(m) == 2,
				 "merge: explicit keys win");
			m = cJSON_GetObjectItem(r, "multi");
			T_ASSERT(m && cJSON_GetObjectItem(m, "p")->valuedouble == 1 &&
				 cJSON_GetObjectItem(m, "q")->valuedouble == 2, "merge list: first wins");
		}
		T_ASSERT(ds.n >= 2 && cJSON_IsArray(ds.copies[1]) && ds.lines[1] == 39,
			 "second document is a list starting at its --- on line 39 (%u)", ds.lines[1]);
		T_ASSERT(ds.n >= 3 && cJSON_IsNull(ds.copies[2]), "third document is null");
		docs_free(&ds);
		k8s_diag_free(&d);
	}

	/* Alias bomb: each level doubles; refused by the node budget, fast. */
	{
		char text[4096];
		size_t o = 0;

		o += (size_t)sprintf(text + o, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
		for (i = 1; i < 30; i++)
			o += (size_t)sprintf(text + o, "a%zu: &a%zu [*a%zu, *a%zu, *a%zu, *a%zu]\n", i, i,
					     i - 1, i - 1, i - 1, i - 1);
		k8s_diag_init(&d);
		rc = k8s_yaml_parse(text, o, "bomb.yaml", pos, &d, collect, &ds);
		T_ASSERT(rc == -1 && k8s_diag_contains(&d, "(alias bomb?)"), "alias bomb refused");
		docs_free(&ds);
		k8s_diag_free(&d);
	}
	/* Deep nesting refused. */
	{
		char *deep = malloc(600);

		memset(deep, '[', 300);
		memset(deep + 300, ']', 300);
		k8s_diag_init(&d);
		rc = k8s_yaml_parse(deep, 600, "deep.yaml", pos, &d, collect, &ds);
		T_ASSERT(rc == -1 && k8s_diag_contains(&d, "nesting deeper than 256 levels"),
			 "deep YAML refused");
		docs_free(&ds);
		k8s_diag_free(&d);
		free(deep);
	}
	k8s_pos_map_free(pos);
}

static void test_shapes(void)
{
	const char *ns = "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}}";
	const char *pod_item = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"a\"},"
			       "\"status\":{\"podIP\":\"10.0.0.1\"}}";
	char buf[1024];

	expect_ok("single JSON object", "x.json", ns, 1, 0, 0);
	snprintf(buf, sizeof(buf), "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[%s]}", pod_item);
	expect_ok("PodList items without kind", "x.json", buf, 0, 1, 0);
	snprintf(buf, sizeof(buf), "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[%s,"
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"q\"}},"
		 "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"}},"
		 "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{\"apiVersion\":\"v1\","
		 "\"kind\":\"Namespace\",\"metadata\":{\"name\":\"b\"}}]}]}", ns);
	expect_ok("mixed List with a nested List", "x.json", buf, 2, 1, 0);
	expect_ok("empty List", "x.json", "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[]}", 0, 0, 0);
	expect_ok("List with null items", "x.yaml", "apiVersion: v1\nkind: List\nitems:\n", 0, 0, 0);
	expect_ok("List without items", "x.yaml", "apiVersion: v1\nkind: List\n", 0, 0, 0);
	expect_ok("PodList without items", "x.json", "{\"apiVersion\":\"v1\",\"kind\":\"PodList\"}", 0, 0, 0);
	expect_ok("NetworkPolicyList", "x.yaml",
		  "kind: NetworkPolicyList\napiVersion: networking.k8s.io/v1\nitems:\n"
		  "- metadata: {name: a, namespace: x}\n  spec: {podSelector: {}}\n", 0, 0, 1);
	expect_ok("ServiceList skipped", "x.yaml",
		  "kind: ServiceList\napiVersion: v1\nitems: [{metadata: {name: s}}]\n", 0, 0, 0);
	expect_ok("YAML stream with empty documents and comments", "x.yaml",
		  "---\n# nothing\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\n",
		  1, 0, 0);
	expect_ok("JSON in a .yaml file", "x.yaml", ns, 1, 0, 0);
	expect_ok("YAML flow style in a .yaml file", "x.yaml",
		  "{apiVersion: v1, kind: Namespace, metadata: {name: a},}\n", 1, 0, 0);
	expect_fail("the same in a .json file is strict JSON", "x.json",
		    "{apiVersion: v1, kind: Namespace, metadata: {name: a},}\n",
		    "x.json:1:2: error: invalid JSON (byte offset 1): expected a string key in object");
	expect_ok("YAML in a .json file", "x.json", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
		  1, 0, 0);
	expect_ok("Calico NetworkPolicy skipped", "x.yaml",
		  "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: a}\n", 0, 0, 0);

	expect_fail("empty file", "e.yaml", "", "e.yaml: error: no Kubernetes objects in this file");
	expect_fail("only comments", "e.yaml", "# nothing here\n", "no Kubernetes objects in this file");
	expect_fail("only empty documents", "e.yaml", "---\n---\n# x\n", "e.yaml: error: no Kubernetes objects");
	expect_fail("old NetworkPolicyList", "x.yaml",
		    "apiVersion: extensions/v1beta1\nkind: NetworkPolicyList\nitems: []\n",
		    "x.yaml:1:1: error: NetworkPolicyList: apiVersion \"extensions/v1beta1\" is no longer served");
	expect_fail("top-level array", "x.json", "[{}]",
		    "x.json:1:1: error: document 1: must be a Kubernetes object (a mapping), got a list");
	expect_fail("scalar document", "x.yaml", "hello\n", "document 1: must be a Kubernetes object");
	expect_fail("no kind", "x.yaml", "apiVersion: v1\nmetadata: {name: a}\n",
		    "x.yaml:1:1: error: document 1: object has no kind");
	expect_fail("kind not a string", "x.yaml", "apiVersion: v1\nkind: [Pod]\n",
		    "x.yaml:2:7: error: document 1: kind must be a string");
	expect_fail("no apiVersion", "x.yaml", "kind: Pod\nmetadata: {name: a}\n",
		    "document 1: Pod has no apiVersion");
	expect_fail("List item without kind", "x.yaml",
		    "apiVersion: v1\nkind: List\nitems:\n- metadata: {name: a}\n",
		    "x.yaml:4:3: error: items[0]: object has no kind (items of a List must carry kind");
	expect_fail("PodList item of another kind", "x.yaml",
		    "apiVersion: v1\nkind: PodList\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n",
		    "items[0]: item of a PodList has kind Namespace");
	expect_fail("items not a list", "x.yaml", "apiVersion: v1\nkind: List\nitems: {a: 1}\n",
		    "x.yaml:3:8: error: List: items must be a list");
	expect_fail("list item not an object", "x.yaml", "apiVersion: v1\nkind: List\nitems: [3]\n",
		    "items[0]: must be a Kubernetes object");
	expect_fail("Pod apiVersion", "x.yaml", "apiVersion: v2\nkind: Pod\nmetadata: {name: a}\n",
		    "apiVersion \"v2\" is not served for kind Pod");
	expect_fail("old NetworkPolicy apiVersion", "x.yaml",
		    "apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: a}\n",
		    "apiVersion \"extensions/v1beta1\" of NetworkPolicy is no longer served");
	expect_fail("duplicate in one file", "x.yaml",
		    "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
		    "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
		    "x.yaml:5:1: error: duplicate Namespace a: already defined at x.yaml:1");
	expect_fail("same name in two namespaces is fine, same namespace is not", "x.yaml",
		    "apiVersion: v1\nkind: List\nitems:\n"
		    "- {apiVersion: v1, kind: Pod, metadata: {name: a, namespace: x}}\n"
		    "- {apiVersion: v1, kind: Pod, metadata: {name: a, namespace: y}}\n"
		    "- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n"
		    "- {apiVersion: v1, kind: Pod, metadata: {name: a, namespace: default}}\n",
		    "x.yaml:7:3: error: duplicate Pod default/a: already defined at x.yaml:6");
	expect_fail("a syntax error after valid documents loads nothing", "x.yaml",
		    "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: [\n",
		    "x.yaml:6:1: error: invalid YAML");
	expect_fail("semantic and syntax errors both reported", "x.yaml",
		    "apiVersion: v1\nkind: Namespace\nmetadata: {name: A}\n---\nkind: [\n",
		    "x.yaml:3:18: error: Namespace \"A\": metadata.name: invalid name");
}

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

static void test_paths(void)
{
	struct k8s_load_stats st;
	struct k8s_loader *l;
	struct pol_cluster *c;
	struct k8s_diag d;
	char path[256], sub[256];
	const char *paths[2];
	size_t errors;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/npshim-test-files.XXXXXX");
	if (!mkdtemp(tmpdir))
		abort();
	write_file("b.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n");
	write_file("a.json", "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}}");
	write_file("c.yml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\n");
	write_file("readme.txt", "not a manifest: [");
	write_file(".hidden.yaml", "not: [valid");
	snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
	mkdir(sub, 0755);
	write_file("sub/x.yaml", "broken: [");

	/* Directory: sorted, only manifests, not recursive. */
	k8s_diag_init(&d);
	c = pol_cluster_new();
	l = k8s_loader_new(&d);
	k8s_loader_add_path(l, tmpdir);
	errors = k8s_loader_finish(l, c, &st);
	k8s_loader_free(l);
	T_ASSERT(errors == 0, "directory loads (%zu errors)", errors);
	if (errors)
		dump_diag(&d);
	T_ASSERT(st.files == 3 && c->n_namespaces == 2 && c->n_pods == 1, "three manifests read");
	T_ASSERT(c->n_namespaces == 2 && !strcmp(c->namespaces[0]->name, "a") &&
		 !strcmp(c->namespaces[1]->name, "b"), "read in name order");
	T_ASSERT(k8s_diag_contains(&d, "1 subdirectory not read"), "subdirectory noted");
	pol_cluster_free(c);
	k8s_diag_free(&d);

	/* Duplicate across two paths names both places; nothing loaded. */
	snprintf(path, sizeof(path), "%s/b.yaml", tmpdir);
	write_file("dup.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n");
	paths[0] = path;
	snprintf(sub, sizeof(sub), "%s/dup.yaml", tmpdir);
	paths[1] = sub;
	k8s_diag_init(&d);
	c = pol_cluster_new();
	errors = k8s_files_load(c, paths, 2, &d);
	T_ASSERT(errors == 1 && c->n_namespaces == 0, "duplicate across files refused");
	snprintf(path, sizeof(path), "dup.yaml:1:1: error: duplicate Namespace b: already defined at %s/b.yaml:1",
		 tmpdir);
	T_ASSERT(k8s_diag_contains(&d, path), "both places named");
	if (!k8s_diag_contains(&d, path))
		dump_diag(&d);
	k8s_diag_free(&d);

	/* Loading into a cluster that already has the object. */
	snprintf(path, sizeof(path), "%s/b.yaml", tmpdir);
	paths[0] = path;
	k8s_diag_init(&d);
	errors = k8s_files_load(c, paths, 1, &d);
	T_ASSERT(errors == 0 && c->n_namespaces == 1, "first load");
	errors = k8s_files_load(c, paths, 1, &d);
	T_ASSERT(errors == 1 && c->n_namespaces == 1, "second load of the same object refused");
	T_ASSERT(k8s_diag_contains(&d, "duplicate Namespace b: already loaded from"), "duplicate vs existing");
	pol_cluster_free(c);
	k8s_diag_free(&d);

	/* Missing path, empty directory, non-regular file. */
	k8s_diag_init(&d);
	c = pol_cluster_new();
	snprintf(path, sizeof(path), "%s/nope.yaml", tmpdir);
	paths[0] = path;
	paths[1] = "/dev/null";
	errors = k8s_files_load(c, paths, 2, &d);
	T_ASSERT(errors == 2, "two errors (%zu)", errors);
	T_ASSERT(k8s_diag_contains(&d, "nope.yaml: error: cannot read: No such file or directory"),
		 "missing file");
	T_ASSERT(k8s_diag_contains(&d, "/dev/null: error: not a regular file or directory"),
		 "device refused, never read");
	k8s_diag_free(&d);
	snprintf(sub, sizeof(sub), "%s/empty", tmpdir);
	mkdir(sub, 0755);
	paths[0] = sub;
	k8s_diag_init(&d);
	errors = k8s_files_load(c, paths, 1, &d);
	T_ASSERT(errors == 1 && k8s_diag_contains(&d, "no *.json, *.yaml or *.yml files in this directory"),
		 "empty directory");
	k8s_diag_free(&d);
	pol_cluster_free(c);

	/* Error cap: every error counted, 50 kept. */
	{
		char *text = malloc(100 * 64 + 1);
		size_t o = 0, i;

		for (i = 0; i < 100; i++)
			o += (size_t)sprintf(text + o, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: X%zu}\n", i);
		errors = load_as("many.yaml", text, &c, &d);
		T_ASSERT(errors == 100 && d.n_errors == 100 && d.n_msgs == K8S_DIAG_DEFAULT_MAX &&
			 d.n_dropped == 50, "100 errors counted, 50 kept");
		pol_cluster_free(c);
		k8s_diag_free(&d);
		free(text);
	}
	snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
	if (system(path) != 0)
		printf("could not clean up %s\n", tmpdir);
}

static void test_fixtures(void)
{
	const char *top = getenv("NPSHIM_TOP");
	static const char *const names[] = {
		"namespaces.json", "pods.json", "networkpolicies.json",
	};
	char paths[3][512];
	const char *pp[3];
	struct pol_cluster *c = pol_cluster_new();
	struct k8s_diag d;
	size_t i, errors;
	const struct pol_pod *pending = NULL, *done = NULL, *proxy = NULL;

	for (i = 0; i < 3; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/test/data/k8s/%s", top ? top : ".", names[i]);
		pp[i] = paths[i];
	}
	k8s_diag_init(&d);
	errors = k8s_files_load(c, pp, 3, &d);
	T_ASSERT(errors == 0, "API server lists load (%zu errors)", errors);
	if (errors)
		dump_diag(&d);
	T_ASSERT(c->n_namespaces == 7 && c->n_pods == 15 && c->n_policies == 6, "7/15/6 objects");
	for (i = 0; i < c->n_pods; i++) {
		if (!strcmp(c->pods[i]->name, "api-7c9d8f6b5-pn4rc"))
			pending = c->pods[i];
		if (!strcmp(c->pods[i]->name, "db-migrate-29370240-6vwpj"))
			done = c->pods[i];
		if (!strcmp(c->pods[i]->name, "kube-proxy-8hj2k"))
			proxy = c->pods[i];
	}
	T_ASSERT(pending && pending->phase == POL_PHASE_PENDING && pending->n_ips == 0 &&
		 !pending->node_name, "Pending pod: no IP, no node");
	T_ASSERT(done && done->phase == POL_PHASE_SUCCEEDED && done->n_ips == 1, "Succeeded pod keeps its IP");
	T_ASSERT(done && done->owner_kind && !strcmp(done->owner_kind, "Job"), "owner of the Job pod");
	T_ASSERT(proxy && proxy->host_network && proxy->n_ips == 1 && proxy->has_host_ip &&
		 !memcmp(&proxy->ips[0], &proxy->host_ip, sizeof(proxy->host_ip)),
		 "hostNetwork pod has the node's IP");
	pol_cluster_free(c);
	k8s_diag_free(&d);

	/* The same cluster as kubectl get -A -o yaml. */
	c = pol_cluster_new();
	snprintf(paths[0], sizeof(paths[0]), "%s/test/data/k8s/kubectl-get-all.yaml", top ? top : ".");
	k8s_diag_init(&d);
	errors = k8s_files_load(c, pp, 1, &d);
	T_ASSERT(errors == 0 && c->n_namespaces == 7 && c->n_pods == 15 && c->n_policies == 6,
		 "kubectl -o yaml List loads");
	pol_cluster_free(c);
	k8s_diag_free(&d);

	c = pol_cluster_new();
	snprintf(paths[0], sizeof(paths[0]), "%s/test/data/k8s/manifests", top ? top : ".");
	k8s_diag_init(&d);
	errors = k8s_files_load(c, pp, 1, &d);
	T_ASSERT(errors == 0 && c->n_namespaces == 3 && c->n_pods == 3 && c->n_policies == 4,
		 "hand-written manifests directory loads");
	T_ASSERT(k8s_diag_contains(&d, "skipped 1 object of kinds npshim does not use (Deployment)"),
		 "skipped kinds noted");
	pol_cluster_free(c);
	k8s_diag_free(&d);
}

int main(void)
{
	test_json_parser();
	test_yaml_parser();
	test_shapes();
	test_paths();
	test_fixtures();
	return T_REPORT();
}
