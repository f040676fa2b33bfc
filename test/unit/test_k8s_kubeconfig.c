/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_k8s_kubeconfig.c - kubeconfig/in-cluster resolution, flags, base64. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8s/kubeconfig.h"
#include "test/unit/test.h"

static char tmpdir[] = "/tmp/npshim-kc-XXXXXX";

static const char *fixture(const char *name)
{
	static char buf[4096];
	const char *top = getenv("NPSHIM_TOP");

	snprintf(buf, sizeof(buf), "%s/test/data/k8s-fixtures/kubeconfig/%s", top ? top : ".",
		 name);
	return buf;
}

static void write_file(const char *name, const char *text)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static struct k8s_conn *resolve(const char *kubeconfig, const char *context, char *err,
				size_t errlen)
{
	struct k8s_conn_opts o = { .kubeconfig = kubeconfig, .context = context };
	struct k8s_conn *c = NULL;

	err[0] = '\0';
	if (k8s_conn_resolve(&o, &c, err, errlen) < 0)
		return NULL;
	return c;
}

static void test_samples(void)
{
	static const char *const files[] = { "sample-multi-context.yaml",
					     "sample-multi-context.json" };
	char err[1024], path[4200];

	for (size_t i = 0; i < 2; i++) {
		struct k8s_conn *c;

		/* The copy lives in tmpdir, so relative paths resolve there. */
		snprintf(path, sizeof(path), "%s", fixture(files[i]));
		c = resolve(path, NULL, err, sizeof(err));
		T_ASSERT(c != NULL, "%s loads: %s", files[i], err);
		if (!c)
			continue;
		T_ASSERT(strcmp(c->server, "https://127.0.0.1:6443") == 0,
			 "%s: current-context kind-netpol, not the first entry (%s)", files[i], c->server);
		T_ASSERT(c->ns && strcmp(c->ns, "production") == 0, "%s: context namespace", files[i]);
		T_ASSERT(c->ca_pem && strstr(c->ca_pem, "BEGIN CERTIFICATE") && !c->ca_file,
			 "%s: certificate-authority-data decoded", files[i]);
		T_ASSERT(c->cert_pem && strstr(c->cert_pem, "BEGIN CERTIFICATE") && c->key_pem &&
				 strstr(c->key_pem, "PRIVATE KEY"),
			 "%s: client cert and key data decoded", files[i]);
		T_ASSERT(!c->token && !c->token_file && !c->insecure, "%s: no token, verified TLS",
			 files[i]);
		k8s_conn_free(c);

		c = resolve(path, "staging", err, sizeof(err));
		T_ASSERT(c != NULL, "%s --context staging: %s", files[i], err);
		if (c) {
			T_ASSERT(strcmp(c->server,
					"https://api.staging.example.internal:6443/k8s/clusters/c-m-7x2lq") == 0,
				 "%s: server with a path prefix kept", files[i]);
			T_ASSERT(c->tls_server_name &&
					 strcmp(c->tls_server_name, "kubernetes.default.svc") == 0,
				 "%s: tls-server-name", files[i]);
			T_ASSERT(c->token_file && strcmp(c->token_file, "/var/run/secrets/netpol/token") == 0,
				 "%s: tokenFile (camelCase)", files[i]);
			T_ASSERT(c->ca_file && strstr(c->ca_file, "/kubeconfig/../certs/ca.crt"),
				 "%s: relative certificate-authority resolved against the file's directory (%s)",
				 files[i], c->ca_file ? c->ca_file : "(null)");
			k8s_conn_free(c);
		}
		c = resolve(path, "aaa-first-but-not-current", err, sizeof(err));
		T_ASSERT(c && c->insecure && c->token && strcmp(c->token, "must-not-be-used") == 0,
			 "%s: insecure-skip-tls-verify and token of another context", files[i]);
		k8s_conn_free(c);
		c = resolve(path, "nope", err, sizeof(err));
		T_ASSERT(!c && strstr(err, "context \"nope\" not found"), "%s: unknown context: %s",
			 files[i], err);
		k8s_conn_free(c);
	}
}

