/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/diag.c - collected diagnostics of the cluster sources. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/diag.h"

void k8s_diag_init(struct k8s_diag *d)
{
	memset(d, 0, sizeof(*d));
}

void k8s_diag_free(struct k8s_diag *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n_msgs; i++)
		free(d->msgs[i].text);
	free(d->msgs);
	d->msgs = NULL;
	d->n_msgs = d->cap_msgs = 0;
	d->n_errors = d->n_notes = d->n_dropped = 0;
	d->kept_errors = d->kept_notes = 0;
}

static void diag_add(struct k8s_diag *d, enum k8s_diag_sev sev, const char *path,
		     unsigned line, unsigned col, const char *fmt, va_list ap)
{
	const char *word = sev == K8S_DIAG_ERROR ? "error" : "note";
	size_t max = d->max_kept ? d->max_kept : K8S_DIAG_DEFAULT_MAX;
	char *body = NULL, *text = NULL;
	int rc;

	if (sev == K8S_DIAG_ERROR)
		d->n_errors++;
	else
		d->n_notes++;
	if (d->silent)
		return;
	if ((sev == K8S_DIAG_ERROR ? d->kept_errors : d->kept_notes) >= max) {
		d->n_dropped++;
		return;
	}
	if (d->n_msgs == d->cap_msgs) {
		size_t ncap = d->cap_msgs ? d->cap_msgs * 2 : 8;
		struct k8s_diag_msg *n = realloc(d->msgs, ncap * sizeof(*n));

		if (!n) {
			d->n_dropped++;
			return;
		}
		d->msgs = n;
		d->cap_msgs = ncap;
	}
	if (vasprintf(&body, fmt, ap) < 0) {
		d->n_dropped++;
		return;
	}
	if (!path)
		path = "<input>";
	if (line && col)
		rc = asprintf(&text, "%s:%u:%u: %s: %s", path, line, col, word, body);
	else if (line)
		rc = asprintf(&text, "%s:%u: %s: %s", path, line, word, body);
	else
		rc = asprintf(&text, "%s: %s: %s", path, word, body);
	free(body);
	if (rc < 0) {
		d->n_dropped++;
		return;
	}
	if (sev == K8S_DIAG_ERROR)
		d->kept_errors++;
	else
		d->kept_notes++;
	d->msgs[d->n_msgs].sev = sev;
	d->msgs[d->n_msgs].text = text;
	d->n_msgs++;
}

void k8s_diag_error(struct k8s_diag *d, const char *path, unsigned line,
		    unsigned col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(d, K8S_DIAG_ERROR, path, line, col, fmt, ap);
	va_end(ap);
}

void k8s_diag_note(struct k8s_diag *d, const char *path, unsigned line,
		   unsigned col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(d, K8S_DIAG_NOTE, path, line, col, fmt, ap);
	va_end(ap);
}

void k8s_diag_print(const struct k8s_diag *d, FILE *out)
{
	size_t i;

	for (i = 0; i < d->n_msgs; i++)
		fprintf(out, "%s\n", d->msgs[i].text);
	if (d->n_dropped)
		fprintf(out, "(%zu more messages not shown; %zu errors in all)\n",
			d->n_dropped, d->n_errors);
}

bool k8s_diag_contains(const struct k8s_diag *d, const char *needle)
{
	size_t i;

	for (i = 0; i < d->n_msgs; i++)
		if (strstr(d->msgs[i].text, needle))
			return true;
	return false;
}
