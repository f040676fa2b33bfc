/* SPDX-License-Identifier: Apache-2.0 */
/* policy/objects.h - decoded Namespace, Pod and NetworkPolicy objects.
 *
 * Plain data, filled by a cluster source (k8s/ file loader, API watch) and
 * handed to pol_model_build(). Ownership: a struct pol_cluster owns every
 * object appended to it, and every string and array inside those objects
 * (all heap allocated). pol_cluster_free() releases the whole graph.
 * Nothing here does I/O.
 */
#ifndef NPSHIM_POLICY_OBJECTS_H
#define NPSHIM_POLICY_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every address is 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), so
 * one trie and one hash serve both families. */
struct pol_ip {
	uint8_t b[16];
};

/* len counts bits of the 16-byte form: an IPv4 /24 is stored as len 120. */
struct pol_cidr {
	struct pol_ip addr; /* host bits cleared */
	uint8_t len;
	bool v4;
};

enum pol_proto {
	POL_PROTO_ICMP = 1,
	POL_PROTO_TCP = 6,
	POL_PROTO_UDP = 17,
	POL_PROTO_ICMPV6 = 58,
	POL_PROTO_SCTP = 132,
};

struct pol_label {
	char *key;
	char *value;
};

/* Sorted by key, keys unique. */
struct pol_labels {
	struct pol_label *items;
	size_t n;
};

enum pol_sel_op {
	POL_SEL_IN,
	POL_SEL_NOT_IN,
	POL_SEL_EXISTS,
	POL_SEL_DOES_NOT_EXIST,
};

struct pol_sel_expr {
	char *key;
	enum pol_sel_op op;
	char **values;
	size_t n_values;
};

/* A LabelSelector. An empty one ({}) selects everything. */
struct pol_selector {
	struct pol_labels match_labels;
	struct pol_sel_expr *exprs;
	size_t n_exprs;
};

struct pol_ipblock {
	struct pol_cidr cidr;
	struct pol_cidr *except;
	size_t n_except;
};

/* A NetworkPolicyPeer. NULL members are absent in the object. With both
 * selectors absent and no ipBlock the peer is invalid (the loader rejects it).
 * pod_sel alone: pods of the policy's namespace; ns_sel alone: all pods of
 * matching namespaces; both: AND. */
struct pol_peer {
	struct pol_selector *pod_sel;
	struct pol_selector *ns_sel;
	struct pol_ipblock *ipblock;
};

/* A NetworkPolicyPort. has_port false = every port of the protocol. */
struct pol_port {
	uint8_t proto; /* enum pol_proto; the loader applies the TCP default */
	bool has_port;
	uint16_t port;   /* when has_port && !name */
	char *name;      /* named port, NULL for a number */
	uint16_t end_port; /* 0 = no range; else >= port, never with a name */
};

/* An ingress or egress rule. n_peers == 0: every peer; n_ports == 0: every
 * port and protocol (ICMP included). */
struct pol_rule {
	struct pol_peer *peers;
	size_t n_peers;
	struct pol_port *ports;
	size_t n_ports;
};

struct pol_namespace {
	char *name;
	struct pol_labels labels;
	char *origin; /* "file:line" or "api", for messages; may be NULL */
};

struct pol_container_port {
	char *name; /* may be NULL */
	uint16_t port;
	uint8_t proto;
};

enum pol_pod_phase {
	POL_PHASE_UNKNOWN,
	POL_PHASE_PENDING,
	POL_PHASE_RUNNING,
	POL_PHASE_SUCCEEDED,
	POL_PHASE_FAILED,
};

struct pol_pod {
	char *ns;
	char *name;
	struct pol_labels labels;
	char *node_name;       /* spec.nodeName, may be NULL */
	bool host_network;
	enum pol_pod_phase phase;
	struct pol_ip *ips;    /* status.podIPs, else status.podIP */
	size_t n_ips;
	bool has_host_ip;
	struct pol_ip host_ip; /* status.hostIP */
	struct pol_container_port *ports;
	size_t n_ports;
	char *owner_kind;      /* controller ownerReference, may be NULL */
	char *owner_name;
	char *origin;
};

struct pol_policy {
	char *ns;
	char *name;
	struct pol_selector pod_sel;
	bool type_ingress; /* policyTypes after API defaulting */
	bool type_egress;
	struct pol_rule *ingress;
	size_t n_ingress;
	struct pol_rule *egress;
	size_t n_egress;
	/* annotation npshim.io/mode: audit. Evaluated, never enforced. */
	bool staged;
	char *origin;
};

struct pol_cluster {
	struct pol_namespace **namespaces;
	size_t n_namespaces;
	struct pol_pod **pods;
	size_t n_pods;
	struct pol_policy **policies;
	size_t n_policies;
};

/* Allocation failure in any of these returns NULL / -1 with errno = ENOMEM
 * and leaves the cluster unchanged. */
struct pol_cluster *pol_cluster_new(void);
void pol_cluster_free(struct pol_cluster *c);
/* Take ownership of obj (also on failure, where it is freed). 0 or -1. */
int pol_cluster_add_namespace(struct pol_cluster *c, struct pol_namespace *obj);
int pol_cluster_add_pod(struct pol_cluster *c, struct pol_pod *obj);
int pol_cluster_add_policy(struct pol_cluster *c, struct pol_policy *obj);
/* Move every object of src into dst; src is left empty. 0 or -1. */
int pol_cluster_merge(struct pol_cluster *dst, struct pol_cluster *src);
/* Deep copy; NULL on ENOMEM. */
struct pol_cluster *pol_cluster_clone(const struct pol_cluster *c);

void pol_namespace_free(struct pol_namespace *ns);
void pol_pod_free(struct pol_pod *pod);
void pol_policy_free(struct pol_policy *pol);
void pol_selector_clear(struct pol_selector *sel);
void pol_labels_clear(struct pol_labels *labels);

/* Insert or replace key (copied). Keeps the array sorted. 0 or -1. */
int pol_labels_set(struct pol_labels *labels, const char *key, const char *value);
/* Borrowed value, or NULL when the key is absent. */
const char *pol_labels_get(const struct pol_labels *labels, const char *key);

bool pol_selector_matches(const struct pol_selector *sel, const struct pol_labels *labels);

/* Text forms. Parsing accepts what the API server accepts: a CIDR may have
 * host bits set ("10.42.1.1/4" is 0.0.0.0/4). Return true on success. */
bool pol_ip_parse(const char *text, struct pol_ip *out);
bool pol_cidr_parse(const char *text, struct pol_cidr *out);
bool pol_ip_is_v4(const struct pol_ip *ip);
bool pol_cidr_contains(const struct pol_cidr *cidr, const struct pol_ip *ip);
/* Write into buf (>= POL_IP_STRLEN / POL_CIDR_STRLEN bytes). Returns buf. */
#define POL_IP_STRLEN 46
#define POL_CIDR_STRLEN 50
char *pol_ip_format(const struct pol_ip *ip, char *buf, size_t len);
char *pol_cidr_format(const struct pol_cidr *cidr, char *buf, size_t len);

/* "TCP"/"UDP"/"SCTP"/"ICMP"/"ICMPv6"; NULL for anything else. */
const char *pol_proto_name(uint8_t proto);
/* Inverse of pol_proto_name, case-sensitive as the API. 0 when unknown.
 * Policy ports accept only TCP, UDP and SCTP; the caller checks that. */
uint8_t pol_proto_parse(const char *name);

#endif
