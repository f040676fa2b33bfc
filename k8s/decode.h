/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/decode.h - one Kubernetes object (a cJSON tree) into the policy model.
 *
 * Decodes v1 Namespace, v1 Pod and networking.k8s.io/v1 NetworkPolicy into
 * the structs of policy/objects.h, validating the way the API server does
 * (NetworkPolicy, label and name validation) and applying its defaults
 * (protocol TCP, policyTypes, metadata.namespace "default", the namespace
 * label kubernetes.io/metadata.name). Fields npshim does not use are ignored;
 * every field it reads is type-checked. Errors name the object (kind
 * ns/name), the field path (spec.ingress[0].from[1].ipBlock.except[0]) and,
 * with a position map, the line and column of the offending value. All
 * errors of an object are reported, not only the first.
 *
 * Pure: no I/O, no globals. Used by the file loader (k8s/files.c) and the
 * API watch client alike.
 */
#ifndef NPSHIM_K8S_DECODE_H
#define NPSHIM_K8S_DECODE_H

#include <stdbool.h>

#include "policy/objects.h"

struct cJSON;
struct k8s_pos_map;
struct k8s_diag;

enum k8s_kind {
	K8S_KIND_OTHER,
	K8S_KIND_NAMESPACE,
	K8S_KIND_POD,
	K8S_KIND_NETWORKPOLICY,
};

/* The annotation that stages a policy (audit only) and its one value. */
#define K8S_MODE_ANNOTATION "npshim.io/mode"
#define K8S_MODE_AUDIT "audit"

/* Kind of obj from kind + apiVersion (v1 Namespace, v1 Pod,
 * networking.k8s.io/v1 NetworkPolicy; anything else is OTHER). An object
 * without a "kind" member is list_default: items of a PodList-style list
 * carry no kind (pass K8S_KIND_OTHER when there is no such list). */
enum k8s_kind k8s_kind_of(const struct cJSON *obj, enum k8s_kind list_default);
/* "Namespace", "Pod", "NetworkPolicy", or "object". */
const char *k8s_kind_name(enum k8s_kind kind);

/* Decode obj as kind and append it to into. origin_name names the source in
 * messages and in the object's origin ("FILE:LINE" when pos knows obj's
 * line, else origin_name itself), e.g. a file path or "api". pos may be
 * NULL. Returns 0 when the object was added, 1 when kind is
 * K8S_KIND_OTHER (nothing done), -1 when it is invalid (every problem
 * reported to diag; nothing added) or on ENOMEM (errno set, reported). */
int k8s_decode_object(const struct cJSON *obj, enum k8s_kind kind,
		      struct pol_cluster *into, const struct k8s_pos_map *pos,
		      struct k8s_diag *diag, const char *origin_name);

/* The same, one kind each, returning a new object owned by the caller
 * (pol_*_free), or NULL after reporting to diag (errno ENOMEM or EINVAL). */
struct pol_namespace *k8s_decode_namespace(const struct cJSON *obj,
					   const struct k8s_pos_map *pos,
					   struct k8s_diag *diag, const char *origin_name);
struct pol_pod *k8s_decode_pod(const struct cJSON *obj, const struct k8s_pos_map *pos,
			       struct k8s_diag *diag, const char *origin_name);
struct pol_policy *k8s_decode_policy(const struct cJSON *obj, const struct k8s_pos_map *pos,
				     struct k8s_diag *diag, const char *origin_name);

/* Kubernetes name rules. NULL when s is valid, else why not (static text). */
const char *k8s_check_dns1123_label(const char *s);     /* namespace names */
const char *k8s_check_dns1123_subdomain(const char *s); /* pod, policy names */
const char *k8s_check_label_key(const char *s);         /* [prefix/]name */
const char *k8s_check_label_value(const char *s);
const char *k8s_check_port_name(const char *s);         /* IANA_SVC_NAME */

#endif
