/* SPDX-License-Identifier: Apache-2.0 */
/* nfq/rules.h - the iptables/ip6tables rules that divert new flows to NFQUEUE.
 *
 * Everything lives in one chain of our own, NPSHIM, in the filter table,
 * jumped to from the first position of FORWARD (and INPUT/OUTPUT when asked).
 * Changes go through `iptables-restore --noflush` (and ip6tables-restore),
 * run with fork/exec and no shell, one transaction per family, so the chain
 * is either fully there or not at all. Installing twice gives the same rules
 * once; removing leaves no NPSHIM chain and no jump to it. The rule set and
 * why it is shaped that way is described at rules_render() in rules.c.
 *
 * Errors: functions return 0 or -errno and write a message naming the
 * command and its stderr into err (errlen bytes).
 */
#ifndef NPSHIM_NFQ_RULES_H
#define NPSHIM_NFQ_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RULES_CHAIN "NPSHIM"
#define RULES_DEFAULT_MARK 0x4000000u

enum rules_hook {
	RULES_HOOK_FORWARD = 1U << 0,
	RULES_HOOK_INPUT = 1U << 1,
	RULES_HOOK_OUTPUT = 1U << 2,
};

enum rules_family {
	RULES_V4 = 1U << 0,
	RULES_V6 = 1U << 1,
};

struct rules_config {
	uint32_t mark;       /* the bit(s) that say "this flow is decided" */
	uint16_t queue_first;
	uint16_t queue_last; /* == queue_first for a single queue */
	bool fail_open;      /* add --queue-bypass: no listener -> accept */
	unsigned hooks;      /* enum rules_hook; 0 means FORWARD */
};

/* Parse "forward,input,output" (any non-empty subset, any order) into enum
 * rules_hook bits. false on an unknown or empty element. */
bool rules_hooks_parse(const char *text, unsigned *out);

/* "N" or "FIRST:LAST" queue numbers (0..65535, FIRST <= LAST). */
bool rules_queues_parse(const char *text, uint16_t *first, uint16_t *last);
/* A mark: "0x4000000" or decimal, non-zero, 32 bits. */
bool rules_mark_parse(const char *text, uint32_t *out);

/* The iptables-restore input that installs cfg for one family, given the
 * current `iptables-save -t filter` output (existing, may be NULL): stale
 * jumps to our chain are deleted in the same transaction, so the result is
 * the same however often it runs. Pure; returns a malloc'd string (caller
 * frees) or NULL with errno set. */
char *rules_render(const struct rules_config *cfg, const char *existing);
/* The input that removes everything of ours from existing, or NULL with
 * errno = ENOENT when there is nothing to remove. Pure, caller frees. */
char *rules_render_remove(const char *existing);

/* RULES_V4, plus RULES_V6 unless IPv6 is disabled on this host
 * (ipv6.disable=1: no /proc/net/if_inet6, and ip6tables cannot work). */
unsigned rules_families_available(void);

int rules_install(const struct rules_config *cfg, unsigned families,
		  char *err, size_t errlen);
/* Succeeds (0) when nothing of ours is installed. */
int rules_remove(unsigned families, char *err, size_t errlen);

/* Check that what is installed still matches cfg: the chain with its four
 * rules, and a jump at position 1 of every hook asked for. 0 when it does,
 * 1 when not (why says what is off), -errno when iptables-save failed
 * (message in why). Used by the daemon to repair rules flushed behind its
 * back (a firewall reload, kube-proxy, an admin). */
int rules_verify(const struct rules_config *cfg, unsigned families, char *why, size_t len);

/* What is installed for one family right now. */
struct rules_state {
	bool chain;        /* the NPSHIM chain exists */
	char **jumps;      /* "-A FORWARD -j NPSHIM" lines ... */
	unsigned *jump_pos; /* ... and each one's 1-based position in its chain */
	size_t n_jumps;
	char **rules;      /* "-A NPSHIM ..." lines, in order */
	size_t n_rules;
};

/* Fill *out (owned by the caller, release with rules_state_clear). */
int rules_show(enum rules_family family, struct rules_state *out,
	       char *err, size_t errlen);
/* Pure: the same from a saved dump. 0 or -ENOMEM. */
int rules_state_parse(const char *saved, struct rules_state *out);
void rules_state_clear(struct rules_state *st);

#endif
