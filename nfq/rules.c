/* SPDX-License-Identifier: Apache-2.0 */
/* nfq/rules.c - install, remove and show the NPSHIM iptables chain. */
#include "nfq/rules.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/strbuf.h"

/* A command that has not finished after this long is stuck (a held xtables
 * lock, a wedged netlink socket); it is killed and the call fails. */
#define RULES_CMD_TIMEOUT_MS 30000
#define RULES_OUT_MAX (16u << 20)


bool rules_hooks_parse(const char *text, unsigned *out)
{
	unsigned hooks = 0;
	const char *p = text;

	if (!*text)
		return false;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == 7 && strncmp(p, "forward", 7) == 0)
			hooks |= RULES_HOOK_FORWARD;
		else if (n == 5 && strncmp(p, "input", 5) == 0)
			hooks |= RULES_HOOK_INPUT;
		else if (n == 6 && strncmp(p, "output", 6) == 0)
			hooks |= RULES_HOOK_OUTPUT;
		else
			return false;
		if (!comma)
			break;
		p = comma + 1;
		if (!*p)
			return false;
	}
	*out = hooks;
	return true;
}

static bool parse_u16(const char *s, size_t n, uint16_t *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

bool rules_queues_parse(const char *text, uint16_t *first, uint16_t *last)
{
	const char *colon = strchr(text, ':');
	uint16_t a, b;

	if (!colon) {
		if (!parse_u16(text, strlen(text), &a))
			return false;
		b = a;
	} else if (!parse_u16(text, (size_t)(colon - text), &a) ||
		   !parse_u16(colon + 1, strlen(colon + 1), &b) || b < a) {
		return false;
	}
	*first = a;
	*last = b;
	return true;
}

bool rules_mark_parse(const char *text, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!*text || *text == '-' || *text == '+' || *text == ' ')
		return false;
	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || *end || v == 0 || v > 0xffffffffull)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* ---- reading iptables-save output ---- */

void rules_state_clear(struct rules_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n_jumps; i++)
		free(st->jumps[i]);
	for (size_t i = 0; i < st->n_rules; i++)
		free(st->rules[i]);
	free(st->jumps);
	free(st->jump_pos);
	free(st->rules);
	memset(st, 0, sizeof(*st));
}

