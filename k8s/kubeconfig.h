/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/kubeconfig.h - where the API server is and how to authenticate to it.
 *
 * Two sources, as client-go: the pod's service account (in-cluster) and
 * kubeconfig files (YAML or JSON, $KUBECONFIG merged per kubectl rules).
 * The result is a struct k8s_conn, owned by the caller and freed with
 * k8s_conn_free(). Tokens are not read here once and for all: the transport
 * (k8s/api.h) re-reads token files, so rotation works.
 */
#ifndef NPSHIM_K8S_KUBECONFIG_H
#define NPSHIM_K8S_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define K8S_SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"

/* The shared command-line flags. Strings are borrowed (usually argv) and
 * must outlive every use of the struct. Zero-initialise.
 *
 * Which source is used:
 *   --in-cluster or --sa-dir   the service account (KUBERNETES_SERVICE_HOST
 *                              and _PORT, token/ca.crt in the sa dir)
 *   --kubeconfig FILE          that file
 *   otherwise                  $KUBECONFIG, else in-cluster when
 *                              KUBERNETES_SERVICE_HOST is set, else
 *                              ~/.kube/config
 * --context picks a context other than current-context (kubeconfig only). */
struct k8s_conn_opts {
	const char *kubeconfig;
	const char *context;
	const char *sa_dir;
	bool in_cluster;
	bool given; /* any of the flags above was on the command line */
};

/* One flag of argv at *idx: "--kubeconfig F", "--kubeconfig=F", "--context",
 * "--sa-dir", "--in-cluster". Returns 1 when it was one of ours (*idx is
 * advanced past its value), 0 when it is not ours (untouched), -1 on a
 * missing value (message in err). For commands that walk argv by hand. */
int k8s_conn_opts_arg(struct k8s_conn_opts *o, int argc, char **argv, int *idx,
		      char *err, size_t errlen);

/* For getopt_long users: add K8S_CONN_LONGOPTS to the option table and pass
 * every returned value to k8s_conn_opts_getopt(); it returns true when the
 * value was one of ours (optarg is borrowed). Values are >= 0x4b00 so they
 * do not collide with short options. */
enum {
	K8S_OPT_KUBECONFIG = 0x4b00,
	K8S_OPT_CONTEXT,
	K8S_OPT_SA_DIR,
	K8S_OPT_IN_CLUSTER,
};
#define K8S_CONN_LONGOPTS                                                 \
	{ "kubeconfig", required_argument, NULL, K8S_OPT_KUBECONFIG },    \
	{ "context", required_argument, NULL, K8S_OPT_CONTEXT },          \
	{ "sa-dir", required_argument, NULL, K8S_OPT_SA_DIR },            \
	{ "in-cluster", no_argument, NULL, K8S_OPT_IN_CLUSTER }
bool k8s_conn_opts_getopt(struct k8s_conn_opts *o, int opt, const char *optarg);

/* Help text for the flags above, for a command's --help. */
#define K8S_CONN_USAGE                                                          \
	"  --kubeconfig FILE  kubeconfig file(s), ':'-separated (default $KUBECONFIG)\n" \
	"  --context NAME     kubeconfig context (default current-context)\n"           \
	"  --in-cluster       use the pod's service account\n"                          \
	"  --sa-dir DIR       service-account directory (default\n"                      \
	"                     " K8S_SA_DIR_DEFAULT ")\n"

/* A resolved connection. Every member is owned by the struct. Either a
 * *_file or the matching PEM blob is set, never both. */
struct k8s_conn {
	char *server;          /* https://host:port[/prefix], no trailing '/' */
	char *ca_file;
	char *ca_pem;
	size_t ca_pem_len;
	char *cert_file;
	char *cert_pem;
	size_t cert_pem_len;
	char *key_file;
	char *key_pem;
	size_t key_pem_len;
	char *token;           /* static bearer token, may be NULL */
	char *token_file;      /* re-read by the transport; wins over token */
	bool insecure;         /* insecure-skip-tls-verify */
	char *tls_server_name; /* name to verify instead of the URL's host */
	char *ns;              /* context namespace / sa namespace, may be NULL */
	char *source;          /* "in-cluster (DIR)" or "kubeconfig F, context C" */
};

/* Resolve opts into a connection. 0 and *out set, or -1 with a message
 * naming the file and the entry in err (nothing allocated). */
int k8s_conn_resolve(const struct k8s_conn_opts *opts, struct k8s_conn **out,
		     char *err, size_t errlen);
void k8s_conn_free(struct k8s_conn *c);

/* Parse one kubeconfig file's text (YAML or JSON) into a cJSON tree owned by
 * the caller. NULL with a message (line:column for YAML) in err. name is
 * used in messages only. */
cJSON *k8s_kubeconfig_parse(const char *text, size_t len, const char *name,
			    char *err, size_t errlen);

/* Standard base64 (padding optional, whitespace ignored) into a fresh NUL-
 * terminated buffer; NULL when text is not base64. *len_out excludes the
 * NUL. */
char *k8s_base64_decode(const char *text, size_t *len_out);

#endif
