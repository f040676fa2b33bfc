/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_simulate.c - `npshim simulate`: verdicts for flow lines, offline. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/flowline.h"
#include "cli/offline.h"
#include "k8s/kubeconfig.h"
#include "core/log.h"
#include "policy/model.h"

/* Errors reported before simulate stops reading the flows. */
#define SIMULATE_MAX_ERRORS 10

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: npshim simulate --cluster PATH [--cluster PATH ...] [--flows FILE] [--node NAME]\n                       [--enforced-only]\n"
		"\n"
		"Decide flows against a cluster's NetworkPolicies without touching a node.\n"
		"\n"
		"  --cluster PATH  manifest file (YAML, multi-document YAML, JSON, kubectl\n"
		"                  List output) or a directory of them; repeatable\n"
		"Or read the live cluster once from the API server instead of --cluster:\n"
		K8S_CONN_USAGE
		"  --flows FILE    flow lines to decide (default: standard input, also '-')\n"
		"  --node NAME     decide as the instance on node NAME: only its pods are\n"
		"                  enforced (default: every pod counts as local)\n"
		"  --enforced-only leave out staged policies (annotation npshim.io/mode:\n"
		"                  audit): what is enforced today. By default they count,\n"
		"                  as they will once enforced.\n"
		"\n"
		"Input, one JSON object per line:\n"
		"  {\"src\": \"10.42.1.1\", \"dst\": \"10.42.2.2\", \"protocol\": \"TCP\", \"port\": 80}\n"
		"protocol: TCP (default), UDP, SCTP, ICMP or ICMPv6; port: 1-65535, required\n"
		"for TCP/UDP/SCTP, absent for ICMP. Other members are echoed; blank lines are\n"
		"skipped (line numbers still count them).\n"
		"\n"
		"Output, one JSON object per flow line, in input order: the input members,\n"
		"\"verdict\" (\"allow\"|\"deny\"), \"src_pod\"/\"dst_pod\" (\"ns/name\" or null) and\n"
		"\"reason\" {\"by\": \"policy\"|\"self\"|\"node\", \"text\", \"egress\", \"ingress\"}.\n"
		"\n"
		"Exit status: 0 every line decided; 2 bad flags, invalid cluster (every\n"
		"problem is printed, nothing is evaluated) or a malformed flow line (output\n"
		"stops before it; up to %d bad lines are reported); 3 I/O failure.\n",
		SIMULATE_MAX_ERRORS);
}

struct simulate_opts {
	struct offline_paths clusters;
	struct k8s_conn_opts live;
	const char *flows;
	const char *node;
	unsigned eval_flags;
};