static void test_errors(void)
{
	char err[1024], path[4200];
	struct k8s_conn *c;

	write_file("exec.yaml",
		   "apiVersion: v1\nkind: Config\ncurrent-context: e\n"
		   "clusters:\n- name: c\n  cluster: {server: 'https://10.0.0.1:6443'}\n"
		   "users:\n- name: u\n  user:\n    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1}\n"
		   "contexts:\n- name: e\n  context: {cluster: c, user: u}\n");
	snprintf(path, sizeof(path), "%s/exec.yaml", tmpdir);
	c = resolve(path, NULL, err, sizeof(err));
	T_ASSERT(!c && strstr(err, "'exec'") && strstr(err, "exec.yaml"),
		 "exec user refused with a clear message: %s", err);
	k8s_conn_free(c);

	write_file("both.yaml",
		   "apiVersion: v1\ncurrent-context: x\n"
		   "clusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\n"
		   "    insecure-skip-tls-verify: true\n    certificate-authority: /etc/ca.crt\n"
		   "users:\n- name: u\n  user: {token: abc}\n"
		   "contexts:\n- name: x\n  context: {cluster: c, user: u}\n");
	snprintf(path, sizeof(path), "%s/both.yaml", tmpdir);
	c = resolve(path, NULL, err, sizeof(err));
	T_ASSERT(!c && strstr(err, "insecure-skip-tls-verify"),
		 "CA together with insecure-skip-tls-verify refused: %s", err);
	k8s_conn_free(c);

	write_file("nocur.yaml", "apiVersion: v1\nclusters: []\ncontexts: []\nusers: []\n");
	snprintf(path, sizeof(path), "%s/nocur.yaml", tmpdir);
	c = resolve(path, NULL, err, sizeof(err));
	T_ASSERT(!c && strstr(err, "no context chosen"), "empty current-context: %s", err);
	k8s_conn_free(c);

	write_file("bad.yaml", "apiVersion: v1\nclusters: [\n  - name: x\n");
	snprintf(path, sizeof(path), "%s/bad.yaml", tmpdir);
	c = resolve(path, NULL, err, sizeof(err));
	T_ASSERT(!c && strstr(err, "bad.yaml:"), "YAML syntax error names file:line: %s", err);
	k8s_conn_free(c);

	write_file("b64.yaml",
		   "current-context: x\nclusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
		   "    certificate-authority-data: 'not base64 !'\n"
		   "contexts:\n- name: x\n  context: {cluster: c}\n");
	snprintf(path, sizeof(path), "%s/b64.yaml", tmpdir);
	c = resolve(path, NULL, err, sizeof(err));
	T_ASSERT(!c && strstr(err, "base64"), "bad certificate-authority-data: %s", err);
	k8s_conn_free(c);

	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	c = resolve(path, NULL, err, sizeof(err));
	T_ASSERT(!c && strstr(err, "missing.yaml"), "missing file named: %s", err);
	k8s_conn_free(c);
}

/* $KUBECONFIG lists merge per kubectl: the first current-context and the
 * first definition of a name win; missing files in a list are skipped. */
static void test_merge(void)
{
	char err[1024], list[9000];
	struct k8s_conn *c;

	write_file("a.yaml", "current-context: second\n"
			     "clusters:\n- name: c1\n  cluster: {server: 'https://first:1'}\n");
	write_file("b.yaml", "current-context: ignored\n"
			     "clusters:\n- name: c1\n  cluster: {server: 'https://shadowed:1'}\n"
			     "- name: c2\n  cluster: {server: 'https://second:2'}\n"
			     "users:\n- name: u\n  user: {tokenFile: tok}\n"
			     "contexts:\n- name: second\n  context: {cluster: c1, user: u}\n");
	snprintf(list, sizeof(list), "%s/a.yaml:%s/nonexistent.yaml:%s/b.yaml", tmpdir, tmpdir,
		 tmpdir);
	c = resolve(list, NULL, err, sizeof(err));
	T_ASSERT(c != NULL, "merged list resolves: %s", err);
	if (c) {
		T_ASSERT(strcmp(c->server, "https://first:1") == 0, "first definition wins (%s)",
			 c->server);
		T_ASSERT(c->token_file && strstr(c->token_file, tmpdir) &&
				 strstr(c->token_file, "/tok"),
			 "tokenFile relative to the file defining the user (%s)", c->token_file);
		k8s_conn_free(c);
	}
}