static int push_line(char ***arr, size_t *n, const char *line, size_t len)
{
	char **na = realloc(*arr, (*n + 1) * sizeof(**arr));

	if (!na)
		return -ENOMEM;
	*arr = na;
	na[*n] = strndup(line, len);
	if (!na[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* The chain named by "-A NAME ..." (returns its length) */
static size_t chain_name(const char *line, size_t len, const char **name)
{
	size_t i = 3;

	*name = line + 3;
	while (i < len && line[i] != ' ')
		i++;
	return i - 3;
}

/* True when the rule's target is our chain: "... -j NPSHIM" as the last
 * words, or followed by more options. */
static bool jumps_to_us(const char *line, size_t len)
{
	static const char pat[] = " -j " RULES_CHAIN;
	const char *p = line;

	while ((p = memmem(p, len - (size_t)(p - line), pat, sizeof(pat) - 1))) {
		const char *end = p + sizeof(pat) - 1;

		if (end == line + len || *end == ' ')
			return true;
		p = end;
	}
	return false;
}

int rules_state_parse(const char *saved, struct rules_state *out)
{
	/* Rule counts per chain, to give each jump its position. */
	struct {
		char name[64];
		unsigned n;
	} counts[64];
	size_t n_counts = 0;
	bool in_filter = false;
	const char *p = saved;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len && p[len - 1] == '\r')
			len--;
		if (len >= 1 && p[0] == '*')
			in_filter = len == 7 && strncmp(p, "*filter", 7) == 0;
		else if (in_filter && len > 1 && p[0] == ':') {
			if (len > sizeof(RULES_CHAIN) &&
			    strncmp(p + 1, RULES_CHAIN " ", sizeof(RULES_CHAIN)) == 0)
				out->chain = true;
		} else if (in_filter && len > 3 && strncmp(p, "-A ", 3) == 0) {
			const char *name;
			size_t nlen = chain_name(p, len, &name);
			unsigned pos = 0;
			size_t i;

			for (i = 0; i < n_counts; i++) {
				if (strlen(counts[i].name) == nlen &&
				    strncmp(counts[i].name, name, nlen) == 0)
					break;
			}
			if (i == n_counts && n_counts < 64 && nlen < sizeof(counts[0].name)) {
				memcpy(counts[i].name, name, nlen);
				counts[i].name[nlen] = 0;
				counts[i].n = 0;
				n_counts++;
			}
			if (i < n_counts)
				pos = ++counts[i].n;
			if (nlen == sizeof(RULES_CHAIN) - 1 &&
			    strncmp(name, RULES_CHAIN, nlen) == 0) {
				rc = push_line(&out->rules, &out->n_rules, p, len);
			} else if (jumps_to_us(p, len)) {
				unsigned *np = realloc(out->jump_pos,
						       (out->n_jumps + 1) * sizeof(*np));
				if (!np) {
					rc = -ENOMEM;
				} else {
					out->jump_pos = np;
					np[out->n_jumps] = pos;
					rc = push_line(&out->jumps, &out->n_jumps, p, len);
				}
			}
			if (rc)
				break;
		}
		p = nl ? nl + 1 : NULL;
	}
	if (rc)
		rules_state_clear(out);
	return rc;
}

/* ---- rendering ---- */

/*
 * The chain, for mark bit X and queues A..B:
 *
 *   -A NPSHIM -m conntrack ! --ctstate NEW -j RETURN
 *   -A NPSHIM -m mark --mark X/X -j CONNMARK --save-mark --nfmask X --ctmask X
 *   -A NPSHIM -m mark --mark X/X -j RETURN
 *   -A NPSHIM -m connmark ! --mark X/X -j NFQUEUE --queue-balance A:B
 *             --queue-cpu-fanout [--queue-bypass]
 *   -I FORWARD 1 -j NPSHIM          (and INPUT / OUTPUT with --hooks)
 *
 * Walk of one flow:
 * - Everything that is not conntrack NEW (ESTABLISHED, RELATED, INVALID,
 *   UNTRACKED) leaves at rule 1, after one match: the bulk of the traffic
 *   pays the least and never leaves the kernel.
 * - The first packet of a connection is NEW and has no mark bit on the
 *   packet or the connection: rule 4 queues it.
 * - Allowed: the daemon answers NF_REPEAT with the packet mark |= X. The
 *   kernel runs the hook again from its first rule; the packet is still
 *   NEW, rule 2 copies the bit into the connection mark (only our bit:
 *   --nfmask/--ctmask X leave other users' bits alone) and rule 3 returns
 *   to FORWARD, whose remaining rules then apply as if we were not there.
 *   Setting the conntrack mark from the verdict (NFQA_CT) is silently
 *   ignored by this kernel, hence the detour.
 * - Denied (enforce): NF_DROP. Nothing is marked, so a retransmitted SYN
 *   is decided again (a policy change in between counts).
 * - A one-way UDP flow stays NEW forever, but its connection carries X
 *   after the first verdict, so rule 4 does not match and the chain ends:
 *   one verdict per flow, not per packet. (Packets sent before the first
 *   verdict is in belong to a not yet confirmed connection and are queued
 *   too: that is conntrack, not a choice.)
 * The packet-mark test comes before any use of the connection mark on
 * purpose: a --restore-mark would overwrite the bit the verdict just set
 * before it could be saved. Packet marks are cleared when a packet crosses
 * network namespaces (veth), so a pod cannot forge X; a local process needs
 * CAP_NET_ADMIN (SO_MARK) to do it on INPUT/OUTPUT.
 * The jump sits at position 1 so that no earlier ACCEPT bypasses it.
 */
char *rules_render(const struct rules_config *cfg, const char *existing)
{
	static const struct {
		unsigned bit;
		const char *chain;
	} hooks[] = {
		{ RULES_HOOK_FORWARD, "FORWARD" },
		{ RULES_HOOK_INPUT, "INPUT" },
		{ RULES_HOOK_OUTPUT, "OUTPUT" },
	};
	struct rules_state st;
	struct strbuf b = { 0 };
	unsigned want = cfg->hooks ? cfg->hooks : RULES_HOOK_FORWARD;
	uint32_t x = cfg->mark;

	if (!x || cfg->queue_last < cfg->queue_first) {
		errno = EINVAL;
		return NULL;
	}
	if (rules_state_parse(existing ? existing : "", &st) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	strbuf_printf(&b, "*filter\n");
	/* With --noflush, declaring an existing user chain flushes it. */
	strbuf_printf(&b, ":%s - [0:0]\n", RULES_CHAIN);
	for (size_t i = 0; i < st.n_jumps; i++)
		strbuf_printf(&b, "-D%s\n", st.jumps[i] + 2);
	strbuf_printf(&b, "-A %s -m conntrack ! --ctstate NEW -j RETURN\n", RULES_CHAIN);
	strbuf_printf(&b, "-A %s -m mark --mark 0x%x/0x%x -j CONNMARK --save-mark --nfmask 0x%x --ctmask 0x%x\n",
		  RULES_CHAIN, x, x, x, x);
	strbuf_printf(&b, "-A %s -m mark --mark 0x%x/0x%x -j RETURN\n", RULES_CHAIN, x, x);
	strbuf_printf(&b, "-A %s -m connmark ! --mark 0x%x/0x%x -j NFQUEUE", RULES_CHAIN, x, x);
	if (cfg->queue_first == cfg->queue_last)
		strbuf_printf(&b, " --queue-num %u", cfg->queue_first);
	else
		strbuf_printf(&b, " --queue-balance %u:%u --queue-cpu-fanout",
			  cfg->queue_first, cfg->queue_last);
	if (cfg->fail_open)
		strbuf_printf(&b, " --queue-bypass");
	strbuf_printf(&b, "\n");
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		if (want & hooks[i].bit)
			strbuf_printf(&b, "-I %s 1 -j %s\n", hooks[i].chain, RULES_CHAIN);
	}
	strbuf_printf(&b, "COMMIT\n");
	rules_state_clear(&st);
	return strbuf_take(&b);
}

char *rules_render_remove(const char *existing)
{
	struct rules_state st;
	struct strbuf b = { 0 };

	if (rules_state_parse(existing ? existing : "", &st) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	if (!st.chain && !st.n_jumps) {
		rules_state_clear(&st);
		errno = ENOENT;
		return NULL;
	}
	strbuf_printf(&b, "*filter\n");
	for (size_t i = 0; i < st.n_jumps; i++)
		strbuf_printf(&b, "-D%s\n", st.jumps[i] + 2);
	if (st.chain)
		strbuf_printf(&b, "-F %s\n-X %s\n", RULES_CHAIN, RULES_CHAIN);
	strbuf_printf(&b, "COMMIT\n");
	rules_state_clear(&st);
	return strbuf_take(&b);
}

/* ---- running iptables-save / iptables-restore ---- */

static const char *find_prog(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin:/usr/local/sbin",
		 path && *path ? path : "/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		if ((size_t)snprintf(buf, len, "%s/%s", d, name) >= len)
			continue;
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drain fd into a growing buffer; 1 at EOF, 0 when more may come. */
static int drain(int fd, struct strbuf *b)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n == 0)
		return 1;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : 1;
	if (b->len + (size_t)n < RULES_OUT_MAX)
		strbuf_append(b, tmp, (size_t)n);
	return 0;
}

/* Start path with args, fds in/out/err as its stdin/stdout/stderr, every
 * signal unblocked and SIGPIPE at its default. 0 or an errno value. */
static int spawn(const char *path, const char *const *args, int in, int out, int err,
		 pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, pipe_set;
	int rc;

	sigemptyset(&none);
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		return rc;
	rc = posix_spawnattr_init(&at);
	if (rc) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	if (!(rc = posix_spawn_file_actions_adddup2(&fa, in, 0)) &&
	    !(rc = posix_spawn_file_actions_adddup2(&fa, out, 1)) &&
	    !(rc = posix_spawn_file_actions_adddup2(&fa, err, 2)) &&
	    !(rc = posix_spawnattr_setsigmask(&at, &none)) &&
	    !(rc = posix_spawnattr_setsigdefault(&at, &pipe_set)) &&
	    !(rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)))
		rc = posix_spawn(pid, path, &fa, &at, (char *const *)args, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* Run prog with args (argv[0] is prog), feeding input (may be NULL) on its
 * stdin; its stdout is returned in *out (when out is not NULL; caller
 * frees). Non-zero exit -> -EIO with the stderr text in err. */
static int run_prog(const char *prog, const char *const *args, const char *input,
		    char **out, char *err, size_t errlen)
{
	char path[512];
	int in_sv[2] = { -1, -1 }, out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 };
	struct strbuf ob = { 0 }, eb = { 0 };
	size_t in_off = 0, in_len = input ? strlen(input) : 0;
	int64_t deadline;
	int status = 0, rc = 0;
	bool out_done = false, err_done = false;
	pid_t pid;

	if (out)
		*out = NULL;
	if (!find_prog(prog, path, sizeof(path))) {
		snprintf(err, errlen, "%s: not found in PATH or /usr/sbin, /sbin", prog);
		return -ENOENT;
	}
	/* A socket for stdin so that a child exiting early gives EPIPE
	 * (MSG_NOSIGNAL) instead of killing us with SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_sv) < 0 ||
	    pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot create pipes: %s", prog, strerror(errno));
		goto out;
	}
	/* posix_spawn, not fork: glibc starts the child with CLONE_VM |
	 * CLONE_VFORK, so the page tables of a daemon holding a large model
	 * are not copied every rules check, and the packet threads take no
	 * copy-on-write faults while the child runs. The daemon blocks its
	 * signals and ignores SIGPIPE; both would be inherited across exec. */
	rc = spawn(path, args, in_sv[1], out_p[1], err_p[1], &pid);
	if (rc) {
		snprintf(err, errlen, "%s: cannot execute %s: %s", prog, path, strerror(rc));
		rc = -rc;
		goto out;
	}
	close(in_sv[1]);
	close(out_p[1]);
	close(err_p[1]);
	in_sv[1] = out_p[1] = err_p[1] = -1;
	if (!in_len) {
		close(in_sv[0]);
		in_sv[0] = -1;
	}
	deadline = now_ms() + RULES_CMD_TIMEOUT_MS;
	while (!out_done || !err_done) {
		struct pollfd pfd[3] = {
			{ .fd = out_done ? -1 : out_p[0], .events = POLLIN },
			{ .fd = err_done ? -1 : err_p[0], .events = POLLIN },
			{ .fd = in_sv[0], .events = POLLOUT },
		};
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			kill(pid, SIGKILL);
			snprintf(err, errlen, "%s: no answer after %d s; killed", prog,
				 RULES_CMD_TIMEOUT_MS / 1000);
			rc = -ETIMEDOUT;
			break;
		}
		if (poll(pfd, 3, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			kill(pid, SIGKILL);
			break;
		}
		if (pfd[0].revents)
			out_done = drain(out_p[0], &ob);
		if (pfd[1].revents)
			err_done = drain(err_p[0], &eb);
		if (pfd[2].revents) {
			ssize_t n = send(in_sv[0], input + in_off, in_len - in_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0)
				in_off += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || in_off == in_len) {
				close(in_sv[0]);
				in_sv[0] = -1;
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *msg = eb.s && !eb.oom ? eb.s : "";
		size_t mlen = strlen(msg);

		while (mlen && (msg[mlen - 1] == '\n' || msg[mlen - 1] == ' '))
			mlen--;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			snprintf(err, errlen, "%s: cannot execute %s", prog, path);
		else
			snprintf(err, errlen, "%s failed (%s %d)%s%.*s", prog,
				 WIFEXITED(status) ? "exit" : "signal",
				 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
				 mlen ? ": " : "", (int)mlen, msg);
		rc = -EIO;
		goto out;
	}
	if (out) {
		if (ob.oom) {
			rc = -ENOMEM;
			snprintf(err, errlen, "%s: out of memory reading its output", prog);
			goto out;
		}
		*out = strbuf_take(&ob);
		if (!*out)
			rc = -ENOMEM;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in_sv[i] >= 0)
			close(in_sv[i]);
		if (out_p[i] >= 0)
			close(out_p[i]);
		if (err_p[i] >= 0)
			close(err_p[i]);
	}
	strbuf_free(&ob);
	strbuf_free(&eb);
	return rc;
}

static const char *save_prog(enum rules_family f)
{
	return f == RULES_V6 ? "ip6tables-save" : "iptables-save";
}

static const char *restore_prog(enum rules_family f)
{
	return f == RULES_V6 ? "ip6tables-restore" : "iptables-restore";
}

static int dump(enum rules_family f, char **out, char *err, size_t errlen)
{
	const char *args[] = { save_prog(f), "-t", "filter", NULL };

	return run_prog(save_prog(f), args, NULL, out, err, errlen);
}

static int restore(enum rules_family f, const char *script, char *err, size_t errlen)
{
	/* -w: wait for the legacy xtables lock instead of failing at once. */
	const char *args[] = { restore_prog(f), "-w", "--noflush", NULL };

	return run_prog(restore_prog(f), args, script, NULL, err, errlen);
}

unsigned rules_families_available(void)
{
	return RULES_V4 | (access("/proc/net/if_inet6", F_OK) == 0 ? RULES_V6 : 0);
}

int rules_install(const struct rules_config *cfg, unsigned families,
		  char *err, size_t errlen)
{
	static const enum rules_family fams[] = { RULES_V4, RULES_V6 };
	int rc = 0;

	for (size_t i = 0; i < 2 && !rc; i++) {
		char *saved = NULL, *script;

		if (!(families & fams[i]))
			continue;
		rc = dump(fams[i], &saved, err, errlen);
		if (rc)
			break;
		script = rules_render(cfg, saved);
		free(saved);
		if (!script) {
			rc = -errno;
			snprintf(err, errlen, "cannot render rules: %s", strerror(errno));
			break;
		}
		rc = restore(fams[i], script, err, errlen);
		free(script);
	}
	return rc;
}

int rules_remove(unsigned families, char *err, size_t errlen)
{
	static const enum rules_family fams[] = { RULES_V4, RULES_V6 };
	int rc = 0, first = 0;

	/* Both families are attempted even when one fails, so a partial
	 * install is cleaned as far as possible; the first error is kept. */
	for (size_t i = 0; i < 2; i++) {
		char *saved = NULL, *script;
		char e[512];

		if (!(families & fams[i]))
			continue;
		rc = dump(fams[i], &saved, e, sizeof(e));
		if (!rc) {
			script = rules_render_remove(saved);
			free(saved);
			if (!script) {
				rc = errno == ENOENT ? 0 : -errno;
				if (rc)
					snprintf(e, sizeof(e), "cannot render rules: %s", strerror(-rc));
			} else {
				rc = restore(fams[i], script, e, sizeof(e));
				free(script);
			}
		}
		if (rc && !first) {
			first = rc;
			snprintf(err, errlen, "%s", e);
		}
	}
	return first;
}

int rules_show(enum rules_family family, struct rules_state *out,
	       char *err, size_t errlen)
{
	char *saved = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = dump(family, &saved, err, errlen);
	if (rc)
		return rc;
	rc = rules_state_parse(saved, out);
	free(saved);
	if (rc)
		snprintf(err, errlen, "out of memory parsing %s output", save_prog(family));
	return rc;
}

int rules_verify(const struct rules_config *cfg, unsigned families, char *why, size_t len)
{
	static const struct {
		unsigned bit;
		const char *chain;
	} hooks[] = {
		{ RULES_HOOK_FORWARD, "FORWARD" },
		{ RULES_HOOK_INPUT, "INPUT" },
		{ RULES_HOOK_OUTPUT, "OUTPUT" },
	};
	static const enum rules_family fams[] = { RULES_V4, RULES_V6 };
	unsigned want = cfg->hooks ? cfg->hooks : RULES_HOOK_FORWARD;

	for (size_t f = 0; f < 2; f++) {
		const char *name = fams[f] == RULES_V6 ? "IPv6" : "IPv4";
		struct rules_state st;
		int rc;

		if (!(families & fams[f]))
			continue;
		rc = rules_show(fams[f], &st, why, len);
		if (rc < 0)
			return rc;
		if (!st.chain || st.n_rules != 4) {
			snprintf(why, len, "%s: chain %s %s", name, RULES_CHAIN,
				 st.chain ? "does not hold its 4 rules" : "is missing");
			rules_state_clear(&st);
			return 1;
		}
		for (size_t h = 0; h < sizeof(hooks) / sizeof(hooks[0]); h++) {
			bool found = false;
			size_t n = strlen(hooks[h].chain);

			if (!(want & hooks[h].bit))
				continue;
			for (size_t j = 0; j < st.n_jumps; j++) {
				if (strncmp(st.jumps[j] + 3, hooks[h].chain, n) == 0 &&
				    st.jumps[j][3 + n] == ' ' && st.jump_pos[j] == 1)
					found = true;
			}
			if (!found) {
				snprintf(why, len, "%s: no jump to %s at position 1 of %s", name,
					 RULES_CHAIN, hooks[h].chain);
				rules_state_clear(&st);
				return 1;
			}
		}
		rules_state_clear(&st);
	}
	return 0;
}