static int parse_args(int argc, char **argv, struct simulate_opts *o)
{
	static const struct option longopts[] = {
		{ "cluster", required_argument, NULL, 'c' },
		K8S_CONN_LONGOPTS,
		{ "flows", required_argument, NULL, 'f' },
		{ "node", required_argument, NULL, 'n' },
		{ "enforced-only", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (k8s_conn_opts_getopt(&o->live, c, optarg))
			continue;
		switch (c) {
		case 'c': {
			int rc = offline_paths_take(&o->clusters, "simulate", "--cluster", optarg);

			if (rc != CMD_OK)
				return rc;
			break;
		}
		case 'f':
			if (o->flows) {
				log_errx("simulate: --flows given twice");
				return CMD_USAGE;
			}
			o->flows = optarg;
			break;
		case 'n':
			if (!optarg[0]) {
				log_errx("simulate: --node needs a node name");
				return CMD_USAGE;
			}
			o->node = optarg;
			break;
		case 'e':
			o->eval_flags |= POL_EVAL_ENFORCED_ONLY;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return cli_option_error("simulate", c, argv);
		}
	}
	if (optind < argc) {
		log_errx("simulate: unexpected argument '%s' (flows come from --flows or standard input)",
			 argv[optind]);
		return CMD_USAGE;
	}
	if (o->clusters.n == 0 && !o->live.given) {
		log_errx("simulate: --cluster PATH or --kubeconfig/--in-cluster is required; see 'npshim simulate --help'");
		return CMD_USAGE;
	}
	if (o->clusters.n && o->live.given) {
		log_errx("simulate: --cluster and --kubeconfig/--context/--in-cluster/--sa-dir exclude each other");
		return CMD_USAGE;
	}
	return CMD_OK;
}

static int run_flows(const struct pol_model *model, unsigned eval_flags, FILE *in, const char *name)
{
	struct flowline_buf out = { 0 };
	struct flowline fl;
	char *line = NULL;
	size_t cap = 0, lineno = 0, n_errors = 0;
	ssize_t n;
	struct stat st;
	bool flush_each, write_failed = false;
	int ret = CMD_OK;
	char err[512];

	/* A pipe or terminal may be a conversation (a coprocess waits for each
	 * answer); a regular file is a batch. */
	flush_each = fstat(fileno(in), &st) < 0 || !S_ISREG(st.st_mode);
	while ((n = getline(&line, &cap, in)) != -1) {
		size_t len = (size_t)n;

		lineno++;
		if (len && line[len - 1] == '\n')
			len--;
		if (len && line[len - 1] == '\r')
			len--;
		if (memchr(line, '\0', len)) {
			log_errx("simulate: %s: line %zu: contains a NUL byte", name, lineno);
			goto bad_line;
		}
		if (flowline_is_blank(line, len))
			continue;
		if (!flowline_parse(line, len, &fl, err, sizeof(err))) {
			if (errno == ENOMEM) {
				log_errx("simulate: %s: line %zu: out of memory", name, lineno);
				ret = CMD_FAILURE;
				break;
			}
			log_errx("simulate: %s: line %zu: %s", name, lineno, err);
			goto bad_line;
		}
		if (n_errors == 0) {
			struct pol_verdict v;

			pol_eval(model, &fl.flow, eval_flags, &v);
			flowline_buf_reset(&out);
			flowline_format_result(&out, &fl, &v);
			if (out.oom) {
				flowline_clear(&fl);
				log_errx("simulate: %s: line %zu: out of memory", name, lineno);
				ret = CMD_FAILURE;
				break;
			}
			if (fwrite(out.s, 1, out.len, stdout) != out.len ||
			    (flush_each && fflush(stdout) != 0)) {
				flowline_clear(&fl);
				write_failed = true;
				break;
			}
		}
		flowline_clear(&fl);
		continue;
bad_line:
		/* Output stops at the first bad line so it stays aligned with
		 * the input; later lines are still checked, to report them all. */
		if (++n_errors == SIMULATE_MAX_ERRORS) {
			log_errx("simulate: %s: too many bad lines, stopping at line %zu", name, lineno);
			break;
		}
	}
	if (ret == CMD_OK && !write_failed && ferror(in)) {
		log_err("simulate: reading %s", name);
		ret = CMD_FAILURE;
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		write_failed = true;
	if (write_failed) {
		log_err("simulate: writing the output");
		ret = CMD_FAILURE;
	}
	if (ret == CMD_OK && n_errors) {
		log_errx("simulate: %s: %zu malformed flow line%s; output stops before the first",
			 name, n_errors, n_errors == 1 ? "" : "s");
		ret = CMD_USAGE;
	}
	free(line);
	flowline_buf_free(&out);
	return ret;
}

int cmd_simulate(int argc, char **argv)
{
	struct simulate_opts o = { 0 };
	struct pol_model *model = NULL;
	FILE *in = stdin;
	const char *name = "<stdin>";
	int ret;

	ret = parse_args(argc, argv, &o);
	if (ret != CMD_OK) {
		offline_paths_free(&o.clusters);
		return ret < 0 ? CMD_OK : ret;
	}
	if (o.flows && strcmp(o.flows, "-") != 0) {
		struct stat st;

		in = fopen(o.flows, "r");
		if (!in) {
			log_err("simulate: --flows %s", o.flows);
			offline_paths_free(&o.clusters);
			return CMD_USAGE;
		}
		if (fstat(fileno(in), &st) == 0 && S_ISDIR(st.st_mode)) {
			log_errx("simulate: --flows %s is a directory; give a file of flow lines", o.flows);
			fclose(in);
			offline_paths_free(&o.clusters);
			return CMD_USAGE;
		}
		name = o.flows;
	}
	ret = offline_load_model_from("simulate", o.clusters.v, o.clusters.n, &o.live, o.node, &model);
	if (ret == CMD_OK)
		ret = run_flows(model, o.eval_flags, in, name);
	pol_model_free(model);
	if (in != stdin)
		fclose(in);
	offline_paths_free(&o.clusters);
	return ret;
}