static void test_in_cluster(void)
{
	struct k8s_conn_opts o = { .sa_dir = tmpdir };
	struct k8s_conn *c = NULL;
	char err[1024];

	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	T_ASSERT(k8s_conn_resolve(&o, &c, err, sizeof(err)) < 0 && strstr(err, "token"),
		 "in-cluster without a token file: %s", err);
	write_file("token", "abc\n");
	write_file("ca.crt", "-----BEGIN CERTIFICATE-----\n");
	write_file("namespace", "kube-system\n");
	T_ASSERT(k8s_conn_resolve(&o, &c, err, sizeof(err)) == 0, "in-cluster: %s", err);
	if (c) {
		T_ASSERT(strcmp(c->server, "https://[fd00::1]:443") == 0, "IPv6 host bracketed (%s)",
			 c->server);
		T_ASSERT(c->ns && strcmp(c->ns, "kube-system") == 0, "namespace file read");
		T_ASSERT(c->token_file && strstr(c->token_file, "/token") && !c->token,
			 "token is read from the file by the transport, not cached here");
		k8s_conn_free(c);
	}
	unsetenv("KUBERNETES_SERVICE_HOST");
	c = NULL;
	T_ASSERT(k8s_conn_resolve(&o, &c, err, sizeof(err)) < 0 &&
			 strstr(err, "KUBERNETES_SERVICE_HOST"),
		 "in-cluster outside a pod: %s", err);
	unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_flags(void)
{
	char *argv[] = { "x", "--kubeconfig", "/k", "--context=dev", "--in-cluster", "--other",
			 "--sa-dir", NULL };
	struct k8s_conn_opts o = { 0 };
	char err[256];
	int i = 1;

	T_ASSERT(k8s_conn_opts_arg(&o, 7, argv, &i, err, sizeof(err)) == 1 && i == 3 &&
			 strcmp(o.kubeconfig, "/k") == 0,
		 "--kubeconfig F");
	T_ASSERT(k8s_conn_opts_arg(&o, 7, argv, &i, err, sizeof(err)) == 1 && i == 4 &&
			 strcmp(o.context, "dev") == 0,
		 "--context=V");
	T_ASSERT(k8s_conn_opts_arg(&o, 7, argv, &i, err, sizeof(err)) == 1 && o.in_cluster,
		 "--in-cluster");
	T_ASSERT(k8s_conn_opts_arg(&o, 7, argv, &i, err, sizeof(err)) == 0 && i == 5,
		 "foreign flag left alone");
	i = 6;
	T_ASSERT(k8s_conn_opts_arg(&o, 7, argv, &i, err, sizeof(err)) == -1 && strstr(err, "--sa-dir"),
		 "missing value: %s", err);
	T_ASSERT(o.given, "given set");
}

static void test_base64(void)
{
	size_t n;
	char *s = k8s_base64_decode("aGVs\nbG8=", &n);

	T_ASSERT(s && n == 5 && strcmp(s, "hello") == 0, "base64 with newline and padding");
	free(s);
	s = k8s_base64_decode("aGVsbG8", &n);
	T_ASSERT(s && n == 5, "base64 without padding");
	free(s);
	T_ASSERT(k8s_base64_decode("a", &n) == NULL, "one char is not base64");
	T_ASSERT(k8s_base64_decode("aG=Vs", &n) == NULL, "data after padding refused");
	T_ASSERT(k8s_base64_decode("a-b_", &n) == NULL, "url alphabet refused");
}

int main(void)
{
	char cmd[256];
	int rc;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_samples();
	test_errors();
	test_merge();
	test_in_cluster();
	test_flags();
	test_base64();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	rc = T_REPORT();
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}
