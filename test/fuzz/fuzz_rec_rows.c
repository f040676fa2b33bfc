/* SPDX-License-Identifier: Apache-2.0 */
/* test/fuzz/fuzz_rec_rows.c - libFuzzer target: recorded rows -> recommendation -> proof.
 *
 * The input is split at newlines; every 12 lines are the text columns of a
 * flow row (src ns, kind, name, ips, pods, labels, then the same for dst),
 * and the byte lengths give protocol and port. Rows that pass the CLI's
 * validation are merged, resolved against a small fixed cluster (gone pods
 * are rebuilt), and recommended for. Invariants: a refused row has a
 * message; the recommended objects load back without a single error; and
 * the proof holds: every used observation is allowed by cluster + output.
 * The fixture's policy has a rule: a model whose policies have none at all
 * trips UBSan in policy/model.c (NULL + 0 for the rule array), reported to
 * the engine's owner; this target is about recommend.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "audit/recommend.h"
#include "audit/replay.h"
#include "cli/rec_cli.h"
#include "k8s/diag.h"
#include "k8s/files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cluster_json[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":["
	"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}},"
	"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"b\"}},"
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\",\"namespace\":\"a\","
	"\"labels\":{\"app\":\"web\"}},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.1\"}},"
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-2\",\"namespace\":\"a\","
	"\"labels\":{\"app\":\"web\"}},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.2\"}},"
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"db-0\",\"namespace\":\"b\","
	"\"labels\":{\"app\":\"db\",\"tier\":\"data\"}},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.1.1\"}},"
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"bare\",\"namespace\":\"b\"},"
	"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.1.2\"}},"
	"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"deny\","
	"\"namespace\":\"b\"},\"spec\":{\"podSelector\":{},\"policyTypes\":[\"Ingress\",\"Egress\"],"
	"\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"app\":\"db\"}}}]}]}}"
	"]}";

static struct pol_cluster *load(const char *name, const char *text)
{
	struct pol_cluster *c = pol_cluster_new();
	struct k8s_diag d;
	size_t errs;

	if (!c)
		return NULL;
	k8s_diag_init(&d);
	errs = k8s_load_buffer(name, text, strlen(text), K8S_FORMAT_JSON, c, &d);
	k8s_diag_free(&d);
	if (errs) {
		pol_cluster_free(c);
		return NULL;
	}
	return c;
}

static void check(const struct audit_obs_set *obs)
{
	struct pol_cluster *cur = load("cluster", cluster_json), *ghosts = pol_cluster_new(), *base;
	struct rec_opts opts = { .cidr_prefix = 24, .cidr_prefix6 = 64 };
	struct pol_model *m = NULL, *proof = NULL;
	struct rec_result res = { 0 };
	struct rec_cover *cover = NULL;
	char err[256];
	size_t pairs;

	if (!cur)
		__builtin_trap(); /* the fixture itself must load */
	if (!ghosts)
		goto out;
	m = pol_model_build(pol_cluster_clone(cur), NULL, err, sizeof(err));
	if (!m || audit_obs_resolve((struct audit_obs_set *)obs, m, ghosts) < 0)
		goto out;
	pol_model_free(m);
	base = pol_cluster_clone(cur);
	if (!base)
		goto out;
	{
		struct pol_cluster *g = pol_cluster_clone(ghosts);

		if (!g || pol_cluster_merge(base, g) < 0) {
			pol_cluster_free(g);
			pol_cluster_free(base);
			m = NULL;
			goto out;
		}
		pol_cluster_free(g);
	}
	{
		struct pol_cluster *proof_cl = pol_cluster_clone(base);

		m = pol_model_build(base, NULL, err, sizeof(err));
		if (!m || !proof_cl || rec_build(m, obs, cur, &opts, &res) < 0) {
			pol_cluster_free(proof_cl);
			goto out;
		}
		{
			cJSON *list = cJSON_CreateObject(), *items;
			struct k8s_diag d;
			char *text;
			size_t errs;

			cJSON_AddStringToObject(list, "apiVersion", "v1");
			cJSON_AddStringToObject(list, "kind", "List");
			items = cJSON_AddArrayToObject(list, "items");
			for (size_t i = 0; i < res.n_policies; i++)
				cJSON_AddItemToArray(items, rec_policy_json(&res.policies[i]));
			text = cJSON_PrintUnformatted(list);
			cJSON_Delete(list);
			if (!text) {
				pol_cluster_free(proof_cl);
				goto out;
			}
			k8s_diag_init(&d);
			errs = k8s_load_buffer("recommended", text, strlen(text), K8S_FORMAT_JSON, proof_cl, &d);
			k8s_diag_free(&d);
			free(text);
			if (errs)
				__builtin_trap(); /* what recommend writes must load */
		}
		proof = pol_model_build(proof_cl, NULL, err, sizeof(err));
		if (!proof)
			__builtin_trap(); /* the proof model must build */
	}
	cover = calloc(obs->n + 1, sizeof(*cover));
	if (cover && rec_prove(proof, obs, &res, 0, cover, &pairs) != 0)
		__builtin_trap(); /* every used observation is covered */
out:
	free(cover);
	rec_result_free(&res);
	pol_model_free(proof);
	pol_model_free(m);
	pol_cluster_free(ghosts);
	pol_cluster_free(cur);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *lines[12];
	struct audit_obs_set obs = { 0 };
	char *p;
	size_t n = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	p = text;
	while (p && obs.n < 32) {
		char *nl = strchr(p, '\n');
		struct audit_obs_row r;
		char err[256] = "";

		if (nl)
			*nl = '\0';
		lines[n++] = p;
		p = nl ? nl + 1 : NULL;
		if (n < 12)
			continue;
		n = 0;
		memset(&r, 0, sizeof(r));
		r.src_ns = lines[0], r.src_kind = lines[1], r.src_name = lines[2];
		r.src_ips = lines[3], r.src_pods = lines[4], r.src_labels = lines[5];
		r.dst_ns = lines[6], r.dst_kind = lines[7], r.dst_name = lines[8];
		r.dst_ips = lines[9], r.dst_pods = lines[10], r.dst_labels = lines[11];
		switch (strlen(lines[4]) % 4) {
		case 0:
			r.proto = 6;
			break;
		case 1:
			r.proto = 17;
			break;
		case 2:
			r.proto = 1;
			break;
		default:
			r.proto = 132;
		}
		r.port = r.proto == 1 ? 0 : (uint16_t)(1 + strlen(lines[10]) * 7);
		r.verdict = (int)(strlen(lines[2]) % 3);
		r.mode = (int)(strlen(lines[8]) % 2);
		r.count = 1 + strlen(lines[3]) % 5;
		r.first_ms = 1764345600000LL;
		r.last_ms = r.first_ms + (int64_t)strlen(lines[9]) * 1000;
		if (!rec_cli_row_valid(&r, err, sizeof(err))) {
			if (!err[0])
				__builtin_trap();
			continue;
		}
		if (!audit_obs_add_row(&obs, &r, err, sizeof(err)) && !err[0])
			__builtin_trap();
	}
	audit_obs_set_sort(&obs);
	if (obs.n)
		check(&obs);
	audit_obs_set_free(&obs);
	free(text);
	return 0;
}
